"""The W&B-shaped Python API for whole sweeps: ``sweep()`` creates one, ``controller()`` runs
its controller in the foreground. (``agent()`` lives in :mod:`redsweep.worker.agent.session`, the
in-trial calls in :mod:`redsweep.worker.api.functions`.)"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from redsweep.connect import connect, resolve_url
from redsweep.errors import NotFoundError
from redsweep.shared.engine import search
from redsweep.shared.engine.config import load_config
from redsweep.shared.records import Method, SweepConfig
from redsweep.shared.store import Store
from redsweep.shared.store.connection import mask_url
from redsweep.shared.store.outage import Outage
from redsweep.shared.store.replies import SweepInfo

ConfigSource = Mapping[str, Any] | str | os.PathLike


def total_trials(config: SweepConfig) -> int | None:
    """How many trials the sweep will run at most: the grid size and/or the run cap."""
    sizes = []
    if config.method is Method.GRID:
        sizes.append(search.grid_size(config))
    if config.run_cap is not None:
        sizes.append(config.run_cap)
    return min(sizes) if sizes else None


def create_sweep(
    sweep: ConfigSource | SweepConfig,
    *,
    project: str | None = None,
    name: str | None = None,
    redis: str | None = None,
    program: str | None = None,
    prior_runs: Sequence[str] = (),
) -> tuple[str, SweepConfig, str]:
    """Validate and store a sweep; return (sweep id, config, the Redis URL used).

    ``program`` replaces the config's; ``prior_runs`` (``RUN_ID`` or ``SWEEP_ID/RUN_ID``) are
    W&B's prior runs: runs of earlier sweeps the new sweep's engine counts as its own."""
    config = sweep if isinstance(sweep, SweepConfig) else load_config(sweep)
    if program is not None:
        config = load_config({**config.raw, "program": program})
    url = resolve_url(redis)
    store = connect(url)
    try:
        refs = [_prior_run(store, ref) for ref in prior_runs]
        grid = search.grid_size(config) if config.method is Method.GRID else None
        sweep_id = store.sweeps.create(
            config.raw,
            project=project or config.project,
            name=name or config.name,
            grid_size=grid,
            run_cap=config.run_cap,
        )
        if refs:
            store.sweeps.set_prior_runs(sweep_id, refs)
    finally:
        store.close()
    return sweep_id, config, url


def _prior_run(store: Store, ref: str) -> tuple[str, str]:
    """``RUN_ID`` or ``[entity/project/]SWEEP_ID/RUN_ID`` -> (sweep id, run id) of a run that
    exists; NotFoundError naming it otherwise."""
    from redsweep.results import sweep_of

    parts = [p for p in str(ref).strip().split("/") if p]
    if not parts:
        raise NotFoundError(f"--prior_run {ref!r}: give a RUN_ID or SWEEP_ID/RUN_ID")
    run_id = parts[-1]
    try:
        sweep_id = parts[-2] if len(parts) > 1 else sweep_of(store, run_id)
    except NotFoundError as exc:
        raise NotFoundError(f"--prior_run {ref!r}: {exc}") from None
    try:
        store.reads.trial(sweep_id, run_id)
    except NotFoundError:
        raise NotFoundError(
            f"--prior_run {ref!r}: no run {run_id!r} in sweep {sweep_id!r}"
        ) from None
    return sweep_id, run_id


def agent_command(sweep_id: str, url: str) -> str:
    """The command to run an agent for this sweep on another machine (password masked)."""
    if url.startswith("unix://"):
        return f"redsweep agent {sweep_id}"
    return f"REDSWEEP_REDIS_URL={mask_url(url)} redsweep agent {sweep_id}"


def sweep(
    sweep: ConfigSource,
    entity: str | None = None,
    project: str | None = None,
    *,
    name: str | None = None,
    redis: str | None = None,
    prior_runs: Any = None,
) -> str:
    """W&B's ``wandb.sweep(sweep, entity=None, project=None)``: store the sweep, return its id.

    ``sweep`` is a config dict or a path to a YAML/JSON file; raises ConfigError when invalid.
    ``prior_runs``: run ids (or ``SWEEP_ID/RUN_ID``) of earlier sweeps, counted as its runs.
    """
    sweep_id, config, url = create_sweep(
        sweep, project=project, name=name, redis=redis, prior_runs=list(prior_runs or ())
    )
    for warning in config.warnings:
        print(f"redsweep: warning: {warning}", file=sys.stderr)
    print(f"redsweep: Created sweep with ID: {sweep_id}", file=sys.stderr)
    print(f"redsweep: Run sweep agent with: {agent_command(sweep_id, url)}", file=sys.stderr)
    return sweep_id


def controller(
    sweep_id: str,
    *,
    redis: str | None = None,
    out: TextIO | None = None,
    stop: threading.Event | None = None,
    lease_ms: int | None = None,
    retries: int | None = None,
) -> SweepInfo:
    """Run the sweep's controller in the foreground until the sweep is over, riding out Redis
    outages, from its first read on (a URL that is no Redis URL, or credentials Redis
    refuses, fail at once). ``retries``: how often a crashed trial runs again, overriding
    the sweep's ``redsweep: {retries: N}`` (default 2).

    Raises ControllerBusy (naming the holder) when another controller runs it.
    """
    from redsweep.controller.controller import Controller
    from redsweep.progress import Progress

    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]
    store = connect(redis)
    try:
        said = out if out is not None else sys.stderr
        outage = Outage(
            store.url, lambda line: print(line, file=said, flush=True), notice_after=0, back=True
        )
        info = outage.wait_out(lambda: store.sweeps.get(sweep_id), stop)
        config = load_config(info.config)
        progress = Progress(sweep_id, total=total_trials(config), metric=config.metric, out=out)
        options = {} if lease_ms is None else {"lease_ms": lease_ms}
        ctl = Controller(store, sweep_id, progress=progress, retries=retries, **options)
        return ctl.run(stop)
    finally:
        store.close()
