"""Calls of a trial's holder (an agent, or a local run): claim, renew, report, finish, and
the summary keys it sets; each is token-checked.

Part of :mod:`redsweep.shared.store.scripts`; the allowed changes are
:data:`redsweep.shared.store.keys.TRIAL_TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redsweep.errors import NotFoundError, SweepStateError
from redsweep.shared.protocol import pack_value, unpack_value
from redsweep.shared.records import Goal, RunState
from redsweep.shared.store import keys
from redsweep.shared.store.connection import new_token
from redsweep.shared.store.replies import Renewal
from redsweep.shared.store.scripts import (
    EVENTS_MAXLEN,
    HISTORY_CAP,
    NO_START,
    Script,
    count_arg,
    goal_arg,
    metric_value,
    pairs,
    tail,
)

_NOT_HELD = Renewal(ok=False)


def renewal(reply: list[Any]) -> Renewal:
    """What renew.lua and report.lua answer."""
    if not int(reply[0]):
        state = reply[3].decode() if len(reply) > 3 and reply[3] else ""
        if not state:
            return _NOT_HELD
        attempt = int(reply[4]) if len(reply) > 4 and reply[4] else None
        return Renewal(ok=False, state=RunState(state), attempt=attempt)
    reason = reply[2] if len(reply) > 2 and reply[2] else None
    return Renewal(
        ok=True,
        stop_requested=bool(int(reply[1])),
        stop_reason=unpack_value(reason) if reason else None,
    )


class Claim(Script):
    """claim.lua: pending -> running for ``attempt``, under a lease of ``lease_ms`` with a new
    token. Parses to ``(token, params)``, or None when the trial was not pending at that
    attempt; NotFoundError (no such trial), SweepStateError (the sweep lets no trial start
    now). ``remaining``: the agent's count of trials still to start, this one included."""

    script = "claim"

    def __init__(
        self,
        sweep_id: str,
        trial_id: str,
        attempt: int,
        worker: str,
        lease_ms: int,
        *,
        remaining: int | None = None,
    ) -> None:
        self.sweep_id, self.trial_id = sweep_id, trial_id
        self.token = new_token()
        self.keys = [
            keys.trial(sweep_id, trial_id),
            keys.trial_lease(sweep_id, trial_id),
            keys.sweep(sweep_id),
            keys.running(sweep_id),
            keys.events(sweep_id),
            keys.agent(sweep_id, worker),
        ]
        self.args = [
            int(attempt),
            worker,
            self.token,
            int(lease_ms),
            trial_id,
            EVENTS_MAXLEN,
            count_arg(remaining),
            *NO_START,
        ]

    def parse(self, reply: list[Any]) -> tuple[str, dict[str, Any]] | None:
        answer = reply[0]
        if answer == b"missing":
            raise NotFoundError(f"no trial {self.trial_id!r} in sweep {self.sweep_id!r}")
        if answer == b"held":
            state = reply[1].decode()
            raise SweepStateError(
                f"sweep {self.sweep_id} is {state}; no trial may start", self.sweep_id, state
            )
        if answer != b"ok":
            return None
        return self.token, dict(unpack_value(reply[1])) if len(reply) > 1 and reply[1] else {}


class Renew(Script):
    """renew.lua: extend a running trial's lease. Parses to a
    :class:`~redsweep.shared.store.replies.Renewal` (``ok`` False: the holder lost it)."""

    script = "renew"

    def __init__(self, sweep_id: str, trial_id: str, token: str, lease_ms: int) -> None:
        self.keys = [keys.trial(sweep_id, trial_id), keys.trial_lease(sweep_id, trial_id)]
        self.args = [token, int(lease_ms)]

    def parse(self, reply: list[Any]) -> Renewal:
        return renewal(reply)


class ReportRows(Script):
    """report.lua: a running trial's logged ``(step, metrics)`` rows, one or more, in one call
    (one event for the controller); renews the lease. Every row updates the summary and the
    best value; the stored history keeps at most ``history_cap`` rows (plus the latest), by
    report.lua's thinning. ``note``: a warning about the rows, kept on the trial (the first
    one). ``final``: the trial's last rows, its finish next in the same round trip (no lease
    renewal, no event of their own). Parses to a
    :class:`~redsweep.shared.store.replies.Renewal`."""

    script = "report"

    def __init__(
        self,
        sweep_id: str,
        trial_id: str,
        token: str,
        rows: Sequence[tuple[int, Mapping[str, Any]]],
        *,
        metric_name: str | None = None,
        goal: Goal | str | None = None,
        lease_ms: int,
        history_cap: int | None = None,
        note: str = "",
        final: bool = False,
    ) -> None:
        cap = HISTORY_CAP if history_cap is None else int(history_cap)
        if cap < 2:
            raise ValueError(f"history_cap must be at least 2, got {cap}")
        args: list[Any] = [
            token,
            int(lease_ms),
            goal_arg(goal),
            trial_id,
            EVENTS_MAXLEN,
            new_token(6),  # makes a retried call idempotent
            cap,
            tail(note, 4096),
            len(rows),
            "1" if final else "",
        ]
        for step, metrics in rows:
            metrics = dict(metrics)
            summary = pairs(metrics)
            args += [int(step), pack_value(metrics), metric_value(metrics, metric_name)]
            args += [len(summary) // 2, *summary]
        self.args = args
        self.keys = [
            keys.trial(sweep_id, trial_id),
            keys.trial_lease(sweep_id, trial_id),
            keys.trial_summary(sweep_id, trial_id),
            keys.trial_history(sweep_id, trial_id),
            keys.events(sweep_id),
            keys.sweep(sweep_id),
            keys.trial_latest(sweep_id, trial_id),
        ]

    def parse(self, reply: list[Any]) -> Renewal:
        return renewal(reply)


class Finish(Script):
    """finish.lua: end a running trial held with ``token`` in a terminal ``state`` (ValueError
    for a state its holder may not set); ``summary`` is merged into its summary. Parses to
    True, or False when refused (wrong token, not running, no such trial)."""

    script = "finish"

    def __init__(
        self,
        sweep_id: str,
        trial_id: str,
        token: str,
        state: RunState | str,
        *,
        summary: Mapping[str, Any] | None = None,
        error: str | None = None,
        log_tail: str | None = None,
        metric_name: str | None = None,
        goal: Goal | str | None = None,
    ) -> None:
        state = RunState(state)
        if state not in keys.FINISH_STATES:
            allowed = ", ".join(sorted(s.value for s in keys.FINISH_STATES))
            raise ValueError(f"cannot finish a trial as {state.value!r}; use one of {allowed}")
        self.keys = [
            keys.trial(sweep_id, trial_id),
            keys.trial_lease(sweep_id, trial_id),
            keys.trial_summary(sweep_id, trial_id),
            keys.running(sweep_id),
            keys.events(sweep_id),
            keys.sweep(sweep_id),
        ]
        self.args = [
            token,
            state.value,
            tail(error),
            tail(log_tail),
            trial_id,
            metric_value(summary, metric_name),
            goal_arg(goal),
            EVENTS_MAXLEN,
            *pairs(summary),
        ]

    def parse(self, reply: list[Any]) -> bool:
        return reply[0] == b"ok"


class SetSummary(Script):
    """set_summary.lua: values a running trial's code set on its summary (``run.summary``,
    ``define_metric`` aggregates, its files), merged in; token-checked. Parses to False when
    refused (not running, another token)."""

    script = "set_summary"

    def __init__(
        self, sweep_id: str, trial_id: str, token: str, summary: Mapping[str, Any]
    ) -> None:
        self.keys = [keys.trial(sweep_id, trial_id), keys.trial_summary(sweep_id, trial_id)]
        self.args = [token, *pairs(summary)]

    def parse(self, reply: int) -> bool:
        return bool(reply)
