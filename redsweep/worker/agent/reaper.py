"""An agent crashes the trials whose lease lapsed while no controller holds the sweep.

The controller reaps lapsed leases (and retries them); an agent's background controller takes
the lease whenever nobody holds it. But no controller runs on a sweep that is over (a
``stop`` lets running trials finish), and an agent's controller may have failed: a trial whose
agent was killed would then stay ``running`` for ever. So an agent with nothing to do, and one
leaving an over sweep, crashes such trials itself: each one :class:`~redsweep.shared.store.
scripts.trials.Reap`, the compare-and-set the controller uses, so it cannot clash with one
that takes the lease meanwhile. The retry, where the retry policy allows it, is added by the
next controller of the sweep (the agent's own background controller, when it runs): it is
fenced by the controller's epoch.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redsweep.shared.store import Store

#: How often an idle agent looks for lapsed leases (one read of the controller lease each).
REAP_EVERY_S = 1.0


class Reaper:
    """Crashes sweep ``sweep_id``'s lapsed trials when no controller holds it; says each one
    crashed with ``say``."""

    def __init__(self, store: Store, sweep_id: str, *, say: Callable[[str], None]) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._say = say
        self._next = 0.0

    def idle(self) -> list[str]:
        """The agent found nothing to run: reap, at most every :data:`REAP_EVERY_S`."""
        if time.monotonic() < self._next:
            return []
        return self.now()

    def now(self, *, over: bool = False) -> list[str]:
        """Reap now, unless a controller holds the sweep (it reaps), or, ``over``, even then
        (no controller runs on a sweep that is over); the ids crashed here."""
        self._next = time.monotonic() + REAP_EVERY_S
        if not over and self._store.controllers.holder(self._sweep_id) is not None:
            return []
        crashed = self._store.trials.reap_lapsed(self._sweep_id)
        for trial_id in crashed:
            self._say(
                f"run {trial_id} of sweep {self._sweep_id} crashed: its lease lapsed "
                "(its agent is gone) and no controller held the sweep"
            )
        return crashed
