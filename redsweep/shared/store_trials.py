"""Trials change state: add, claim, renew, report, finish, stop, kill, reap.

Part of :mod:`redsweep.shared.store`. Every state change is one Lua compare-and-set; the allowed
changes are :data:`redsweep.shared.keys.TRIAL_TRANSITIONS`.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Mapping
from typing import Any

from redsweep.errors import FencedError, NotFoundError, StoreError, SweepStateError
from redsweep.shared import keys
from redsweep.shared.protocol import encode, pack_value, unpack_value
from redsweep.shared.records import Goal, RunState, SweepState, TrialMessage
from redsweep.shared.store_base import (
    EVENTS_MAXLEN,
    StoreBase,
    guarded,
    new_id,
    tail,
)
from redsweep.shared.store_records import Renewal

_CLOSED = (SweepState.FINISHED.value, SweepState.CANCELED.value)
_NO_START = tuple(sorted(s.value for s in keys.NO_START_STATES))
_NOT_HELD = Renewal(ok=False)


def _metric_value(values: Mapping[str, Any] | None, metric_name: str | None) -> str:
    """The sweep metric's value as a Lua-readable number, '' when absent or not finite."""
    if not values or metric_name is None:
        return ""
    value = values.get(metric_name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    value = float(value)
    return repr(value) if math.isfinite(value) else ""


def _goal(goal: Goal | str | None) -> str:
    return Goal(goal).value if goal is not None else Goal.MINIMIZE.value


def _pairs(values: Mapping[str, Any] | None) -> list[Any]:
    out: list[Any] = []
    for name, value in (values or {}).items():
        out += [str(name), pack_value(value)]
    return out


def _renewal(reply: list[Any]) -> Renewal:
    if not int(reply[0]):
        state = reply[3].decode() if len(reply) > 3 and reply[3] else ""
        return Renewal(ok=False, state=RunState(state)) if state else _NOT_HELD
    reason = reply[2] if len(reply) > 2 and reply[2] else None
    return Renewal(
        ok=True,
        stop_requested=bool(int(reply[1])),
        stop_reason=unpack_value(reason) if reason else None,
    )


class TrialsMixin(StoreBase):
    """A trial's life: pending -> running -> a terminal state; its history and summary."""

    @guarded
    def add_trial(
        self,
        sweep_id: str,
        params: Mapping[str, Any],
        *,
        epoch: int,
        attempt: int = 1,
        retry_of: str | None = None,
        run_cap: int | None = None,
    ) -> str | None:
        """Record a pending trial and push its queue entry, atomically; return its id.

        None when ``run_cap`` (or the sweep's own) is reached; retries (``attempt`` > 1) do not
        count toward it. FencedError when ``epoch`` is no longer the controller epoch;
        StoreError when the sweep is finished or canceled.
        """
        packed = pack_value(dict(params))
        for _ in range(20):
            trial_id = new_id()
            message = encode(TrialMessage(sweep_id=sweep_id, trial_id=trial_id, attempt=attempt))
            reply = self._run(
                "add_trial",
                [
                    keys.sweep(sweep_id),
                    keys.trial(sweep_id, trial_id),
                    keys.trials(sweep_id),
                    keys.queue(sweep_id),
                ],
                [
                    int(epoch),
                    trial_id,
                    packed,
                    int(attempt),
                    retry_of or "",
                    "" if run_cap is None else int(run_cap),
                    message,
                    *_CLOSED,
                ],
            )
            status = reply[0]
            if status == b"ok":
                return trial_id
            if status == b"capped":
                return None
            if status == b"fenced":
                current = reply[1].decode() if len(reply) > 1 else "?"
                raise FencedError(
                    f"controller epoch {epoch} of sweep {sweep_id} is stale (now {current}); "
                    "another controller took over"
                )
            if status == b"closed":
                raise StoreError(f"sweep {sweep_id} is {reply[1].decode()}; cannot add trials")
            if status == b"missing":
                raise NotFoundError(f"no sweep {sweep_id!r}")
        raise StoreError("could not find a free trial id after 20 tries")

    @guarded
    def claim(
        self, sweep_id: str, trial_id: str, attempt: int, worker: str, lease_ms: int
    ) -> str | None:
        """Take a pending trial of the same ``attempt``: it becomes running under a lease of
        ``lease_ms``. Returns the token to renew, report and finish with; None when refused
        (already claimed, another attempt, finished). NotFoundError for an unknown trial;
        SweepStateError while the sweep is paused, finished or canceled (no trial starts then:
        put the queue entry back with :meth:`return_trial`)."""
        claimed = self.claim_with_params(sweep_id, trial_id, attempt, worker, lease_ms)
        return None if claimed is None else claimed[0]

    @guarded
    def claim_with_params(
        self, sweep_id: str, trial_id: str, attempt: int, worker: str, lease_ms: int
    ) -> tuple[str, dict[str, Any]] | None:
        """:meth:`claim`, returning the token and the trial's params in the same round trip."""
        token = secrets.token_hex(12)
        reply = self._run(
            "claim",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.sweep(sweep_id),
                keys.running(sweep_id),
                keys.events(sweep_id),
            ],
            [int(attempt), worker, token, int(lease_ms), trial_id, EVENTS_MAXLEN, *_NO_START],
        )
        if reply[0] == b"missing":
            raise NotFoundError(f"no trial {trial_id!r} in sweep {sweep_id!r}")
        if reply[0] == b"held":
            state = reply[1].decode()
            raise SweepStateError(
                f"sweep {sweep_id} is {state}; no trial may start", sweep_id, state
            )
        if reply[0] != b"ok":
            return None
        return token, dict(unpack_value(reply[1])) if len(reply) > 1 and reply[1] else {}

    @guarded
    def renew(self, sweep_id: str, trial_id: str, token: str, lease_ms: int) -> Renewal:
        """Extend the trial's lease. ``ok`` False: the caller lost the trial and must stop."""
        reply = self._run(
            "renew",
            [keys.trial(sweep_id, trial_id), keys.trial_lease(sweep_id, trial_id)],
            [token, int(lease_ms)],
        )
        return _renewal(reply)

    @guarded
    def report(
        self,
        sweep_id: str,
        trial_id: str,
        token: str,
        step: int,
        metrics: Mapping[str, Any],
        *,
        metric_name: str | None = None,
        goal: Goal | str | None = None,
        lease_ms: int,
    ) -> Renewal:
        """Append one logged row (token-checked): history, summary, best value of
        ``metric_name`` by ``goal``, lease renewal and a "report" event, in one call."""
        metrics = dict(metrics)
        reply = self._run(
            "report",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.trial_summary(sweep_id, trial_id),
                keys.trial_history(sweep_id, trial_id),
                keys.events(sweep_id),
                keys.sweep(sweep_id),
            ],
            [
                token,
                int(lease_ms),
                int(step),
                pack_value(metrics),
                _metric_value(metrics, metric_name),
                _goal(goal),
                trial_id,
                EVENTS_MAXLEN,
                secrets.token_hex(6),  # makes a retried call idempotent
                *_pairs(metrics),
            ],
        )
        return _renewal(reply)

    @guarded
    def finish(
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
    ) -> bool:
        """End a running trial held with ``token`` in a terminal ``state``; ``summary`` is
        merged into its summary. False when refused (wrong token, not running)."""
        state = RunState(state)
        if state not in keys.FINISH_STATES:
            allowed = ", ".join(sorted(s.value for s in keys.FINISH_STATES))
            raise ValueError(f"cannot finish a trial as {state.value!r}; use one of {allowed}")
        reply = self._run(
            "finish",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.trial_summary(sweep_id, trial_id),
                keys.running(sweep_id),
                keys.events(sweep_id),
                keys.sweep(sweep_id),
            ],
            [
                token,
                state.value,
                tail(error),
                tail(log_tail),
                trial_id,
                _metric_value(summary, metric_name),
                _goal(goal),
                EVENTS_MAXLEN,
                *_pairs(summary),
            ],
        )
        return reply[0] == b"ok"

    @guarded
    def request_stop(self, sweep_id: str, trial_id: str, reason: Mapping[str, Any]) -> bool:
        """Ask the agent running the trial to stop it; it sees ``stop_requested`` (and the
        reason) on its next renew or report. False when the trial is not running."""
        reply = self._run(
            "request_stop", [keys.trial(sweep_id, trial_id)], [pack_value(dict(reason))]
        )
        return bool(reply)

    @guarded
    def kill(
        self,
        sweep_id: str,
        trial_id: str,
        state: RunState | str = RunState.KILLED,
        *,
        reason: str | None = None,
    ) -> bool:
        """End a pending or running trial without its token (as ``killed`` or ``stopped``).
        False when the trial is already terminal or unknown."""
        state = RunState(state)
        if state not in keys.KILL_STATES:
            raise ValueError(f"kill sets 'killed' or 'stopped', not {state.value!r}")
        reply = self._run(
            "kill",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.running(sweep_id),
                keys.events(sweep_id),
                keys.sweep(sweep_id),
            ],
            [state.value, trial_id, tail(reason), EVENTS_MAXLEN],
        )
        return reply[0] == b"ok"

    @guarded
    def reap(self, sweep_id: str, trial_id: str) -> bool:
        """Mark a running trial whose lease lapsed as crashed; False while its lease lives."""
        reply = self._run(
            "reap",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.running(sweep_id),
                keys.events(sweep_id),
                keys.sweep(sweep_id),
            ],
            [trial_id, "lease lapsed: the agent running it stopped renewing", EVENTS_MAXLEN],
        )
        return bool(reply)

    @guarded
    def lapsed_trials(self, sweep_id: str) -> list[str]:
        """Running trials whose lease key is gone (candidates for :meth:`reap`), by id."""
        running = sorted(m.decode() for m in self._r.smembers(keys.running(sweep_id)))
        pipe = self._r.pipeline(transaction=False)
        for trial_id in running:
            pipe.exists(keys.trial_lease(sweep_id, trial_id))
        return [t for t, alive in zip(running, pipe.execute(), strict=True) if not alive]
