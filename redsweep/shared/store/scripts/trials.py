"""Calls that add trials and end them from outside: add, retry, stop, kill, reap (those of
the trial's holder, an agent, are in :mod:`~redsweep.shared.store.scripts.holder`).

Part of :mod:`redsweep.shared.store.scripts`; the allowed changes are
:data:`redsweep.shared.store.keys.TRIAL_TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from redsweep.errors import FencedError, NotFoundError, StoreError
from redsweep.shared import points
from redsweep.shared.protocol import encode, pack_value
from redsweep.shared.records import RunState, SweepState, TrialMessage
from redsweep.shared.store import keys
from redsweep.shared.store.connection import new_id
from redsweep.shared.store.scripts import (
    EVENTS_MAXLEN,
    Script,
    optional,
    tail,
)

#: Sweep states add_trial.lua adds no trial in (until the sweep is resumed).
CLOSED = tuple(s.value for s in SweepState if s.is_over)
#: States a trial may be retried from: it ended without a result.
RETRYABLE = points.NO_RESULT
_RETRYABLE = " " + " ".join(s.value for s in RETRYABLE) + " "


class AddTrial(Script):
    """add_trial.lua: record a trial with a new id and push its queue entry, fenced by the
    controller's ``epoch`` (None: no controller, allowed for a retry only). Parses to 'ok'
    (added, or added already by this very call), 'capped' (``run_cap`` reached: nothing
    added), 'exists' (the id is taken: try :meth:`again`) or, for a retry, 'retried' (the
    trial ``retry_of`` has a retry already: ``retried_by`` names it) or 'not_retryable' (it
    did not end without a result); FencedError, StoreError (the sweep is over) or
    NotFoundError."""

    script = "add_trial"

    def __init__(
        self,
        sweep_id: str,
        params: Mapping[str, Any],
        *,
        epoch: int | None,
        attempt: int = 1,
        retry_of: str | None = None,
        run_cap: int | None = None,
        packed: bytes | None = None,
    ) -> None:
        self.sweep_id = sweep_id
        self.params = params
        self.epoch = None if epoch is None else int(epoch)
        self.retried_by: str | None = None
        self.attempt = int(attempt)
        self.retry_of = retry_of
        self.run_cap = run_cap
        self.trial_id = trial_id = new_id()
        self.packed = packed if packed is not None else pack_value(dict(params))
        message = encode(TrialMessage(sweep_id=sweep_id, trial_id=trial_id, attempt=self.attempt))
        self.keys = [
            keys.sweep(sweep_id),
            keys.trial(sweep_id, trial_id),
            keys.trials(sweep_id),
            keys.queue(sweep_id),
            keys.trial(sweep_id, retry_of or trial_id),
            keys.events(sweep_id),
        ]
        self.args = [
            optional(self.epoch),
            trial_id,
            self.packed,
            self.attempt,
            retry_of or "",
            optional(run_cap),
            message,
            EVENTS_MAXLEN,
            _RETRYABLE,
            *CLOSED,
        ]

    def again(self) -> AddTrial:
        """The same trial under another id (this one's id was taken)."""
        return AddTrial(
            self.sweep_id,
            self.params,
            epoch=self.epoch,
            attempt=self.attempt,
            retry_of=self.retry_of,
            run_cap=self.run_cap,
            packed=self.packed,
        )

    def parse(
        self, reply: list[Any]
    ) -> Literal["ok", "capped", "exists", "retried", "not_retryable"]:
        answer = reply[0].decode()
        if answer == "retried":
            self.retried_by = reply[1].decode()
        if answer in ("ok", "capped", "exists", "retried", "not_retryable"):
            return answer  # type: ignore[return-value]
        sweep_id = self.sweep_id
        if answer == "fenced":
            current = reply[1].decode() if len(reply) > 1 else "?"
            raise FencedError(
                f"controller epoch {self.epoch} of sweep {sweep_id} is stale (now {current}); "
                "another controller took over"
            )
        if answer == "closed":
            raise StoreError(f"sweep {sweep_id} is {reply[1].decode()}; cannot add trials")
        if answer == "missing":
            raise NotFoundError(f"no sweep {sweep_id!r}")
        raise StoreError(f"add_trial.lua answered {answer!r}")


class AddTrials(Script):
    """add_trials.lua: the first attempts ``calls`` (each an :class:`AddTrial` without
    ``retry_of``) in one call, each its own compare-and-set. Parses to each call's answer as
    :meth:`AddTrial.parse` gives it, in order, up to the first 'capped' (fewer answers than
    calls then); FencedError, StoreError or NotFoundError as AddTrial."""

    script = "add_trials"

    def __init__(self, calls: Sequence[AddTrial]) -> None:
        first = calls[0]
        self.calls = list(calls)
        self.keys = [
            keys.sweep(first.sweep_id),
            keys.trials(first.sweep_id),
            keys.queue(first.sweep_id),
            keys.events(first.sweep_id),
            *(c.keys[1] for c in calls),
        ]
        args: list[Any] = [optional(first.epoch), optional(first.run_cap), EVENTS_MAXLEN]
        args.append(len(calls))
        for c in calls:
            args += [c.trial_id, c.packed, c.args[6]]
        self.args = [*args, *CLOSED]

    def parse(self, reply: list[Any]) -> list[str]:
        return [call.parse(answer) for call, answer in zip(self.calls, reply, strict=False)]


class RequestStop(Script):
    """request_stop.lua: ask the agent running the trial to stop it (it sees
    ``stop_requested`` and ``reason`` on its next renew or report). Parses to False when the
    trial is not running."""

    script = "request_stop"

    def __init__(self, sweep_id: str, trial_id: str, reason: Mapping[str, Any]) -> None:
        self.keys = [keys.trial(sweep_id, trial_id)]
        self.args = [pack_value(dict(reason))]

    def parse(self, reply: int) -> bool:
        return bool(reply)


class Kill(Script):
    """kill.lua: end a pending or running trial without its token, as ``killed`` or
    ``stopped`` (ValueError for another state). Parses to False when the trial is terminal
    already or unknown."""

    script = "kill"

    def __init__(
        self,
        sweep_id: str,
        trial_id: str,
        state: RunState | str = RunState.KILLED,
        *,
        reason: str | None = None,
    ) -> None:
        state = RunState(state)
        if state not in keys.KILL_STATES:
            raise ValueError(f"kill sets 'killed' or 'stopped', not {state.value!r}")
        self.keys = [
            keys.trial(sweep_id, trial_id),
            keys.trial_lease(sweep_id, trial_id),
            keys.running(sweep_id),
            keys.events(sweep_id),
            keys.sweep(sweep_id),
        ]
        self.args = [state.value, trial_id, tail(reason), EVENTS_MAXLEN]

    def parse(self, reply: list[Any]) -> bool:
        return reply[0] == b"ok"


class Reap(Script):
    """reap.lua: a running trial whose lease lapsed -> crashed. Parses to False while its
    lease lives (or it is not running)."""

    script = "reap"
    ERROR = "lease lapsed: the agent running it stopped renewing"

    def __init__(self, sweep_id: str, trial_id: str) -> None:
        self.keys = [
            keys.trial(sweep_id, trial_id),
            keys.trial_lease(sweep_id, trial_id),
            keys.running(sweep_id),
            keys.events(sweep_id),
            keys.sweep(sweep_id),
        ]
        self.args = [trial_id, self.ERROR, EVENTS_MAXLEN]

    def parse(self, reply: int) -> bool:
        return bool(reply)
