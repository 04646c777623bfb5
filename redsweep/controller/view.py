"""The controller's in-memory view of a sweep, rebuilt from Redis and refreshed per event.

Redis stays the truth: this view is a cache the controller can throw away (a restarted or
taking-over controller builds it anew with :meth:`SweepView.load`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from redsweep.shared import goal
from redsweep.shared.records import Method, Run, RunState, SweepConfig
from redsweep.shared.store import Store
from redsweep.shared.store_records import TrialInfo


@dataclass
class SweepView:
    """Every trial of one sweep: its record (attempt, retry_of, stop flag) and its engine Run."""

    store: Store
    sweep_id: str
    config: SweepConfig
    trials: dict[str, TrialInfo] = field(default_factory=dict)
    runs: dict[str, Run] = field(default_factory=dict)

    @property
    def with_history(self) -> bool:
        """Whether the engines need metric histories (hyperband and bayes read them)."""
        return self.config.early_terminate is not None or self.config.method is Method.BAYES

    @property
    def follows_reports(self) -> bool:
        """Whether a metric report changes a decision (stopping, bayes, target); if not, only
        claims and ends of trials need a re-read."""
        metric = self.config.metric
        return self.with_history or (metric is not None and metric.target is not None)

    def load(self) -> None:
        """Read every trial of the sweep (in the order they were added)."""
        pairs = self.store.trials_and_runs(self.sweep_id, history=self.with_history)
        self.trials = {trial.id: trial for trial, _ in pairs}
        self.runs = {run.id: run for _, run in pairs}

    def refresh(self, trial_ids: Iterable[str]) -> None:
        """Re-read these trials (after events about them)."""
        ids = sorted(set(trial_ids))
        if not ids:
            return
        for trial, run in self.store.trials_and_runs(self.sweep_id, ids, history=self.with_history):
            self.trials[trial.id] = trial
            self.runs[run.id] = run

    def add_pending(
        self,
        trial_id: str,
        params: Mapping[str, Any],
        attempt: int = 1,
        retry_of: str | None = None,
    ) -> None:
        """Record a trial this controller just added, without reading it back: it is pending
        with these params (the next event about it brings the stored record)."""
        self.trials[trial_id] = TrialInfo(
            id=trial_id,
            sweep_id=self.sweep_id,
            seq=0,
            state=RunState.PENDING,
            attempt=attempt,
            params=params,
            retry_of=retry_of,
        )
        self.runs[trial_id] = Run(trial_id, RunState.PENDING, params)

    def mark(self, trial_id: str, state: RunState) -> bool:
        """Take a trial's new state from an event instead of re-reading it (when nothing but
        its state matters); False when the view does not know the trial."""
        trial, run = self.trials.get(trial_id), self.runs.get(trial_id)
        if trial is None or run is None:
            return False
        self.trials[trial_id] = replace(trial, state=state)
        self.runs[trial_id] = replace(run, state=state)
        return True

    def all_runs(self) -> list[Run]:
        return [self.runs[t] for t in self.trials if t in self.runs]

    def first_attempts(self) -> list[Run]:
        """One run per suggestion (retries left out): what run_cap counts."""
        return [
            self.runs[t.id] for t in self.trials.values() if t.attempt == 1 and t.id in self.runs
        ]

    def alive(self) -> int:
        return sum(1 for t in self.trials.values() if t.state.is_alive)

    def done_reason(self) -> str | None:
        return goal.done_reason(self.config, self.first_attempts())

    def to_retry(self, retries: int) -> list[TrialInfo]:
        """Crashed trials that may run again: attempt <= retries and not retried yet."""
        retried = {t.retry_of for t in self.trials.values() if t.retry_of}
        return [
            t
            for t in self.trials.values()
            if t.state is RunState.CRASHED and t.attempt <= retries and t.id not in retried
        ]

    def best(self) -> tuple[str | None, float | None]:
        """The best run's id and value (None, None without a metric or values)."""
        run = goal.best_run(self.config, self.all_runs())
        if run is None or self.config.metric is None:
            return None, None
        return run.id, goal.run_value(self.config.metric, run)

    def value(self, trial_id: str) -> float | None:
        run = self.runs.get(trial_id)
        if run is None or self.config.metric is None:
            return None
        return goal.run_value(self.config.metric, run)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for trial in self.trials.values():
            out[trial.state.value] = out.get(trial.state.value, 0) + 1
        return out
