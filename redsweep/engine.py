"""The sweep engine's public face: pure functions from a config and the runs so far.

Usable on its own, like W&B's ``sweeps`` package or Optuna's ask/tell::

    from redsweep import engine
    config = engine.load_config("sweep.yaml")
    runs = [engine.RunRecord("r1", "finished", {"lr": 0.1}, summary={"loss": 0.3})]
    engine.suggest(config, runs, n=2, seed=0)     # -> [{"lr": ...}, {"lr": ...}]
    engine.stop_runs(config, runs)                # -> ids of runs hyperband would stop

Nothing here touches Redis, the clock or global randomness.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from redsweep.shared.engine import command as _command
from redsweep.shared.engine import search as _search
from redsweep.shared.engine import stopping as _stopping
from redsweep.shared.engine.config import load_config
from redsweep.shared.engine.rng import new_rng
from redsweep.shared.records import RunRecord, RunState, SweepConfig

__all__ = [
    "RunRecord",
    "RunState",
    "SweepConfig",
    "command_argv",
    "fit_memo",
    "grid_size",
    "load_config",
    "stop_runs",
    "suggest",
]

ConfigSource = SweepConfig | Mapping[str, Any] | str | os.PathLike


def _config(config: ConfigSource) -> SweepConfig:
    return config if isinstance(config, SweepConfig) else load_config(config)


def suggest(
    config: ConfigSource,
    runs: Sequence[RunRecord] = (),
    n: int = 1,
    seed: int | None = None,
    memo: Any = None,
) -> list[dict[str, Any]]:
    """Up to ``n`` parameter dicts to try next (nested parameters as nested dicts).

    Fewer, or none, when a grid is exhausted. ``seed`` makes random and bayes reproducible.
    ``memo``: for a bayes sweep you ask again and again, one :func:`fit_memo` kept across the
    calls lets each fit start from the last one's kernel hyperparameters (faster, as the
    controller does); without it every call fits from scratch.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    sweep = _config(config)
    return _search.suggest(sweep, list(runs), n, new_rng(sweep, seed), memo)


def fit_memo() -> Any:
    """A fresh memo for :func:`suggest` on one bayes sweep (loads scipy)."""
    from redsweep.shared.engine.bayes import FitMemo

    return FitMemo()


def grid_size(config: ConfigSource) -> int:
    """How many points the grid has (computed, never materialised)."""
    return _search.grid_size(_config(config))


def stop_runs(config: ConfigSource, runs: Sequence[RunRecord]) -> list[str]:
    """Ids of the running runs that hyperband early termination would stop now."""
    return _stopping.stop_runs(_config(config), list(runs))


def command_argv(
    config: ConfigSource,
    params: Mapping[str, Any],
    *,
    sweep_id: str,
    run_id: str,
    agent_dir: str | os.PathLike,
    env: Mapping[str, str] | None = None,
) -> list[str]:
    """The argv to run a command-mode trial with ``params`` (writes ``${args_json_file}``)."""
    return _command.command_argv(
        _config(config), params, sweep_id=sweep_id, run_id=run_id, agent_dir=agent_dir, env=env
    )
