"""The ways a run starts outside an agent's own process: a command trial's subprocess (found
from the environment the agent set) and a local run outside any sweep; and how a local run
ends."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from redsweep.errors import RedsweepError, StoreError
from redsweep.worker.api import notices
from redsweep.worker.api.away import outage_of, waited
from redsweep.worker.api.channel import agent_channel, channel_link
from redsweep.worker.api.config import Config, merge
from redsweep.worker.api.files import ENV_RUNS_DIR, run_folder, runs_root, write_config_yaml
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.reporter import Reporter
from redsweep.worker.api.run import (
    ENV_HISTORY_CAP,
    ENV_LEASE_MS,
    ENV_RUN_ID,
    ENV_SWEEP_ID,
    ENV_TOKEN,
    LOCAL_LEASE_MS,
    Run,
    host,
)
from redsweep.worker.api.values import storable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# ---- a command trial's subprocess ----------------------------------------------------------------


#: W&B's variable naming the run; the agent sets it to the trial's id beside its own.
ENV_WANDB_RUN_ID = "WANDB_RUN_ID"


def wandb_env(sweep_id: str, run_id: str, params: Mapping[str, Any]) -> dict[str, str]:
    """W&B's variables for a command trial, set by the agent beside its own: ``WANDB_RUN_ID``
    (the trial's id; the in-trial API joins the trial only when it is there, see
    :func:`in_command_trial`), ``WANDB_SWEEP_PARAM_PATH`` (the run's config file, W&B's
    format, which the real ``wandb`` package loads as its config too) and
    ``REDSWEEP_RUNS_DIR`` (where run folders go, absolute). ``WANDB_SWEEP_ID`` is left out on
    purpose: with it the real ``wandb`` would look for the sweep on a W&B server."""
    root = runs_root()
    env = {ENV_WANDB_RUN_ID: run_id, ENV_RUNS_DIR: root}
    folder = run_folder(root, sweep_id, run_id)
    try:
        path = write_config_yaml(os.path.join(folder, "config.yaml"), params)
    except OSError as exc:  # the trial still runs; only W&B's config file is missing
        notices.once("param-path", f"cannot write the run's config.yaml under {root}: {exc}")
    else:
        env["WANDB_SWEEP_PARAM_PATH"] = path
    return env


def in_command_trial() -> bool:
    """Whether this process is a command trial's: the agent's variables are set and W&B's
    ``WANDB_RUN_ID`` names the same run. A script that clears ``WANDB_*`` before starting
    child processes (W&B's cross-validation example) gives them runs of their own."""
    run_id = os.environ.get(ENV_RUN_ID)
    return bool(run_id) and os.environ.get(ENV_WANDB_RUN_ID) == run_id


def command_run(
    defaults: Mapping[str, Any],
    name: str | None,
    on_end: Callable[[Run], None] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Run:
    """The run of the command trial this process was started for: from its agent, over the
    channel the agent passed; else (a script given the variables by hand) from Redis."""
    channel = agent_channel()
    if channel is not None:
        link = channel_link(channel)
        cfg = Config(merge(defaults, link.params), locked=link.params)
        reporter = Reporter(link)  # no outage of its own: the agent says it
        return Run(
            link, mode="command", config=cfg, name=name, reporter=reporter, on_end=on_end, root=root
        )
    from redsweep.connect import ENV_URL
    from redsweep.shared.store import Store
    from redsweep.shared.store.connection import lease_options

    env = os.environ
    missing = [k for k in (ENV_SWEEP_ID, ENV_TOKEN, ENV_URL) if not env.get(k)]
    if missing:
        raise RedsweepError(
            f"{ENV_RUN_ID} is set but {', '.join(missing)} is not: not started by an agent?"
        )
    lease_ms = int(env.get(ENV_LEASE_MS) or 10_000)
    store = Store.from_url(env[ENV_URL], **lease_options(lease_ms))
    sweep_id, trial_id = env[ENV_SWEEP_ID], env[ENV_RUN_ID]
    # Redis away: wait (the agent stops this process in time if its lease cannot be renewed)
    trial = waited(store, lambda: store.reads.trial(sweep_id, trial_id))
    sweep = waited(store, lambda: store.sweeps.get(sweep_id))
    metric = sweep.config.get("metric") or {}  # validated when the sweep was made
    link = TrialLink(
        store,
        sweep_id,
        trial_id,
        env[ENV_TOKEN],
        params=trial.params,
        metric_name=metric.get("name"),
        goal=metric.get("goal") or "minimize",
        lease_ms=lease_ms,
        project=sweep.project,
        history_cap=int(env[ENV_HISTORY_CAP]) if env.get(ENV_HISTORY_CAP) else None,
    )
    cfg = Config(merge(defaults, trial.params), locked=trial.params)
    reporter = Reporter(link, watch_parent=True, outage=outage_of(store))
    return Run(
        link,
        mode="command",
        config=cfg,
        name=name,
        reporter=reporter,
        on_end=on_end,
        root=root,
    )


# ---- a local run, outside any sweep --------------------------------------------------------------


def local_run(
    defaults: Mapping[str, Any],
    project: str | None,
    name: str | None,
    on_end: Callable[[Run], None] | None = None,
    root: str | os.PathLike[str] | None = None,
) -> Run:
    """A run outside any sweep: a one-trial sweep of its own, claimed by this process (it plays
    controller for a moment to add the trial); :meth:`Run.finish` finishes both. A Redis
    outage is waited out, call by call."""
    from redsweep.connect import connect
    from redsweep.shared.records import SweepState
    from redsweep.shared.store import new_id

    store = connect()
    params = {k: storable(v) for k, v in defaults.items()}
    parameters = {k: {"value": v} for k, v in params.items()} or {"_local": {"value": True}}
    raw = {"method": "grid", "parameters": parameters, "name": name or "local run"}
    if project:
        raw["project"] = project
    sweep_id = waited(
        store,
        lambda: store.sweeps.create(raw, project=project, name=name or "local run", grid_size=1),
    )
    holder = f"local-{host()}-{os.getpid()}-{new_id(4)}"
    # play controller for a moment: add the one trial, then take it as its agent
    epoch = waited(store, lambda: store.controllers.acquire(sweep_id, holder, 10_000))
    if epoch is None:
        raise StoreError(f"could not take the controller lease of the new sweep {sweep_id}")
    waited(
        store,
        lambda: store.sweeps.set_state(
            sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING]
        ),
    )
    # a new sweep has no run_cap
    [trial_id] = waited(store, lambda: store.trials.add(sweep_id, [params], epoch=epoch))
    waited(store, lambda: store.agents.heartbeat(sweep_id, holder, 10_000, busy=True, host=host()))
    entry = waited(store, lambda: store.queue.pop(sweep_id, holder, 0))
    token, _ = waited(
        store, lambda: store.trials.claim(sweep_id, trial_id, 1, holder, LOCAL_LEASE_MS)
    )
    if entry is not None:
        waited(store, lambda: store.queue.ack(sweep_id, holder, entry))
    waited(store, lambda: store.agents.remove(sweep_id, holder))
    waited(store, lambda: store.controllers.release(sweep_id, holder, epoch))
    if token is None:
        raise StoreError(f"could not claim the trial of the local run's sweep {sweep_id}")
    link = TrialLink(
        store, sweep_id, trial_id, token, params=params, lease_ms=LOCAL_LEASE_MS, project=project
    )
    reporter = Reporter(link, renew=True, outage=outage_of(store))
    cfg = Config(merge(defaults, {}))
    return Run(
        link, mode="local", config=cfg, name=name, reporter=reporter, on_end=on_end, root=root
    )


def finish_local(run: Run) -> None:
    from redsweep.shared.records import RunState, SweepState

    link = run._link
    failed = bool(run.exit_code)
    store = link.store
    try:
        waited(
            store,
            lambda: store.trials.finish(
                link.sweep_id,
                link.trial_id,
                link.token,
                RunState.FAILED if failed else RunState.FINISHED,
                summary=storable(run.summary),
                error=f"finished with exit code {run.exit_code}" if failed else None,
            ),
        )
        waited(
            store,
            lambda: store.sweeps.set_state(
                link.sweep_id,
                SweepState.FINISHED,
                allowed_from=[SweepState.PENDING, SweepState.RUNNING, SweepState.PAUSED],
                reason="local run ended",
            ),
        )
    except RedsweepError as exc:
        print(f"redsweep: could not finish run {run.id}: {exc}", file=sys.stderr)
    finally:
        link.store.close()
