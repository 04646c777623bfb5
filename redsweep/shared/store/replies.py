"""What the store returns: frozen snapshots of sweeps, trials, agents and events.

Built from Redis replies by the store; no redis import here, so anything may use them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redsweep.shared.records import RunState, SweepState


@dataclass(frozen=True)
class SweepInfo:
    """A sweep as stored. ``counts`` holds how many trials are in each state (non-zero only);
    ``issued`` counts first attempts (what ``run_cap`` limits); times are server ms."""

    id: str
    state: SweepState
    config: Mapping[str, Any]
    project: str | None = None
    name: str | None = None
    created_ms: int = 0
    updated_ms: int = 0
    finished_ms: int | None = None
    grid_size: int | None = None
    run_cap: int | None = None
    issued: int = 0
    seq: int = 0
    epoch: int = 0
    controller: str | None = None
    best_value: float | None = None
    best_trial: str | None = None
    done_reason: str | None = None
    counts: Mapping[str, int] = field(default_factory=dict)
    #: how many crashed trials the controller has handled (retried, or out of retries): while
    #: fewer than have crashed, a retry may still be issued
    crashes_handled: int = 0

    def count(self, *states: RunState | str) -> int:
        """How many trials are in any of ``states``."""
        return sum(self.counts.get(RunState(s).value, 0) for s in states)


@dataclass(frozen=True)
class TrialInfo:
    """A trial as stored. ``best`` is the best value of the sweep metric it reported so far;
    ``stop_reason`` is what the controller gave with its stop request; ``lease_until_ms`` is
    when its lease runs out unless renewed (for a running trial whose lease lapsed: since when).
    Times are server ms."""

    id: str
    sweep_id: str
    seq: int
    state: RunState
    attempt: int
    params: Mapping[str, Any]
    retry_of: str | None = None
    worker: str | None = None
    created_ms: int = 0
    claimed_ms: int | None = None
    finished_ms: int | None = None
    error: str | None = None
    log_tail: str | None = None
    best: float | None = None
    last_step: int | None = None
    stop_requested: bool = False
    stop_reason: Mapping[str, Any] | None = None
    lease_until_ms: int | None = None
    #: rows it logged (its stored history may hold fewer: thinned past the history cap)
    history_rows: int = 0
    #: what its log() dropped (rows over the limits), if anything
    warning: str | None = None
    #: where its output was written (a command trial's log file), and on which host
    log_host: str | None = None
    log_path: str | None = None


@dataclass(frozen=True)
class Renewal:
    """The answer to a lease renewal or a report: ``ok`` False means the caller no longer holds
    the trial and must stop it (self-fencing); ``stop_requested`` asks it to stop early.
    When ``ok`` is False, ``state`` is the trial's state now (``killed`` when a user or a
    canceled sweep ended it; None when there is no such trial) and ``attempt`` its attempt."""

    ok: bool
    stop_requested: bool = False
    stop_reason: Mapping[str, Any] | None = None
    state: RunState | None = None
    attempt: int | None = None


@dataclass(frozen=True)
class Event:
    """One entry of a sweep's controller inbox: ``type`` is claim, report, finish or crash.

    ``fields`` holds the rest as strings: ``worker`` (claim), ``step`` and ``value`` (report,
    ``value`` only when the row had the sweep metric), ``state`` (finish)."""

    id: str
    type: str
    trial_id: str | None
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentInfo:
    """A live agent of a sweep; ``expires_ms`` is when it counts as gone without a heartbeat."""

    id: str
    host: str | None
    busy: bool
    seen_ms: int
    started_ms: int
    expires_ms: int
    #: how many more trials it will start (its --count less those started); None: no limit
    remaining: int | None = None


@dataclass(frozen=True)
class DeadLetter:
    """A queue entry no agent could use: the raw bytes, why, and who gave up on it."""

    id: str
    raw: bytes
    reason: str
    agent: str | None
    at_ms: int


@dataclass(frozen=True)
class Taken:
    """A queue entry an agent took (:class:`~redsweep.shared.store.calls.Take`). With
    ``token`` set, the agent holds its trial already (claimed in the same call); without, the
    entry is still to be decoded and claimed, put back or dead-lettered as usual."""

    entry: bytes
    trial_id: str | None = None
    token: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
