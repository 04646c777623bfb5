"""An agent crashes the trials whose lease lapsed while no controller holds the sweep.

The controller reaps lapsed leases (and retries them); an agent's background controller takes
the lease whenever nobody holds it. But no controller runs on a sweep that is over (a
``stop`` lets running trials finish), and an agent's controller may have failed: a trial whose
agent was killed would then stay ``running`` for ever. So an agent with nothing to do, and one
leaving an over sweep, crashes such trials itself: each one :class:`~redsweep.shared.store.
scripts.trials.Reap`, the compare-and-set the controller uses, so it cannot clash with one
that takes the lease meanwhile. Where the retry policy allows it (``retries``), it adds the
crashed trial's retry too, as a controller would: add_trial.lua adds one retry per trial,
whoever asks first (a controller that comes meanwhile is told it is retried), and none in a
sweep that is over.

After an outage the reaper waits one lease before it reaps anything, as a controller does
(:meth:`~redsweep.controller.controller.Controller.note_outage`): the agents cut off with it
renew their trials (renew.lua takes a lapsed lease again) or deliver their finish meanwhile.
An outage is one this agent saw (its :class:`~redsweep.shared.store.outage.Outage` began
one), a restart of Redis (its ``run_id`` changed, or it is up for less than a lease at the
first look), or this process standing still for longer
than a lease (stopped, starved: it may have missed one).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redsweep.errors import StoreError
from redsweep.shared.store import Store
from redsweep.shared.store.outage import Outage

#: How often an idle agent looks for lapsed leases (one read of the controller lease each).
REAP_EVERY_S = 1.0
#: Beyond a lease, how long the reaper may go unasked before it counts as a stand-still (an
#: idle agent asks it after each wait on the queue, up to IDLE_POP_S, and each call).
STILL_SLACK_S = 5.0


class Reaper:
    """Crashes sweep ``sweep_id``'s lapsed trials when no controller holds it, and adds the
    retry of each one at attempt ``retries`` or less; says each one with ``say``. Reaps
    nothing for ``lease_ms`` after an outage (``outage``: the agent's view of Redis)."""

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        *,
        say: Callable[[str], None],
        retries: int = 0,
        lease_ms: int = 10_000,
        outage: Outage | None = None,
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._say = say
        self._retries = retries
        self._lease_s = lease_ms / 1000
        self._outage = outage
        self._outages = outage.begun if outage is not None else 0
        self._next = 0.0
        self._grace_until = 0.0
        self._grace_due = False
        self._server_run: str | None = None  # Redis's run_id when last looked
        self._asked: float | None = None  # when the agent last asked (None: it was busy)

    def note_outage(self) -> None:
        """Reap nothing for one lease, from the next look at which Redis answers."""
        self._grace_due = True

    def worked(self) -> None:
        """The agent ran a trial: the time since it last asked is no stand-still."""
        self._asked = None

    def idle(self, held: bool | None = None) -> list[str]:
        """The agent found nothing to run: reap, at most every :data:`REAP_EVERY_S`;
        ``held``: whether a controller held the lease just now (None: read it)."""
        if time.monotonic() < self._next:
            return []
        return self.now(held=held)

    def now(self, *, over: bool = False, held: bool | None = None) -> list[str]:
        """Reap now, unless a controller holds the sweep (it reaps; ``held`` says so when the
        caller just looked, None: read it), or, ``over``, even then (no controller runs on a
        sweep that is over); the ids crashed here."""
        self._next = time.monotonic() + REAP_EVERY_S
        self._watch_clock()
        # the lease first: while a controller holds it, an idle agent asks Redis nothing
        # more once it knows the server's run id (a restart is still seen: the run id is
        # compared when it reaps)
        if held is None and not over:
            held = self._store.controllers.holder(self._sweep_id) is not None
        if not over and held:
            if self._server_run is None:
                self._in_grace()
            return []
        if self._in_grace():
            return []
        crashed = self._store.trials.reap_lapsed(self._sweep_id)
        for trial_id in crashed:
            self._say(
                f"run {trial_id} of sweep {self._sweep_id} crashed: its lease lapsed "
                "(its agent is gone) and no controller held the sweep" + self._retry(trial_id)
            )
        return crashed

    def _watch_clock(self) -> None:
        """Note an outage this process saw, or its standing still for a lease (it may have
        missed one), since it last looked."""
        now = time.monotonic()
        if self._asked is not None and now - self._asked > self._lease_s + STILL_SLACK_S:
            self.note_outage()  # this process stood still for a lease: it may have missed one
        self._asked = now
        if self._outage is not None and self._outage.begun != self._outages:
            self._outages = self._outage.begun
            self.note_outage()

    def _in_grace(self) -> bool:
        """Whether an outage was seen less than a lease ago (Redis answers now)."""
        run, uptime = self._store.controllers.server()
        first = self._server_run is None and uptime < self._lease_s
        if run is not None and run != self._server_run and (self._server_run or first):
            self.note_outage()  # Redis restarted: every agent was cut off
        self._server_run = run or self._server_run
        if self._grace_due:
            self._grace_due = False
            self._grace_until = time.monotonic() + self._lease_s
        return time.monotonic() < self._grace_until

    def _retry(self, trial_id: str) -> str:
        """Add the crashed trial's retry if the policy allows: what to add to the line."""
        trial = self._store.reads.trial(self._sweep_id, trial_id)
        if trial.attempt > self._retries:
            return ""
        try:
            new = self._store.trials.retry(self._sweep_id, trial.id, trial.params, trial.attempt)
        except StoreError:  # the sweep is over: nothing starts in it any more
            return ""
        return f"; running it again as {new}" if new else ""
