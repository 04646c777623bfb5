"""A run object and the ways one starts: a command trial's subprocess, a local run.

Used by :mod:`redsweep.worker.api.functions` (the module-level API) and the agent's trial runner.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from redsweep.connect import ENV_URL, connect
from redsweep.errors import RedsweepError, StoreError
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store, new_id
from redsweep.shared.store.connection import lease_options
from redsweep.worker.api.away import ENV_UNSENT, outage_of, waited, write_unsent
from redsweep.worker.api.config import Config, merge
from redsweep.worker.api.limits import fit
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.reporter import Reporter

ENV_SWEEP_ID = "REDSWEEP_SWEEP_ID"
ENV_RUN_ID = "REDSWEEP_RUN_ID"
ENV_TOKEN = "REDSWEEP_RUN_TOKEN"
ENV_LEASE_MS = "REDSWEEP_LEASE_MS"
ENV_HISTORY_CAP = "REDSWEEP_HISTORY_CAP"

#: How long finish() waits for buffered rows to reach Redis.
FLUSH_TIMEOUT_S = 10.0
#: The lease of a local run (renewed by its reporter thread every third of it).
LOCAL_LEASE_MS = 60_000


class StopTrial(BaseException):
    """Raised by ``log()`` when the trial must stop: the controller stopped it early, the user
    interrupted it, or this worker lost the trial's lease. Let it propagate."""


class Run:
    """A run (one trial), W&B style: ``id``, ``config``, ``log()``, ``finish()``, ``summary``.

    ``mode`` is ``"agent"`` (a function trial: the agent finishes it in the store),
    ``"command"`` (a command trial's subprocess: the agent finishes it from the exit code) or
    ``"local"`` (outside a sweep: ``finish()`` finishes it and its one-trial sweep).
    """

    def __init__(
        self,
        link: TrialLink,
        *,
        mode: str,
        config: Config,
        name: str | None = None,
        reporter: Reporter | None = None,
        owns_reporter: bool = True,
        on_end: Callable[[Run], None] | None = None,
    ) -> None:
        self.id = link.trial_id
        self.sweep_id = link.sweep_id
        self.project = link.project
        self.name = name or link.trial_id
        self.config = config
        self.summary: dict[str, Any] = {}
        self.mode = mode
        self.exit_code: int | None = None
        self._link = link
        self._reporter = reporter or Reporter(link, outage=outage_of(link.store))
        self._owns_reporter = owns_reporter or reporter is None
        self._on_end = on_end
        self._step = 0
        self._pending: tuple[int, dict[str, Any]] | None = None  # (step, row) not committed
        self._finished = False
        self._lock = threading.Lock()

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step`` gets."""
        return self._step

    @property
    def finished(self) -> bool:
        return self._finished

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: Any = None) -> None:
        """Record one row of metrics at ``step`` (default: one past the last). Returns at once;
        raises :class:`StopTrial` when the trial must stop. With ``commit=False`` the values
        wait for more of the same step (W&B): the next log() of another step, or with
        ``commit`` not False, sends them as one row. Keys that break the limits of a row
        (:mod:`~redsweep.worker.api.limits`) are dropped, the first time with a warning."""
        if self._finished:
            raise RedsweepError(f"run {self.id} is finished; call init() to start another")
        why = self._link.why()
        if why:
            raise StopTrial(why)
        if not isinstance(data, Mapping):
            raise TypeError(f"log() takes a dict of metrics, got {type(data).__name__}")
        row = self._fit({str(k): _loggable(v) for k, v in data.items()})
        with self._lock:
            if step is None:
                step = self._step
            elif not isinstance(step, int) or isinstance(step, bool) or step < 0:
                raise ValueError(f"step must be a non-negative integer, got {step!r}")
            self.summary.update(row)
            if self._pending and step != self._pending[0]:
                self._reporter.add(*self._pending)  # a new step commits the one before
                self._pending = None
            if self._pending:
                row = self._fit({**self._pending[1], **row})  # the sum may pass a limit
            if commit is False:  # W&B: more values for this step may follow
                self._pending = (step, row)
                return
            self._pending = None
            self._step = max(self._step, step + 1)
        self._reporter.add(step, row)

    def _fit(self, row: dict[str, Any]) -> dict[str, Any]:
        row, dropped = fit(row, self._link.limits)
        if dropped:
            shown = "; ".join(dropped[:5]) + ("; ..." if len(dropped) > 5 else "")
            self._link.warn(
                f"log() dropped {len(dropped)} key(s) over the limits of a row, the rest of "
                f"the row was kept: {shown} (later drops in this run are not reported)"
            )
        return row

    def commit(self) -> None:
        """Send a row held back by ``log(..., commit=False)``."""
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        if self._pending:
            self._reporter.add(*self._pending)
            self._step = max(self._step, self._pending[0] + 1)
            self._pending = None

    def flush(self, timeout: float | None = FLUSH_TIMEOUT_S) -> bool:
        """Wait until the logged rows reached Redis; False on timeout."""
        return self._reporter.flush(timeout)

    def finish(self, exit_code: int | None = None, quiet: Any = None) -> None:
        """End the run: send what is buffered; a local run is then marked finished (failed
        when ``exit_code`` is non-zero). Calling it again does nothing."""
        with self._lock:
            if self._finished:
                return
            if exit_code is not None:
                self.exit_code = int(exit_code)
            self._commit()
            self._finished = True
        self._release_reporter(FLUSH_TIMEOUT_S)
        if self.mode == "local":
            finish_local(self)
        if self._on_end is not None:
            self._on_end(self)

    def _release_reporter(self, timeout: float) -> bool:
        """Send what is left: by closing our own reporter; a reporter we were lent (the
        agent's) keeps the rows for its owner, who sends them with the trial's finish. A
        command trial that finds Redis away hands its unsent rows to its agent instead."""
        if not self._owns_reporter:
            return True
        unsent = os.environ.get(ENV_UNSENT) if self.mode != "local" else None
        if unsent and not self._reporter.flush(timeout, while_reachable=True):
            write_unsent(unsent, self._reporter.take(timeout))
        if self.mode == "local":  # nobody else sends them: wait for Redis, however long
            return self._reporter.close(None)
        return self._reporter.close(timeout)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=0 if exc is None else 1)

    def __repr__(self) -> str:
        return f"<Run {self.id} of sweep {self.sweep_id} ({self.mode})>"


def _loggable(value: Any) -> Any:
    """Plain values pass; numpy arrays become lists; framework scalars their ``item()``."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) > 0:
        return tolist()
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, Mapping):
        return {str(k): _loggable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_loggable(v) for v in value]
    return value  # the reporter drops rows the wire format refuses, with a warning


# ---- a command trial's subprocess ----------------------------------------------------------------


def command_run(
    defaults: Mapping[str, Any], name: str | None, on_end: Callable[[Run], None] | None = None
) -> Run:
    """The run of the command trial this process was started for (from the environment)."""
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
    return Run(link, mode="command", config=cfg, name=name, reporter=reporter, on_end=on_end)


def raise_stop(signum: int, frame: Any) -> None:
    raise StopTrial("terminated by the agent (SIGTERM)")


# ---- a local run, outside any sweep --------------------------------------------------------------


def local_run(
    defaults: Mapping[str, Any],
    project: str | None,
    name: str | None,
    on_end: Callable[[Run], None] | None = None,
) -> Run:
    """A run outside any sweep: a one-trial sweep of its own, claimed by this process (it plays
    controller for a moment to add the trial); :meth:`Run.finish` finishes both. A Redis
    outage is waited out, call by call."""
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
    return Run(link, mode="local", config=cfg, name=name, reporter=reporter, on_end=on_end)


def finish_local(run: Run) -> None:
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


def storable(value: Any) -> Any:
    """A plain value for the store: unknown objects become their str()."""
    value = _loggable(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return str(value)


def host() -> str:
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in socket.gethostname())[:60]
