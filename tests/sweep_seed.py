"""Sweeps with runs written straight into a store through its own calls (add, claim, report,
finish), as agents would write them, but fast: for the dashboard's tests and its benchmark
(``benchmarks/dashboard.py`` puts this folder on its path)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store
from redsweep.shared.store.calls import Finish, ReportRows
from redsweep.shared.store.scripts.holder import Claim

CONFIG: dict[str, Any] = {
    "method": "random",
    "name": "seeded",
    "project": "dash",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "layers": {"values": [1, 2, 3, 4]},
        "dropout": {"min": 0.0, "max": 0.5},
        "optimizer": {"values": ["adam", "sgd"]},
    },
}
LEASE_MS = 600_000
CHUNK = 500


def params_of(i: int, rng: random.Random) -> dict[str, Any]:
    """The parameters of run ``i`` (random, drawn from ``rng``)."""
    return {
        "lr": 10 ** rng.uniform(-4, -1),
        "layers": rng.choice([1, 2, 3, 4]),
        "dropout": rng.uniform(0, 0.5),
        "optimizer": rng.choice(["adam", "sgd"]),
    }


def loss_of(params: Mapping[str, Any], step: int, steps: int) -> float:
    """The loss a run logs at ``step``: set by ``lr`` mostly, a little by ``layers``, falling
    over the steps; ``dropout`` and ``optimizer`` change nothing."""
    final = (math.log10(params["lr"]) + 2.5) ** 2 + 0.05 * params["layers"]
    return final + 2.0 / (1 + step) * (1 - step / steps)


@dataclass(frozen=True)
class Seeded:
    sweep_id: str
    run_ids: list[str]


def seed_sweep(
    store: Store,
    runs: int,
    *,
    steps: int = 10,
    config: Mapping[str, Any] = CONFIG,
    seed: int = 0,
    states: Callable[[int], RunState] = lambda i: RunState.FINISHED,
    params: Callable[[int, random.Random], dict[str, Any]] = params_of,
    loss: Callable[[Mapping[str, Any], int, int], float] = loss_of,
) -> Seeded:
    """A running sweep of ``config`` with ``runs`` runs, each logging ``steps`` rows of
    ``loss`` (and ``acc``); run ``i`` ends in ``states(i)`` (RUNNING: left running,
    PENDING: never started)."""
    sweep_id = store.sweeps.create(
        dict(config), project=config.get("project"), name=config.get("name")
    )
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=(SweepState.PENDING,))
    epoch = store.controllers.acquire(sweep_id, "seeder", LEASE_MS)
    assert epoch is not None
    rng = random.Random(seed)
    all_params = [params(i, rng) for i in range(runs)]
    ids: list[str] = []
    for start in range(0, runs, CHUNK):
        ids += store.trials.add(sweep_id, all_params[start : start + CHUNK], epoch=epoch)
    for start in range(0, runs, CHUNK):
        chunk = [
            i for i in range(start, min(runs, start + CHUNK)) if states(i) is not RunState.PENDING
        ]
        claims = [Claim(sweep_id, ids[i], 1, f"agent-{i % 4}", LEASE_MS) for i in chunk]
        store.batch(*claims)
        calls: list[Any] = []
        for i, claim in zip(chunk, claims, strict=True):
            rows: Sequence[tuple[int, dict[str, Any]]] = [
                (s, {"loss": loss(all_params[i], s, steps), "acc": s / steps}) for s in range(steps)
            ]
            calls.append(
                ReportRows(
                    sweep_id,
                    ids[i],
                    claim.token,
                    rows,
                    metric_name="loss",
                    goal="minimize",
                    lease_ms=LEASE_MS,
                )
            )
            state = states(i)
            if state is not RunState.RUNNING:
                calls.append(
                    Finish(
                        sweep_id,
                        ids[i],
                        claim.token,
                        state,
                        error="ValueError: bad batch" if state is RunState.FAILED else None,
                        log_tail=f"epoch {steps - 1}: loss {rows[-1][1]['loss']:.4f}\n",
                        metric_name="loss",
                        goal="minimize",
                    )
                )
        if calls:
            store.batch(*calls)
    return Seeded(sweep_id, ids)


def start_run(store: Store, sweep_id: str, run_id: str) -> str:
    """Claim the pending run ``run_id`` as an agent would; its token."""
    claimed = store.trials.claim(sweep_id, run_id, 1, "agent-live", LEASE_MS)
    assert claimed is not None, f"run {run_id} was not pending"
    return claimed[0]


def finish_run(
    store: Store,
    sweep_id: str,
    run_id: str,
    token: str,
    loss: float,
    summary: Mapping[str, Any] | None = None,
) -> None:
    """Log one row for a running run and finish it (``summary`` merged into its summary)."""
    store.batch(
        ReportRows(
            sweep_id,
            run_id,
            token,
            [(0, {"loss": loss})],
            metric_name="loss",
            goal="minimize",
            lease_ms=LEASE_MS,
        ),
        Finish(
            sweep_id,
            run_id,
            token,
            RunState.FINISHED,
            summary=summary,
            metric_name="loss",
            goal="minimize",
        ),
    )
