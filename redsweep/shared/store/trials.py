"""Trials change state: add, claim, renew, report, finish, stop, kill, reap.

Part of :mod:`redsweep.shared.store`. Every state change is one Lua compare-and-set; the allowed
changes are :data:`redsweep.shared.store.keys.TRIAL_TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redsweep.errors import NotFoundError, StoreError, SweepStateError
from redsweep.shared.store import keys
from redsweep.shared.protocol import pack_value, unpack_value
from redsweep.shared.records import Goal, RunState
from redsweep.shared.store.connection import (
    EVENTS_MAXLEN,
    NO_START,
    StoreBase,
    guarded,
    new_id,
    new_token,
    tail,
)
from redsweep.shared.store.calls import (
    AddCall,
    Handoff,
    count_arg,
    finish_call,
    renewal,
    report_call,
)
from redsweep.shared.store.replies import Renewal


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
        calls = [AddCall(sweep_id, dict(p), epoch, attempt, retry_of, run_cap) for p in params]
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
        self,
        sweep_id: str,
        trial_id: str,
        attempt: int,
        worker: str,
        lease_ms: int,
        *,
        remaining: int | None = None,
    ) -> str | None:
        """Take a pending trial of the same ``attempt``: it becomes running under a lease of
        ``lease_ms``. Returns the token to renew, report and finish with; None when refused
        (already claimed, another attempt, finished). NotFoundError for an unknown trial;
        SweepStateError while the sweep is paused, finished or canceled (no trial starts then:
        put the queue entry back with :meth:`return_trial`). ``remaining``: how many more
        trials the agent will start, this one included (see :meth:`heartbeat_agent`); one
        less is recorded when it claims."""
        claimed = self.claim_with_params(
            sweep_id, trial_id, attempt, worker, lease_ms, remaining=remaining
        )
        return None if claimed is None else claimed[0]

    @guarded
    def claim_with_params(
        self,
        sweep_id: str,
        trial_id: str,
        attempt: int,
        worker: str,
        lease_ms: int,
        *,
        remaining: int | None = None,
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
                keys.agent(sweep_id, worker),
            ],
            [
                int(attempt),
                worker,
                token,
                int(lease_ms),
                trial_id,
                EVENTS_MAXLEN,
                count_arg(remaining),
                *NO_START,
            ],
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
        return renewal(reply)

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
        call = report_call(sweep_id, trial_id, token, rows, metric_name, goal, lease_ms)
        return renewal(self._run("report", *call))

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
            call = report_call(sweep_id, trial_id, token, rows, metric_name, goal, lease_ms)
            batch.script("report", *call)
        batch.script(
            "finish",
            *finish_call(
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
