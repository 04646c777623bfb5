"""Trials change state: add, claim, renew, report, finish, stop, kill, reap.

Part of :mod:`redsweep.shared.store`. Every state change is one Lua compare-and-set; the allowed
changes are :data:`redsweep.shared.keys.TRIAL_TRANSITIONS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from redsweep.errors import FencedError, NotFoundError, StoreError, SweepStateError
from redsweep.shared import keys
from redsweep.shared.protocol import encode, pack_value, unpack_value
from redsweep.shared.records import Goal, RunState, SweepState, TrialMessage
from redsweep.shared.store_base import (
    EVENTS_MAXLEN,
    NO_START,
    StoreBase,
    guarded,
    new_id,
    new_token,
    tail,
)
from redsweep.shared.store_queue import Handoff
from redsweep.shared.store_records import Renewal

_CLOSED = (SweepState.FINISHED.value, SweepState.CANCELED.value)
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


def _report_call(
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
        _goal(goal),
        trial_id,
        EVENTS_MAXLEN,
        new_token(6),  # makes a retried call idempotent
        len(rows),
    ]
    for step, metrics in rows:
        metrics = dict(metrics)
        pairs = _pairs(metrics)
        args += [int(step), pack_value(metrics), _metric_value(metrics, metric_name)]
        args += [len(pairs) // 2, *pairs]
    keys_ = [
        keys.trial(sweep_id, trial_id),
        keys.trial_lease(sweep_id, trial_id),
        keys.trial_summary(sweep_id, trial_id),
        keys.trial_history(sweep_id, trial_id),
        keys.events(sweep_id),
        keys.sweep(sweep_id),
    ]
    return keys_, args


def _finish_call(
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
        _metric_value(summary, metric_name),
        _goal(goal),
        EVENTS_MAXLEN,
        *_pairs(summary),
    ]
    return keys_, args


class _AddCall:
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
        added = self.add_trials(
            sweep_id, [params], epoch=epoch, attempt=attempt, retry_of=retry_of, run_cap=run_cap
        )
        return added[0] if added else None

    @guarded
    def add_trials(
        self,
        sweep_id: str,
        params: Sequence[Mapping[str, Any]],
        *,
        epoch: int,
        attempt: int = 1,
        retry_of: str | None = None,
        run_cap: int | None = None,
    ) -> list[str]:
        """:meth:`add_trial` for several suggestions in one round trip, in order; the ids of
        those added (fewer when ``run_cap`` was reached)."""
        calls = [_AddCall(sweep_id, dict(p), epoch, attempt, retry_of, run_cap) for p in params]
        batch = self._batch()
        for call in calls:
            batch.script("add_trial", *call.keys_args())
        added: list[str] = []
        for call, reply in zip(calls, batch.execute(), strict=True):
            for _ in range(20):  # a trial id already taken: another id, on its own
                status = call.status(reply)
                if status != "exists":
                    break
                call.trial_id = new_id()
                reply = self._run("add_trial", *call.keys_args())
            else:
                raise StoreError("could not find a free trial id after 20 tries")
            if status == "capped":
                break
            added.append(call.trial_id)
        return added

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
        token = new_token()
        reply = self._run(
            "claim",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.sweep(sweep_id),
                keys.running(sweep_id),
                keys.events(sweep_id),
            ],
            [int(attempt), worker, token, int(lease_ms), trial_id, EVENTS_MAXLEN, *NO_START],
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
        return self.report_rows(
            sweep_id,
            trial_id,
            token,
            [(step, metrics)],
            metric_name=metric_name,
            goal=goal,
            lease_ms=lease_ms,
        )

    @guarded
    def report_rows(
        self,
        sweep_id: str,
        trial_id: str,
        token: str,
        rows: Sequence[tuple[int, Mapping[str, Any]]],
        *,
        metric_name: str | None = None,
        goal: Goal | str | None = None,
        lease_ms: int,
    ) -> Renewal:
        """:meth:`report` for several ``(step, metrics)`` rows in one call (one event)."""
        call = _report_call(sweep_id, trial_id, token, rows, metric_name, goal, lease_ms)
        return _renewal(self._run("report", *call))

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
        rows: Sequence[tuple[int, Mapping[str, Any]]] = (),
        lease_ms: int = 10_000,
        handoff: Handoff | None = None,
    ) -> bool:
        """End a running trial held with ``token`` in a terminal ``state``; ``summary`` is
        merged into its summary. False when refused (wrong token, not running).

        In the same round trip, ``rows`` not reported yet are reported first, and with
        ``handoff`` the agent acks the trial's queue entry and pops its next one (into
        ``handoff.popped``)."""
        batch = self._batch()
        if rows:
            call = _report_call(sweep_id, trial_id, token, rows, metric_name, goal, lease_ms)
            batch.script("report", *call)
        batch.script(
            "finish",
            *_finish_call(
                sweep_id, trial_id, token, state, summary, error, log_tail, metric_name, goal
            ),
        )
        took = handoff.queue(batch) if handoff is not None else None
        replies = batch.execute()
        if took is not None:
            took(replies[-1])
        return replies[1 if rows else 0][0] == b"ok"

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
