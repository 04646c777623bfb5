"""What an agent prints: a line per trial (or a status line on a terminal), and its last line.

A mixin of :class:`~redsweep.worker.agent.session.AgentSession`, which owns the attributes declared
below.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from redsweep.errors import RedsweepError
from redsweep.progress import Progress
from redsweep.shared.records import Metric
from redsweep.shared.store import Store, SweepInfo
from redsweep.worker.agent.result import AgentResult
from redsweep.worker.trial.runner import TrialOutcome

#: How stale the sweep's counts in a trial's line may be.
SHOW_EVERY_S = 0.25


class ProgressMixin:
    """Shows each trial's end with the sweep's counts, and the best run at the end."""

    sweep_id: str
    agent_id: str
    function: Any
    isolate: bool
    result: AgentResult
    _metric: Metric | None
    _progress: Progress
    _shown: SweepInfo | None
    _shown_at: float
    _ended_since: list[tuple[str, float | None]]

    def _show(self, store: Store, outcome: TrialOutcome) -> SweepInfo | None:
        value = None
        if self._metric is not None:
            summary = outcome.summary
            if self.function is None or self.isolate:  # the child reported it
                with contextlib.suppress(RedsweepError):
                    summary = store.summary(self.sweep_id, outcome.trial_id)
            raw = summary.get(self._metric.name)
            if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                value = float(raw)
        # the sweep's counts for the line: re-read at most every SHOW_EVERY_S, so that short
        # trials do not pay a round trip each (the loop looks at the sweep on its own clock)
        fresh: SweepInfo | None = None
        if self._shown is None or time.monotonic() - self._shown_at >= SHOW_EVERY_S:
            try:
                fresh = self._shown = store.get_sweep(self.sweep_id)
            except RedsweepError:
                return None
            self._shown_at = time.monotonic()
        info = self._shown
        note = ""
        if outcome.error:
            note = (outcome.error.strip().splitlines() or [""])[-1][:200]
        state = outcome.state.value if outcome.state is not None else "lost"
        # between two reads, add this agent's own ends to what was read last
        self._ended_since = [] if fresh is not None else [*self._ended_since, (state, value)]
        counts, best = dict(info.counts), info.best_value
        for ended, ended_value in self._ended_since:
            counts[ended] = counts.get(ended, 0) + 1
            counts["running"] = max(0, counts.get("running", 0) - 1)
            metric = self._metric
            if (
                ended_value is not None
                and metric is not None
                and (best is None or metric.better(ended_value, best))
            ):
                best = ended_value
        self._progress.trial_ended(
            outcome.trial_id,
            state,
            value=value,
            seconds=outcome.seconds,
            counts=counts,
            best=best,
            note=note,
        )
        return fresh

    def _say_best(self, store: Store) -> None:
        """One closing line: what this agent ran and the sweep's best run so far."""
        r = self.result
        line = f"agent {self.agent_id} ran {r.ran} trial{'s' if r.ran != 1 else ''}"
        if r.failed:
            line += f" ({r.failed} failed)"
        with contextlib.suppress(RedsweepError):
            info = store.get_sweep(self.sweep_id)
            if self._metric is not None and info.best_trial and info.best_value is not None:
                best = store.get_trial(self.sweep_id, info.best_trial)
                line += (
                    f"; best run {best.id}: {self._metric.name}={info.best_value:.6g} "
                    f"with {dict(best.params)}"
                )
        self._progress.message(line)
