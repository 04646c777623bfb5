"""A sweep's points: each suggestion with its attempts (a retry is a new trial ``retry_of`` the
one before), and how each point ended.

A point is finished when its last attempt finished (or was stopped early by hyperband, which
is a result too); one whose last attempt crashed, failed or was killed ended without a result,
and the sweep says so (:func:`tally`, in its done reason and in ``redsweep status``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from redsweep.shared.records import RunState

#: last states that are a result
RESULT = (RunState.FINISHED, RunState.STOPPED)
#: ended without a result (what may be retried)
NO_RESULT = (RunState.CRASHED, RunState.FAILED, RunState.KILLED)
#: how often a crashed trial runs again unless the sweep or the controller's process says
RETRIES = 2
_TERMINAL = tuple(s.value for s in RunState if s.is_terminal)


def ended(counts: Mapping[str, int], issued: int | None) -> int:
    """How many points ended (with a result or for good), from a sweep's run counts by state
    and its ``issued`` first attempts: ended runs less the crashed ones a retry followed, each
    retry being a run beyond the first attempts (so retries never make a sweep say 4/3 done).
    Without ``issued``, the ended runs."""
    runs_ended = sum(counts.get(state, 0) for state in _TERMINAL)
    if issued is None:
        return runs_ended
    retries = max(0, sum(counts.values()) - issued)
    return max(0, runs_ended - retries)


class Attempt(Protocol):
    """What a point needs of a trial record (a store's TrialInfo has it)."""

    @property
    def id(self) -> str: ...
    @property
    def state(self) -> RunState: ...
    @property
    def attempt(self) -> int: ...
    @property
    def retry_of(self) -> str | None: ...
    @property
    def params(self) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class Point:
    """One suggestion: its first attempt's id, its last attempt and how many there were."""

    first: str
    last: Attempt
    attempts: int

    @property
    def state(self) -> RunState:
        return self.last.state

    @property
    def unfinished(self) -> bool:
        """It ended without a result (its last attempt crashed, failed or was killed)."""
        return self.last.state in NO_RESULT


def points(trials: Iterable[Attempt]) -> list[Point]:
    """The points of these trials, in the order of their first attempts."""
    trials = list(trials)
    after: dict[str, Attempt] = {}
    for trial in trials:
        if trial.retry_of:
            seen = after.get(trial.retry_of)
            if seen is None or trial.attempt > seen.attempt:
                after[trial.retry_of] = trial
    out = []
    for trial in trials:
        if trial.retry_of:
            continue
        last, attempts = trial, 1
        while last.id in after and attempts <= len(trials):
            last, attempts = after[last.id], attempts + 1
        out.append(Point(trial.id, last, attempts))
    return out


def unfinished(pts: Iterable[Point]) -> list[Point]:
    """The points that ended without a result."""
    return [p for p in pts if p.unfinished]


def tally(pts: Sequence[Point]) -> str:
    """How the points ended, as a sweep's done reason says it: ``17 finished, 1 crashed after
    3 attempts``; ended points only, results first."""
    groups: dict[tuple[RunState, int], int] = {}
    for p in pts:
        if not p.state.is_terminal:
            continue
        key = (p.state, 0 if p.state in RESULT else p.attempts)
        groups[key] = groups.get(key, 0) + 1
    order = {state: i for i, state in enumerate(RunState)}
    parts = []
    for (state, attempts), n in sorted(
        groups.items(), key=lambda kv: (kv[0][0] not in RESULT, order[kv[0][0]], kv[0][1])
    ):
        part = f"{n} {state.value}"
        if attempts > 1:
            part += f" after {attempts} attempts"
        parts.append(part)
    return ", ".join(parts)


def honest_reason(reason: str, pts: Sequence[Point]) -> str:
    """``reason`` as the sweep ends with it: unchanged when every point has a result, else
    with the tally (``grid exhausted: 17 finished, 1 crashed after 3 attempts``)."""
    if not unfinished(pts):
        return reason
    return f"{reason.replace('_', ' ')}: {tally(pts)}"
