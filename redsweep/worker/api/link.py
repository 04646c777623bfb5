"""One claimed trial as the in-trial API and the agent share it.

A :class:`TrialLink` names the trial and the token that holds it, and remembers what the store
said about it (stop requested, lease lost). The :class:`~redsweep.worker.api.reporter.Reporter`
sends its logged rows.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping, Sequence

from redsweep.worker.api.limits import RowLimits

TYPE_CHECKING = False
if TYPE_CHECKING:  # a command trial's API talks to its agent: it never imports redis
    from typing import Any

    from redsweep.shared.records import RunState
    from redsweep.shared.store import Renewal, Store
    from redsweep.shared.store.calls import ReportRows


class TrialLink:
    """A running trial held with ``token``: its params, the sweep metric, and its flags.

    ``stopping`` is set when the controller asked the trial to stop (or the user interrupted
    it); ``lost`` when the holder lost the lease (self-fencing: stop the objective). Both are
    read by ``log()``, which then raises :class:`~redsweep.worker.api.functions.StopTrial`.

    ``history_cap`` is the rows of history the store keeps (thinned past it, see report.lua;
    None: the store's default), ``limits`` what one row may hold. The trial's one
    warning (:meth:`warn`) is printed here when ``echo`` (else whoever runs the trial shows it)
    and sent with the next report, so that the store's record of the trial has it too.
    """

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        trial_id: str,
        token: str,
        *,
        params: Mapping[str, Any],
        metric_name: str | None = None,
        goal: str | None = None,
        lease_ms: int = 10_000,
        project: str | None = None,
        history_cap: int | None = None,
        limits: RowLimits | None = None,
        echo: bool = True,
        renewed_at: float | None = None,
    ) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.trial_id = trial_id
        self.token = token
        self.params = dict(params)
        self.metric_name = metric_name
        self.goal = goal
        self.lease_ms = int(lease_ms)
        self.project = project
        self.history_cap = history_cap
        self.limits = limits or RowLimits()
        self.echo = echo
        #: the trial's warning (what log() dropped), once set
        self.warning: str | None = None
        self.unsent_note = ""  # the warning, until a report carried it to the store
        self.stop_reason: Mapping[str, Any] | None = None
        #: the terminal state someone else gave the trial (killed: a canceled sweep), if any
        self.ended_as: RunState | None = None
        #: when (``time.monotonic()``) the last call that renewed the lease (the claim, a
        #: renewal, a report) was *sent*, of those the store answered: the lease lasts at least
        #: ``lease_ms`` from then (the store set it after that moment)
        self.renewed_at = time.monotonic() if renewed_at is None else renewed_at
        self._stopping = threading.Event()
        self._lost = threading.Event()
        self._why = ""
        self._listeners: list[threading.Event] = []

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def why(self) -> str:
        """Why the trial must stop ('' while it may go on)."""
        return self._why if (self.lost or self.stopping) else ""

    def listen(self, event: threading.Event) -> None:
        """Set ``event`` whenever a flag changes (the runner waits on it)."""
        self._listeners.append(event)

    def renew(self) -> Renewal:
        """Renew the trial's lease and take in what the store answered (StoreError when it
        cannot be reached)."""
        sent = time.monotonic()
        renewal = self.store.trials.renew(self.sweep_id, self.trial_id, self.token, self.lease_ms)
        self._renewed(renewal, sent)
        self.note(renewal)
        return renewal

    def report_call(
        self, rows: Sequence[tuple[int, Mapping[str, Any]]], note: str = "", *, final: bool = False
    ) -> ReportRows:
        """The call that reports ``rows`` of this trial (``note``: its one warning), to run
        alone (:meth:`report`) or, ``final``, in a batch with its finish."""
        from redsweep.shared.store.calls import ReportRows

        return ReportRows(
            self.sweep_id,
            self.trial_id,
            self.token,
            rows,
            metric_name=self.metric_name,
            goal=self.goal,
            lease_ms=self.lease_ms,
            history_cap=self.history_cap,
            note=note,
            final=final,
        )

    def report(self, rows: Sequence[tuple[int, Mapping[str, Any]]], note: str = "") -> Renewal:
        """Report ``rows`` in one call; what the store answered (not yet taken in: see
        :meth:`note`)."""
        sent = time.monotonic()
        [renewal] = self.store.batch(self.report_call(rows, note))
        self._renewed(renewal, sent)
        return renewal

    def set_summary(self, row: Mapping[str, Any]) -> bool:
        """Set the summary keys ``row`` of the trial (False: the token no longer holds it)."""
        return self.store.trials.set_summary(self.sweep_id, self.trial_id, self.token, row)

    def _renewed(self, renewal: Renewal, sent: float) -> None:
        if renewal.ok and sent > self.renewed_at:
            self.renewed_at = sent

    def note(self, renewal: Renewal) -> None:
        """Take in what a renew or report answered."""
        if not renewal.ok:
            from redsweep.shared.records import RunState  # not at import: a trial's start

            if renewal.state in (RunState.KILLED, RunState.STOPPED) and not self.lost:
                self.ended_as = renewal.state
                self.mark_lost(
                    f"{renewal.state.value} from outside: its sweep was canceled or a user ended it"
                )
            self.mark_lost("the trial's lease was lost (another agent or the controller has it)")
        elif renewal.stop_requested and not self.stopping:
            self.stop_reason = renewal.stop_reason
            self.request_stop(_describe_stop(renewal.stop_reason))

    def request_stop(self, why: str) -> None:
        if not self.stopping:
            self._why = self._why or why
            self._stopping.set()
            self._notify()

    def mark_lost(self, why: str) -> None:
        if not self.lost:
            self._why = why
            self._lost.set()
            self._notify()

    def warn(self, message: str) -> None:
        """The trial's one warning: later ones are left out (the first names the problem)."""
        if self.warning is not None:
            return
        self.warning = self.unsent_note = message
        if self.echo:
            print(f"redsweep: run {self.trial_id}: {message}", file=sys.stderr)

    def _notify(self) -> None:
        for event in self._listeners:
            event.set()


def _describe_stop(reason: Mapping[str, Any] | None) -> str:
    if not reason:
        return "stopped by the controller"
    detail = ", ".join(f"{k}={v}" for k, v in reason.items())
    return f"stopped by the controller ({detail})"


def refused_text(link: TrialLink, renewal: Renewal) -> str:
    """Why the store dropped a report of ``link``'s trial (its token does not hold it)."""
    from redsweep.shared.records import RunState

    if renewal.state is None:
        return f"logged rows were dropped: sweep {link.sweep_id} has no such run"
    attempt = f" (attempt {renewal.attempt})" if renewal.attempt is not None else ""
    if renewal.state is RunState.RUNNING:
        why = "another token holds it, not this process's"
    else:
        why = "its token no longer holds it"
    return f"logged rows were dropped: the run is {renewal.state.value}{attempt}; {why}"
