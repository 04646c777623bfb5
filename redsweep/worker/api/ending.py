"""How a run ends: its last rows and the summary the script set are sent, or, in a command
trial that finds Redis away, handed to its agent (:mod:`~redsweep.worker.api.away`): such a
process must exit now, not wait for Redis. SIGTERM raises :class:`StopTrial` into the
objective, or hurries the end of a run that is ending already.

Part of :class:`~redsweep.worker.api.run.Run` (its ``finish()`` and summary), kept apart.
"""

from __future__ import annotations

import os

from redsweep.errors import RedsweepError, UnreachableError
from redsweep.worker.api import notices
from redsweep.worker.api.away import ENV_UNSENT, write_unsent
from redsweep.worker.api.limits import fit
from redsweep.worker.api.values import storable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from redsweep.worker.api.run import Run


class StopTrial(BaseException):
    """Raised by ``log()`` when the trial must stop: the controller stopped it early, the user
    interrupted it, or this worker lost the trial's lease. Let it propagate."""


#: A command trial's run in finish(): its objective is done, so SIGTERM hurries its end
#: (:meth:`Run.hurry`) instead of raising StopTrial into it.
_ENDING: list[Run] = []
#: SIGTERM stopped the objective (set once): its end is no end of its own
_STOPPED: list[bool] = []


def raise_stop(signum: int, frame: Any) -> None:
    """The SIGTERM handler of a trial's process."""
    for run in _ENDING:
        run.hurry()
        return
    _STOPPED.append(True)
    raise StopTrial("terminated by the agent (SIGTERM)")


def finish(run: Run, exit_code: int | None, timeout: float) -> None:
    """:meth:`Run.finish`: send what is buffered (waiting up to ``timeout``) and the summary;
    a local run is then marked finished. Calling it again does nothing."""
    with run._lock:
        if run._finished:
            return
        if exit_code is not None:
            run.exit_code = int(exit_code)
        run._commit()
        run._finished = True
    handoff = handoff_path(run) if run.mode == "command" else None
    if handoff:
        _ENDING.append(run)  # the objective is done: SIGTERM now hurries the end
    try:
        release_reporter(run, timeout)
        end_summary(run)
        if run.mode == "local":
            from redsweep.worker.api.starts import finish_local

            finish_local(run)
        else:
            send_summary(run)
        if handoff and not _STOPPED:  # all was stored or handed over: the end counts
            write_unsent(handoff, [], None, done=run.exit_code or 0)
    finally:
        if handoff:
            _ENDING.remove(run)
    if run._on_end is not None:
        run._on_end(run)


def end_summary(run: Run) -> None:
    """Copy ``live`` saved files again; record on the summary the run's files and W&B's
    descriptive fields that were set (``_name``, ``_group``, ``_job_type``, ``_tags``,
    ``_notes``: the store has no other place for them)."""
    run.files.resave()
    described = {
        "_name": run.name if run.name != run.id else None,
        "_group": run.group,
        "_job_type": run.job_type,
        "_tags": list(run.tags) or None,
        "_notes": run.notes,
    }
    for key, value in {**run.files.summary(), **described}.items():
        if value is not None:
            run.summary[key] = value


def send_summary(run: Run) -> bool:
    """Send the summary keys the script (or define_metric, or the files) set to the store;
    logged values are there already. A problem is printed, never raised. A finished command
    trial that finds Redis away hands them to its agent instead."""
    overrides = run.summary.overrides()
    if not overrides:
        return True
    link = run._link
    row, _ = fit({k: storable(v) for k, v in overrides.items()}, link.limits)
    handoff = handoff_path(run) if run.finished else None
    if handoff and run._handed_over:
        write_unsent(handoff, [], row)
        return True
    try:
        return link.set_summary(row)
    except UnreachableError:
        if handoff:
            run._handed_over = True
            write_unsent(handoff, [], row)
            return True
        notices.once(f"summary-{run.id}", f"run {run.id}: summary not stored yet: Redis away")
        return False
    except RedsweepError as exc:
        notices.once(f"summary-{run.id}", f"run {run.id}: summary not stored: {exc}")
        return False


def handoff_path(run: Run) -> str | None:
    """Where ``run``'s process hands its agent what it could not store (a trial's process)."""
    if run.mode == "local" or not run._owns_reporter:
        return None
    return os.environ.get(ENV_UNSENT) or None


def release_reporter(run: Run, timeout: float) -> bool:
    """Send what is left: by closing the run's own reporter; a reporter it was lent (the
    agent's) keeps the rows for its owner, who sends them with the trial's finish. A command
    trial that finds Redis away hands its unsent rows to its agent instead."""
    if not run._owns_reporter:
        return True
    reporter = run._reporter
    unsent = handoff_path(run)
    if unsent and not reporter.flush(timeout, while_reachable=True):
        run._handed_over = True
        write_unsent(unsent, reporter.take(0.2))
    if run.mode == "local":  # nobody else sends them: wait for Redis, however long
        return reporter.close(None)
    return reporter.close(timeout)
