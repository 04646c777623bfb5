"""The in-trial API: ``init``, ``config``, ``log``, ``finish``, ``login``, as in W&B.

The same calls work in three places:

* inside a function trial run by an agent (in its process, or a forked child): the agent binds
  the trial (:func:`bind_trial`), ``init()`` returns its run, ``config`` holds its params;
* inside a command trial's subprocess: the run is found from ``REDSWEEP_SWEEP_ID``,
  ``REDSWEEP_RUN_ID``, ``REDSWEEP_RUN_TOKEN`` and ``REDSWEEP_REDIS_URL``, when W&B's
  ``WANDB_RUN_ID`` names the same run (a script that clears ``WANDB_*`` for its child
  processes gives them runs of their own, as on W&B);
* outside any sweep: ``init()`` records a one-trial sweep of its own ("local run") holding the
  config given, logs to it, and finishes both at ``finish()`` or at exit.

``log()`` only queues the row; a background thread sends it (:class:`~.reporter.Reporter`). When
the trial was asked to stop (or its lease was lost), the next ``log()`` raises
:class:`StopTrial`, a BaseException so that ``except Exception`` does not swallow it.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Mapping, Sequence
from types import SimpleNamespace, TracebackType

from redsweep.errors import RedsweepError, StoreError
from redsweep.worker.api import notices
from redsweep.worker.api.config import Config, ConfigProxy, merge
from redsweep.worker.api.disabled import DisabledRun
from redsweep.worker.api.ending import StopTrial, raise_stop
from redsweep.worker.api.init_config import config_dict
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.reporter import Reporter
from redsweep.worker.api.run import (
    ENV_HISTORY_CAP,
    ENV_LEASE_MS,
    ENV_RUN_ID,
    ENV_SWEEP_ID,
    ENV_TOKEN,
    FLUSH_TIMEOUT_S,
    Run,
)
from redsweep.worker.api.starts import command_run, in_command_trial, local_run

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ENV_HISTORY_CAP",
    "ENV_LEASE_MS",
    "ENV_RUN_ID",
    "ENV_SWEEP_ID",
    "ENV_TOKEN",
    "Config",
    "Run",
    "StopTrial",
    "bind_trial",
    "config",
    "current_run",
    "finish",
    "init",
    "log",
    "login",
    "unbind_trial",
]

# ---- the process's current run -----------------------------------------------------------------

_lock = threading.RLock()
_run: Run | DisabledRun | None = None
_loose = Config()  # config set before any init(); becomes init's defaults
_excepthook_installed = False
_atexit_registered = False
_failed_by_exception = False


def _after_fork_in_child() -> None:
    """A process forked from one with a run does not share it: the run's reporter thread did
    not come along (a forked function trial binds its own; a child that calls init() gets a
    run as its environment says, W&B's cross-validation example's folds one of their own)."""
    global _run
    _run = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _forget(run: Run | DisabledRun) -> None:
    global _run
    with _lock:
        if _run is run and run.mode != "agent":
            _run = None


def current_run() -> Run | DisabledRun | None:
    """The run ``log()`` would write to now, if any (without starting one)."""
    with _lock:
        return _run


def bind_trial(link: TrialLink, reporter: Reporter | None = None) -> Run:
    """Make ``link`` this process's current run (the agent does this for a function trial).
    ``reporter``, when given, is attached to the link already and stays the caller's."""
    global _run
    run = Run(
        link,
        mode="agent",
        config=Config(merge({}, link.params), locked=link.params),
        reporter=reporter,
        owns_reporter=reporter is None,
    )
    with _lock:
        _run = run
    return run


def unbind_trial(link: TrialLink, timeout: float = FLUSH_TIMEOUT_S) -> Run | None:
    """Flush and forget the run bound to ``link``; returns it."""
    global _run
    with _lock:
        run = _run if _run is not None and _run._link is link else None
        if run is not None:
            _run = None
    if run is not None:
        with run._lock:
            run._commit()
            run._finished = True
        run._release_reporter(timeout)
        run.end_summary()
        run.send_summary()  # what the script set on run.summary (a forked trial's too)
    return run


def _current(auto: bool) -> Run | DisabledRun | None:
    with _lock:
        if _run is not None and (not _run.finished or _run.mode == "agent"):
            return _run
    if auto and in_command_trial():
        return init()
    return None


def _config_target() -> Config:
    run = _current(auto=True)
    return run.config if run is not None else _loose


config = ConfigProxy(_config_target)


def init(
    project: str | None = None,
    config: Any = None,
    name: str | None = None,
    *,
    entity: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    dir: str | os.PathLike[str] | None = None,
    mode: str | None = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    allow_val_change: bool | None = None,
    id: str | None = None,
    resume: Any = None,
    reinit: Any = None,
    settings: Any = None,
    anonymous: Any = None,
    magic: Any = None,
    **ignored: Any,
) -> Run | DisabledRun:
    """Start (or join) the run: the agent's trial, the command trial named by the environment,
    or else a local run recorded in the store. ``config`` (a dict, an argparse.Namespace, absl
    flags, a YAML/JSON path, any object with attributes) holds defaults that the sweep's
    values override. ``mode="disabled"`` (or ``WANDB_MODE=disabled``) returns a run on which
    every call does nothing. W&B's other arguments are accepted: the descriptive ones
    (entity, group, job_type, tags, notes) are kept on the run, ``dir`` is where the run's
    folder goes, and ``id``, ``resume``, ``reinit``, ``settings``, ``anonymous`` and ``magic``
    change nothing here."""
    global _run
    env = os.environ
    given = config_dict(config, config_include_keys, config_exclude_keys)
    defaults = merge(_loose.as_dict(), given)
    project = project or env.get("WANDB_PROJECT") or None
    name = name or env.get("WANDB_NAME") or None
    if isinstance(settings, Mapping):
        settings = SimpleNamespace(**settings)
    if (mode or getattr(settings, "mode", None)) == "disabled" or _disabled_by_env():
        run: Run | DisabledRun | None = DisabledRun(defaults, project, name, on_end=_forget)
        with _lock:
            _run = run
        return run
    with _lock:
        run = _run
        # a function trial has one run, even after finish(): never a local run inside it
        joins = run is not None and (run.mode == "agent" or not run.finished)
        if isinstance(run, Run) and joins and run.mode != "local":
            _apply_defaults(run, defaults, name)
            _describe(run, project, entity, group, job_type, tags, notes)
            return run
    if run is not None and not run.finished:
        run.finish()
    if in_command_trial():
        run = command_run(defaults, name, on_end=_forget, root=dir)
        _register_atexit()
        main = threading.current_thread() is threading.main_thread()
        if main and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            # the agent stops a trial with SIGTERM: unwind, so atexit sends the last rows
            signal.signal(signal.SIGTERM, raise_stop)
    else:
        run = local_run(defaults, project, name, on_end=_forget, root=dir)
        _install_excepthook()
        _register_atexit()
    _describe(run, project, entity, group, job_type, tags, notes)
    with _lock:
        _run = run
    _loose.clear()
    return run


def _disabled_by_env() -> bool:
    """W&B's ``WANDB_MODE=disabled`` (or ``WANDB_DISABLED=true``) outside a sweep. Inside a
    trial it is ignored, with a notice: a variable left in a shell must not lose a sweep's
    results (``init(mode="disabled")`` in the script is honoured everywhere)."""
    env = os.environ
    if env.get("WANDB_MODE") != "disabled" and env.get("WANDB_DISABLED", "").lower() not in (
        "true",
        "1",
    ):
        return False
    with _lock:
        bound = _run is not None and _run.mode == "agent"
    if bound or in_command_trial():
        notices.once("env-disabled", "WANDB_MODE=disabled is ignored in a sweep's trial")
        return False
    return True


def _describe(
    run: Run,
    project: str | None,
    entity: str | None,
    group: str | None,
    job_type: str | None,
    tags: Sequence[str] | None,
    notes: str | None,
) -> None:
    """W&B's descriptive fields, from init's arguments or W&B's environment variables."""
    env = os.environ
    run.project = run.project or project  # a sweep's own project comes first, as on W&B
    run.entity = entity or env.get("WANDB_ENTITY") or run.entity
    run.group = group or env.get("WANDB_RUN_GROUP") or run.group
    run.job_type = job_type or env.get("WANDB_JOB_TYPE") or run.job_type
    run.notes = notes or env.get("WANDB_NOTES") or run.notes
    if tags is None and env.get("WANDB_TAGS"):
        tags = [t.strip() for t in env["WANDB_TAGS"].split(",") if t.strip()]
    if tags is not None:
        run.tags = tuple(str(t) for t in tags)


def _apply_defaults(run: Run, defaults: Mapping[str, Any], name: str | None) -> None:
    run.config.setdefaults(defaults)
    for key, value in defaults.items():  # nested defaults fill in under sweep values
        current = run.config._data.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            run.config._data[key] = merge(value, current)
    if name:
        run.name = name


def log(
    data: Mapping[str, Any], step: int | None = None, commit: Any = None, sync: Any = None
) -> None:
    """Log a row of metrics to the current run (see :meth:`Run.log`)."""
    run = _current(auto=True)
    if run is None:
        raise RedsweepError("call redsweep.init() before redsweep.log()")
    run.log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: Any = None) -> None:
    """Finish the current run, if any (see :meth:`Run.finish`)."""
    run = _current(auto=False)
    if run is not None:
        run.finish(exit_code=exit_code)


def login(redis: str | None = None, **ignored: Any) -> bool:
    """Check that Redis answers (``redis``, else ``REDSWEEP_REDIS_URL``, else the embedded local
    server, started on demand); returns True. A URL given here is used by later calls of this
    process and its children. Raises :class:`~redsweep.errors.StoreError` naming the URL with
    its password masked when Redis cannot be reached."""
    from redsweep.connect import ENV_URL, connect

    store = connect(redis)
    try:
        if not store.ping():
            raise StoreError(f"cannot reach Redis at {store.url} (or it refused the credentials)")
    finally:
        store.close()
    if redis:
        os.environ[ENV_URL] = redis
    return True


def _install_excepthook() -> None:
    global _excepthook_installed
    if _excepthook_installed:
        return
    _excepthook_installed = True
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        global _failed_by_exception
        _failed_by_exception = True
        previous(kind, exc, tb)

    sys.excepthook = hook


def _register_atexit() -> None:
    global _atexit_registered
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_finish_at_exit)


def _finish_at_exit() -> None:
    run = current_run()
    if run is not None and not run.finished and run.mode != "agent":
        run.finish(exit_code=1 if _failed_by_exception else None)
