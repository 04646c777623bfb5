"""Trials change state: add, claim, renew, report, finish, stop, kill, reap.

Part of :mod:`redsweep.shared.store`. Every state change is one Lua compare-and-set (the calls
of :mod:`~redsweep.shared.store.scripts.trials` and `~.holder`); the allowed changes are
:data:`redsweep.shared.store.keys.TRIAL_TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from redsweep.errors import StoreError
from redsweep.shared.records import Goal, RunState
from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded
from redsweep.shared.store.replies import Renewal
from redsweep.shared.store.scripts.holder import Claim, Finish, Renew, ReportRows, SetSummary
from redsweep.shared.store.scripts.trials import AddTrial, AddTrials, Kill, Reap, RequestStop


class Trials:
    """A trial's life: pending -> running -> a terminal state, each change one CAS."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    def add(
        self,
        sweep_id: str,
        params: Sequence[Mapping[str, Any]],
        *,
        epoch: int | None,
        attempt: int = 1,
        retry_of: str | None = None,
        run_cap: int | None = None,
    ) -> list[str]:
        """Add a trial per suggestion in ``params``, in order, in one round trip (each one
        compare-and-set, fenced by the controller ``epoch``); the ids of those added (fewer
        when ``run_cap`` was reached, or, for retries, when one was retried already).
        FencedError when another controller took over."""
        calls = [
            AddTrial(sweep_id, p, epoch=epoch, attempt=attempt, retry_of=retry_of, run_cap=run_cap)
            for p in params
        ]
        if not calls:
            return []
        if len(calls) > 1 and attempt == 1 and retry_of is None:
            answers = self._conn.call(AddTrials(calls))  # the controller's top-up: one call
        else:
            answers = self._conn.batch_calls(*calls)
        added: list[str] = []
        for call, answer in zip(calls, answers, strict=False):
            for _ in range(20):  # a trial id already taken: another id, on its own
                if answer != "exists":
                    break
                call = call.again()
                answer = self._conn.call(call)
            else:
                raise StoreError("could not find a free trial id after 20 tries")
            if answer == "capped":
                break
            if answer == "ok":
                added.append(call.trial_id)
        return added

    def retry(
        self,
        sweep_id: str,
        trial_id: str,
        params: Mapping[str, Any],
        attempt: int,
        *,
        epoch: int | None = None,
    ) -> str | None:
        """Add the retry of trial ``trial_id`` (which ended at ``attempt`` without a result):
        a new pending trial with its params, at ``attempt + 1``, ``retry_of`` it. Once per
        trial, whoever asks (a controller with its ``epoch``; ``redsweep retry`` and agents
        with none): the new trial's id, or None when the trial has a retry already or did not
        end without a result. StoreError when the sweep is over."""
        added = self.add(sweep_id, [params], epoch=epoch, attempt=attempt + 1, retry_of=trial_id)
        return added[0] if added else None

    def claim(
        self,
        sweep_id: str,
        trial_id: str,
        attempt: int,
        worker: str,
        lease_ms: int,
        *,
        remaining: int | None = None,
    ) -> tuple[str, dict[str, Any]] | None:
        """Claim a pending trial at ``attempt`` for ``worker`` under a lease of ``lease_ms``:
        its token and params in one round trip, None when it was not pending at that attempt
        (:class:`~redsweep.shared.store.scripts.holder.Claim`)."""
        call = Claim(sweep_id, trial_id, attempt, worker, lease_ms, remaining=remaining)
        return self._conn.call(call)

    def renew(self, sweep_id: str, trial_id: str, token: str, lease_ms: int) -> Renewal:
        """Extend the trial's lease. ``ok`` False: the caller lost the trial and must stop."""
        return self._conn.call(Renew(sweep_id, trial_id, token, lease_ms))

    @guarded
    def note_log(self, sweep_id: str, trial_id: str, *, host: str, path: str) -> None:
        """Where the trial's output goes: the file ``path`` on ``host`` (for ``redsweep logs``).
        Not a state change, so no CAS: a trial that is gone (its sweep deleted) is left alone."""
        key = keys.trial(sweep_id, trial_id)
        if self._r.exists(key):
            fields = {"log_host": host.encode(), **keys.chunked("log_path", path.encode())}
            self._r.hset(key, mapping=fields)

    def report(
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
    ) -> Renewal:
        """Several logged ``(step, metrics)`` rows of a running trial in one call (one event);
        renews its lease (:class:`~redsweep.shared.store.scripts.holder.ReportRows`; the
        stored history is thinned past ``history_cap`` rows; ``note``: a warning kept on the
        trial)."""
        call = ReportRows(
            sweep_id,
            trial_id,
            token,
            rows,
            metric_name=metric_name,
            goal=goal,
            lease_ms=lease_ms,
            history_cap=history_cap,
            note=note,
        )
        return self._conn.call(call)

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
        merged into its summary. False when refused (wrong token, not running). To send the
        last rows and the agent's next queue move along, batch a
        :class:`~redsweep.shared.store.scripts.holder.Finish` with them
        (:meth:`Store.batch <redsweep.shared.store.Store.batch>`)."""
        call = Finish(
            sweep_id,
            trial_id,
            token,
            state,
            summary=summary,
            error=error,
            log_tail=log_tail,
            metric_name=metric_name,
            goal=goal,
        )
        return self._conn.call(call)

    def set_summary(
        self, sweep_id: str, trial_id: str, token: str, summary: Mapping[str, Any]
    ) -> bool:
        """Merge ``summary`` into the summary of the running trial held with ``token`` (what
        the trial's code set on ``run.summary``); False when refused."""
        if not summary:
            return True
        return bool(self._conn.call(SetSummary(sweep_id, trial_id, token, summary)))

    def request_stop(self, sweep_id: str, trial_id: str, reason: Mapping[str, Any]) -> bool:
        """Ask the agent running the trial to stop it; it sees ``stop_requested`` (and the
        reason) on its next renew or report. False when the trial is not running."""
        return self._conn.call(RequestStop(sweep_id, trial_id, reason))

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
        return self._conn.call(Kill(sweep_id, trial_id, state, reason=reason))

    def reap(self, sweep_id: str, trial_id: str) -> bool:
        """Mark a running trial whose lease lapsed as crashed; False while its lease lives."""
        return self._conn.call(Reap(sweep_id, trial_id))

    def reap_lapsed(self, sweep_id: str) -> list[str]:
        """Crash every running trial whose lease lapsed (each one :meth:`reap`, as the
        controller does); the ids of those crashed here."""
        return [t for t in self.lapsed(sweep_id) if self.reap(sweep_id, t)]

    @guarded
    def lapsed(self, sweep_id: str) -> list[str]:
        """Running trials whose lease key is gone (candidates for :meth:`reap`), by id."""
        running = sorted(m.decode() for m in self._r.smembers(keys.running(sweep_id)))
        pipe = self._r.pipeline(transaction=False)
        for trial_id in running:
            pipe.exists(keys.trial_lease(sweep_id, trial_id))
        return [t for t, alive in zip(running, pipe.execute(), strict=True) if not alive]
