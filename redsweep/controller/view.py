"""The controller's in-memory view of a sweep, rebuilt from Redis and refreshed per event.

Redis stays the truth: this view is a cache the controller can throw away (a restarted or
taking-over controller builds it anew with :meth:`SweepView.load`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from redsweep.shared.engine import goal
from redsweep.shared.records import Method, RunRecord, RunState, SweepConfig
from redsweep.shared.store import Store
from redsweep.shared.store.replies import TrialInfo


@dataclass
class SweepView:
    """Every trial of one sweep: its record (attempt, retry_of, stop flag) and its engine RunRecord.

    What the controller asks every round (how many are alive, which crashed ones to retry, how
    many first attempts there are) is kept in indexes updated with each change, so a round
    costs the same at the thousandth trial as at the first.
    """

    store: Store
    sweep_id: str
    config: SweepConfig
    trials: dict[str, TrialInfo] = field(default_factory=dict)
    runs: dict[str, RunRecord] = field(default_factory=dict)
    #: W&B's prior runs: runs of earlier sweeps the engine counts as this sweep's (read once)
    prior: list[RunRecord] = field(default_factory=list)
    _alive: set[str] = field(default_factory=set)
    _crashed: set[str] = field(default_factory=set)
    _retried: set[str] = field(default_factory=set)  # trials a later attempt retries
    _first: int = 0  # first attempts (what run_cap counts)

    @property
    def with_history(self) -> bool:
        """Whether the engines need metric histories (hyperband and bayes read them)."""
        return self.config.early_terminate is not None or self.config.method is Method.BAYES

    @property
    def follows_reports(self) -> bool:
        """Whether a metric report changes a decision (stopping, bayes, target); if not, only
        the ends of trials matter (and claims add no event: ``tell_claims``)."""
        metric = self.config.metric
        return self.with_history or (metric is not None and metric.target is not None)

    def load(self) -> None:
        """Read every trial of the sweep (in the order they were added)."""
        pairs = self.store.reads.runs(self.sweep_id, history=self.with_history)
        self.trials, self.runs = {}, {}
        self._alive, self._crashed, self._retried, self._first = set(), set(), set(), 0
        for trial, run in pairs:
            self._put(trial, run)
        self.prior = self._prior_runs()

    def _prior_runs(self) -> list[RunRecord]:
        by_sweep: dict[str, list[str]] = {}
        for sweep_id, run_id in self.store.sweeps.prior_runs(self.sweep_id):
            by_sweep.setdefault(sweep_id, []).append(run_id)
        out = []
        for sweep_id, ids in by_sweep.items():
            for trial, run in self.store.reads.runs(sweep_id, ids, history=self.with_history):
                if trial.state.is_terminal:  # one still running there is no run of ours yet
                    out.append(replace(run, id=f"{trial.sweep_id}/{trial.id}"))
        return out

    def refresh(self, trial_ids: Iterable[str]) -> None:
        """Re-read these trials (after events about them)."""
        ids = sorted(set(trial_ids))
        if not ids:
            return
        for trial, run in self.store.reads.runs(self.sweep_id, ids, history=self.with_history):
            self._put(trial, run)

    def _put(self, trial: TrialInfo, run: RunRecord) -> None:
        """Record a trial's (new) record and run, and keep the indexes."""
        if trial.id not in self.trials and trial.attempt == 1:
            self._first += 1
        self.trials[trial.id] = trial
        self.runs[trial.id] = run
        for index, member in (
            (self._alive, trial.state.is_alive),
            (self._crashed, trial.state is RunState.CRASHED),
        ):
            if member:
                index.add(trial.id)
            else:
                index.discard(trial.id)
        if trial.retry_of:
            self._retried.add(trial.retry_of)

    def add_pending(
        self,
        trial_id: str,
        params: Mapping[str, Any],
        attempt: int = 1,
        retry_of: str | None = None,
    ) -> None:
        """Record a trial this controller just added, without reading it back: it is pending
        with these params (the next event about it brings the stored record)."""
        trial = TrialInfo(
            id=trial_id,
            sweep_id=self.sweep_id,
            seq=0,
            state=RunState.PENDING,
            attempt=attempt,
            params=params,
            retry_of=retry_of,
        )
        self._put(trial, RunRecord(trial_id, RunState.PENDING, params))

    def mark(self, trial_id: str, state: RunState) -> bool:
        """Take a trial's new state from an event instead of re-reading it (when nothing but
        its state matters); False when the view does not know the trial."""
        trial, run = self.trials.get(trial_id), self.runs.get(trial_id)
        if trial is None or run is None:
            return False
        self._put(_with_state(trial, state), _with_state(run, state))
        return True

    def all_runs(self) -> list[RunRecord]:
        """The sweep's runs, prior runs first."""
        return [*self.prior, *(self.runs[t] for t in self.trials if t in self.runs)]

    def first_attempts(self) -> list[RunRecord]:
        """One run per suggestion (retries left out), prior runs first: what the goal counts
        (run_cap counts this sweep's own)."""
        own = (t.id for t in self.trials.values() if t.attempt == 1 and t.id in self.runs)
        return [*self.prior, *(self.runs[t] for t in own)]

    def alive(self) -> int:
        return len(self._alive)

    def crashed(self) -> int:
        """How many crashed trials the view knows."""
        return len(self._crashed)

    def done_reason(self) -> str | None:
        config = self.config
        if config.run_cap is not None and self._first >= config.run_cap:
            return goal.RUN_CAP  # the first check of goal.done_reason, without listing runs
        target = config.metric is not None and config.metric.target is not None
        if not target and config.method is not Method.GRID:
            return None  # random and bayes without a target end only by run_cap
        if self.prior:  # prior runs count for grid and target, not for this sweep's run_cap
            config = replace(config, run_cap=None)
        return goal.done_reason(config, self.first_attempts())

    def note_retried(self, trial_id: str) -> None:
        """Trial ``trial_id`` has a retry the view has not read yet (another process added it)."""
        self._retried.add(trial_id)

    def to_retry(self, retries: int) -> list[TrialInfo]:
        """Crashed trials that may run again: attempt <= retries and not retried yet."""
        candidates = self._crashed - self._retried
        if not candidates:
            return []
        return [t for t in self.trials.values() if t.id in candidates and t.attempt <= retries]

    def value(self, trial_id: str) -> float | None:
        run = self.runs.get(trial_id)
        if run is None or self.config.metric is None:
            return None
        return goal.run_value(self.config.metric, run)


_Record = TypeVar("_Record", TrialInfo, RunRecord)


def _with_state(record: _Record, state: RunState) -> _Record:
    """``record`` (a frozen dataclass) in another ``state``: its fields copied, not
    ``dataclasses.replace``, which runs ``__init__`` over all of TrialInfo's 23 fields again
    (the controller marks every short trial's end this way: 12 µs a trial, now 2)."""
    new = object.__new__(type(record))
    new.__dict__.update(record.__dict__)
    new.__dict__["state"] = state
    return new
