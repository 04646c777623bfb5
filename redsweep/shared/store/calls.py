"""What the hot-path scripts are sent and what their replies mean: a trial added, rows
reported, a trial finished, the next one taken.

Part of :mod:`redsweep.shared.store`: plain functions and records that build KEYS and ARGV (each
script's header in ``lua/`` documents them), so that a call can go on its own or in a
:class:`~redsweep.shared.store.connection.Batch` with others.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from redsweep.errors import FencedError, NotFoundError, StoreError
from redsweep.shared.store import keys
from redsweep.shared.protocol import WIRE_VERSION, encode, pack_value, unpack_value
from redsweep.shared.records import Goal, RunState, SweepState, TrialMessage
from redsweep.shared.store.connection import (
    EVENTS_MAXLEN,
    NO_START,
    Batch,
    new_id,
    new_token,
    tail,
)
from redsweep.shared.store.replies import Renewal, Taken

_CLOSED = (SweepState.FINISHED.value, SweepState.CANCELED.value)
_NOT_HELD = Renewal(ok=False)


def metric_value(values: Mapping[str, Any] | None, metric_name: str | None) -> str:
    """The sweep metric's value as a Lua-readable number, '' when absent or not finite."""
    if not values or metric_name is None:
        return ""
    value = values.get(metric_name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    value = float(value)
    return repr(value) if math.isfinite(value) else ""


def goal_arg(goal: Goal | str | None) -> str:
    return Goal(goal).value if goal is not None else Goal.MINIMIZE.value


def pairs(values: Mapping[str, Any] | None) -> list[Any]:
    out: list[Any] = []
    for name, value in (values or {}).items():
        out += [str(name), pack_value(value)]
    return out


def renewal(reply: list[Any]) -> Renewal:
    if not int(reply[0]):
        state = reply[3].decode() if len(reply) > 3 and reply[3] else ""
        return Renewal(ok=False, state=RunState(state)) if state else _NOT_HELD
    reason = reply[2] if len(reply) > 2 and reply[2] else None
    return Renewal(
        ok=True,
        stop_requested=bool(int(reply[1])),
        stop_reason=unpack_value(reason) if reason else None,
    )


def report_call(
    sweep_id: str,
    trial_id: str,
    token: str,
    rows: Sequence[tuple[int, Mapping[str, Any]]],
    metric_name: str | None,
    goal: Goal | str | None,
    lease_ms: int,
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of report.lua."""
    args: list[Any] = [
        token,
        int(lease_ms),
        goal_arg(goal),
        trial_id,
        EVENTS_MAXLEN,
        new_token(6),  # makes a retried call idempotent
        len(rows),
    ]
    for step, metrics in rows:
        metrics = dict(metrics)
        summary = pairs(metrics)
        args += [int(step), pack_value(metrics), metric_value(metrics, metric_name)]
        args += [len(summary) // 2, *summary]
    keys_ = [
        keys.trial(sweep_id, trial_id),
        keys.trial_lease(sweep_id, trial_id),
        keys.trial_summary(sweep_id, trial_id),
        keys.trial_history(sweep_id, trial_id),
        keys.events(sweep_id),
        keys.sweep(sweep_id),
    ]
    return keys_, args


def finish_call(
    sweep_id: str,
    trial_id: str,
    token: str,
    state: RunState | str,
    summary: Mapping[str, Any] | None,
    error: str | None,
    log_tail: str | None,
    metric_name: str | None,
    goal: Goal | str | None,
) -> tuple[list[str], list[Any]]:
    """KEYS and ARGV of finish.lua (ValueError for a state a holder may not set)."""
    state = RunState(state)
    if state not in keys.FINISH_STATES:
        allowed = ", ".join(sorted(s.value for s in keys.FINISH_STATES))
        raise ValueError(f"cannot finish a trial as {state.value!r}; use one of {allowed}")
    keys_ = [
        keys.trial(sweep_id, trial_id),
        keys.trial_lease(sweep_id, trial_id),
        keys.trial_summary(sweep_id, trial_id),
        keys.running(sweep_id),
        keys.events(sweep_id),
        keys.sweep(sweep_id),
    ]
    args = [
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
    return keys_, args


class AddCall:
    """One add_trial.lua call: its KEYS and ARGV, and what its reply means."""

    def __init__(
        self,
        sweep_id: str,
        params: dict[str, Any],
        epoch: int,
        attempt: int,
        retry_of: str | None,
        run_cap: int | None,
    ) -> None:
        self.sweep_id = sweep_id
        self.trial_id = new_id()
        self.packed = pack_value(params)
        self.epoch = int(epoch)
        self.attempt = int(attempt)
        self.retry_of = retry_of
        self.run_cap = run_cap

    def keys_args(self) -> tuple[list[str], list[Any]]:
        sweep_id, trial_id = self.sweep_id, self.trial_id
        message = encode(TrialMessage(sweep_id=sweep_id, trial_id=trial_id, attempt=self.attempt))
        keys_ = [
            keys.sweep(sweep_id),
            keys.trial(sweep_id, trial_id),
            keys.trials(sweep_id),
            keys.queue(sweep_id),
        ]
        args = [
            self.epoch,
            trial_id,
            self.packed,
            self.attempt,
            self.retry_of or "",
            "" if self.run_cap is None else int(self.run_cap),
            message,
            *_CLOSED,
        ]
        return keys_, args

    def status(self, reply: list[Any]) -> str:
        """'ok', 'capped' or 'exists' (the id is taken); raises for the rest."""
        status = reply[0].decode()
        if status in ("ok", "capped", "exists"):
            return status
        sweep_id = self.sweep_id
        if status == "fenced":
            current = reply[1].decode() if len(reply) > 1 else "?"
            raise FencedError(
                f"controller epoch {self.epoch} of sweep {sweep_id} is stale (now {current}); "
                "another controller took over"
            )
        if status == "closed":
            raise StoreError(f"sweep {sweep_id} is {reply[1].decode()}; cannot add trials")
        if status == "missing":
            raise NotFoundError(f"no sweep {sweep_id!r}")
        raise StoreError(f"add_trial.lua answered {status!r}")


@dataclass
class Handoff:
    """An agent's queue moves sent along with the end of its trial, in the same round trip:
    ack ``entry`` (the trial's queue entry) and, with ``take``, take the next entry and claim
    its trial (:meth:`QueueMixin.take_trial`, without waiting; ``remaining`` as there). After
    the call ``done`` is True and ``taken`` is what was taken, None when the queue was empty."""

    sweep_id: str
    agent_id: str
    entry: bytes | None
    lease_ms: int
    take: bool = True
    remaining: int | None = None
    taken: Taken | None = None
    done: bool = False

    def queue(self, batch: Batch) -> Callable[[Any], None]:
        """Add the moves to ``batch``; returns what takes in the last reply of the batch."""
        if self.take:
            keys_, args, token = take_call(
                self.sweep_id, self.agent_id, self.lease_ms, self.entry, self.remaining
            )
            batch.script("take", keys_, args)
            return lambda reply: self._took(take_reply(reply, token))
        if self.entry is not None:
            batch.pipe.lrem(keys.inflight(self.sweep_id, self.agent_id), 1, self.entry)
        return lambda reply: self._took(None)

    def _took(self, taken: Taken | None) -> None:
        self.done = True
        self.taken = taken


def count_arg(count: int | None) -> str | int:
    """A count for a script: '' for none (no limit)."""
    return "" if count is None else max(0, int(count))


def take_call(
    sweep_id: str, agent_id: str, lease_ms: int, ack: bytes | None, remaining: int | None = None
) -> tuple[list[str], list[Any], str]:
    """KEYS and ARGV of take.lua, and the token it claims with."""
    token = new_token()
    keys_ = [
        keys.queue(sweep_id),
        keys.inflight(sweep_id, agent_id),
        keys.inflight_agents(sweep_id),
        keys.sweep(sweep_id),
        keys.running(sweep_id),
        keys.events(sweep_id),
        keys.agent(sweep_id, agent_id),
    ]
    args = [
        ack if ack is not None else "",
        agent_id,
        token,
        int(lease_ms),
        sweep_id,
        WIRE_VERSION,
        keys.trial_prefix(sweep_id),
        EVENTS_MAXLEN,
        count_arg(remaining),
        *NO_START,
    ]
    return keys_, args, token


def take_reply(reply: list[Any], token: str) -> Taken | None:
    if not reply:
        return None
    if reply[0] == b"claimed":
        params = dict(unpack_value(reply[3])) if reply[3] else {}
        return Taken(reply[1], trial_id=reply[2].decode(), token=token, params=params)
    return Taken(reply[1])
