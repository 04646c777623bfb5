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
"""

from __future__ import annotations

import time
from collections.abc import Callable

from redsweep.errors import StoreError
from redsweep.shared.store import Store

#: How often an idle agent looks for lapsed leases (one read of the controller lease each).
REAP_EVERY_S = 1.0


class Reaper:
    """Crashes sweep ``sweep_id``'s lapsed trials when no controller holds it, and adds the
    retry of each one at attempt ``retries`` or less; says each one with ``say``."""

    def __init__(
        self, store: Store, sweep_id: str, *, say: Callable[[str], None], retries: int = 0
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._say = say
        self._retries = retries
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
                "(its agent is gone) and no controller held the sweep" + self._retry(trial_id)
            )
        return crashed

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
