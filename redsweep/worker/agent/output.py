"""What an agent prints: a line per trial (or a status line on a terminal), messages, and its
last line (what it ran, the sweep's best run).

:class:`AgentOutput` is the agent's only writer: the session, its signal handlers and its
background controller's thread all print through it.
"""

from __future__ import annotations

import contextlib
import math
import re
import threading
import time
from pathlib import Path
from typing import TextIO

from redsweep.errors import RedsweepError
from redsweep.progress import Progress
from redsweep.shared.records import Metric
from redsweep.shared.store import Store, SweepInfo
from redsweep.worker.agent.result import AgentResult, EndReason
from redsweep.worker.trial.runner import TrialOutcome

#: How stale the sweep's counts in a trial's line may be.
SHOW_EVERY_S = 0.25
#: A traceback's last line: ``ValueError: boom``, ``pkg.mod.Error``, ``KeyboardInterrupt``
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\b")


def _last_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _cause(tail: str | None) -> str:
    """The line of the output that says why: the exception line of the last traceback in it,
    else its last line."""
    lines = [line.strip() for line in (tail or "").splitlines() if line.strip()]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line
    return lines[-1] if lines else ""


def failure_cause(error: str | None, log_tail: str | None) -> str:
    """Why a trial failed, in one line: the error's last line, and the exception its output
    ends with (a command's traceback)."""
    last = _last_line(error)
    cause = _cause(log_tail)
    note = f"{last}: {cause}" if cause and cause not in last else last
    return note if len(note) <= 300 else note[:297] + "..."


def failure_note(outcome: TrialOutcome, log_dir: Path | None) -> str:
    """:func:`failure_cause`, and where the trial's log is."""
    note = failure_cause(outcome.error, outcome.log_tail)
    if log_dir is not None:
        path = log_dir / f"{outcome.trial_id}.log"
        if path.exists():
            with contextlib.suppress(ValueError):
                path = path.relative_to(Path.cwd())
            note += f"; log {path}"
    return note


class AgentOutput:
    """Shows each trial's end with the sweep's counts, messages, and the best run at the end.

    ``summary_in_store``: the trials report from another process (a command, a forked child),
    so a trial's metric is read from the store rather than from its outcome; with
    ``warnings_in_store`` (command trials: their own output is their log) so is the warning
    of what a trial's ``log()`` dropped, which is shown once per trial. Safe to call
    from any thread, and from a signal handler in the main thread (the lock is reentrant).
    """

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        *,
        metric: Metric | None,
        total: int | None,
        out: TextIO,
        summary_in_store: bool,
        warnings_in_store: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._metric = metric
        self._summary_in_store = summary_in_store
        self._warnings_in_store = warnings_in_store
        self._log_dir = log_dir
        self._progress = Progress(sweep_id, total=total, metric=metric, out=out)
        self._lock = threading.RLock()
        self._shown: SweepInfo | None = None  # the sweep as last read for a progress line
        self._shown_at = float("-inf")
        # its counts and best value, with this agent's own ends since that read added
        self._counts: dict[str, int] = {}
        self._best: float | None = None
        self._issued: int | None = None

    def follow(self, metric: Metric | None, total: int | None) -> None:
        """The sweep's config was replaced: its metric and size now."""
        with self._lock:
            self._metric = metric
            self._progress.metric = metric
            self._progress.total = total

    def message(self, text: str) -> None:
        """A line of its own."""
        with self._lock:
            self._progress.message(text)

    def trial_ended(self, outcome: TrialOutcome) -> SweepInfo | None:
        """Show the trial's end; returns the sweep when it was read for the line."""
        warning = outcome.warning
        if self._warnings_in_store:
            with contextlib.suppress(RedsweepError):
                warning = self._store.reads.warning(self._sweep_id, outcome.trial_id)
        if warning:
            self.message(f"run {outcome.trial_id}: {warning}")
        metric = self._metric
        value = None
        if metric is not None:
            summary = outcome.summary
            if self._summary_in_store:
                with contextlib.suppress(RedsweepError):
                    summary = self._store.reads.summary(self._sweep_id, outcome.trial_id)
            raw = summary.get(metric.name)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                value = float(raw)
                if not math.isfinite(value):  # the store takes no such value: say so
                    self.message(
                        f"warning: run {outcome.trial_id} logged {metric.name}={value}, not a "
                        f"finite number: it is no value of {metric.name}, so it never makes "
                        "the run best"
                    )
                    value = None
        # the sweep's counts for the line: re-read at most every SHOW_EVERY_S, so that short
        # trials do not pay a round trip each (the session looks at the sweep on its own clock)
        fresh: SweepInfo | None = None
        note = failure_note(outcome, self._log_dir) if outcome.error else ""
        state = outcome.state.value if outcome.state is not None else "lost"
        if self._shown is None or time.monotonic() - self._shown_at >= SHOW_EVERY_S:
            try:
                fresh = self._shown = self._store.sweeps.get(self._sweep_id)
            except RedsweepError:
                return None
            self._shown_at = time.monotonic()
            self._counts, self._best = dict(fresh.counts), fresh.best_value
            self._issued = fresh.issued
        else:
            self._count_own_end(state, value)
        with self._lock:
            self._progress.trial_ended(
                outcome.trial_id,
                state,
                value=value,
                seconds=outcome.seconds,
                counts=self._counts,
                best=self._best,
                note=note,
                issued=self._issued,
            )
        return fresh

    def _count_own_end(self, state: str, value: float | None) -> None:
        """Between two reads of the sweep: this agent's trial that ended moves from running
        (or pending: it was claimed after the read; or nowhere: it was issued after it) to
        ``state``."""
        if state == "lost":  # not this agent's to record any more: the next read says
            return
        counts = self._counts
        for was in ("running", "pending"):
            if counts.get(was, 0) > 0:
                counts[was] -= 1
                break
        else:  # issued after the read (a retry is rarer: counting it as a point is the slip)
            self._issued = None if self._issued is None else self._issued + 1
        counts[state] = counts.get(state, 0) + 1
        metric, best = self._metric, self._best
        if value is None or metric is None:
            return
        if best is None or metric.better(value, best):
            self._best = value

    def closing(self, result: AgentResult, *, line: bool = True) -> None:
        """One closing line (unless not ``line``: the sweep is gone): what this agent ran and
        the sweep's best run so far; then the status line (on a terminal) is closed."""
        if not line:
            with self._lock:
                self._progress.close()
            return
        r = result
        line = f"agent {r.agent_id} ran {r.ran} trial{'s' if r.ran != 1 else ''}"
        if r.failed:
            line += f" ({r.failed} failed)"
        if r.reason is not None and r.reason is not EndReason.COUNT_REACHED:
            line += f"; {r.why}"  # "sweep done: grid exhausted: 17 finished, 1 crashed ..."
        metric = self._metric
        with contextlib.suppress(RedsweepError):
            info = self._store.sweeps.get(self._sweep_id)
            if metric is not None and info.best_trial and info.best_value is not None:
                best = self._store.reads.trial(self._sweep_id, info.best_trial)
                line += (
                    f"; best run {best.id}: {metric.name}={info.best_value:.6g} "
                    f"with {dict(best.params)}"
                )
        with self._lock:
            self._progress.message(line)
            self._progress.close()
