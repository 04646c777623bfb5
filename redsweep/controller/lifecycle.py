"""One controller's life on one sweep, the same for every kind of controller.

Take the sweep's lease (waiting as the caller says), run rounds until asked to stop or the sweep
is over, stand by (take the lease again) when fenced, release the lease on the way out (once,
errors suppressed: an unreleased lease lapses by itself), and, where the caller wants it, ride
out Redis outages with a back-off. The three kinds only say what differs:

* ``redsweep controller SWEEP`` (:meth:`Controller.run`): waits a lease period for the lease,
  then gives up with :class:`ControllerBusy`; rides out outages, saying so.
* an agent's background controller (:mod:`~redsweep.controller.background`): a ``bg:`` holder,
  which yields to a dedicated controller that asks for a handover; stands by while another
  controller holds the lease; rides out outages.
* ``redsweep controller --all`` (:mod:`~redsweep.controller.many`): stands by and rides out
  outages, saying so.

No controller exits on a connection error: it says once that Redis is unreachable (and since
when), backs off, and says when Redis is back (the lines of
:class:`~redsweep.shared.store.outage.Outage`, as every process says them). A controller cut
off from Redis then reaps nothing for one lease (:meth:`Controller.note_outage`): the agents
were likely cut off too.

Every other error (a bug, a config it cannot read, a sweep that is gone) ends the life and is
raised to the caller at once; a sweep that vanishes after it was read (Redis lost its data) as
:class:`~redsweep.errors.SweepLostError`, one that never existed as NotFoundError.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from redsweep.controller.lease import ControllerBusy
from redsweep.errors import (
    FencedError,
    NotFoundError,
    RedsweepError,
    StoreError,
    UnreachableError,
)
from redsweep.shared.store import SweepInfo
from redsweep.shared.store.outage import Outage

if TYPE_CHECKING:
    from redsweep.controller.controller import Controller

RETRY_MIN_S, RETRY_MAX_S = 0.5, 5.0  # the back-off while Redis is away


def describe(error: BaseException) -> str:
    """A controller's failure in a line: our own errors by their message, others (bugs) with
    their type too (``KeyError: 'x'``)."""
    if isinstance(error, RedsweepError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


class Lifecycle:
    """Run ``controller`` on its sweep until ``stop`` is set or the sweep is over.

    ``wait_s``: how long each try to take the lease waits. ``standby_s``: when the lease is
    not had, wait this long and try again (None: raise :class:`ControllerBusy` naming the
    holder). ``ride_out``: on StoreError (Redis away, or a change refused because the sweep
    changed meanwhile: every change is a compare-and-set, so a retry after a half-done round
    is harmless) back off from RETRY_MIN_S to RETRY_MAX_S and try again, saying it once with
    ``on_outage(line)`` ("Redis at … unreachable for 14 s; retrying") and once more when Redis
    answers again; else raise it. ``on_acquired()`` is called each time the
    lease is taken. A background controller (``controller.background``) also takes no lease
    while a dedicated controller asks for a handover.
    """

    def __init__(
        self,
        controller: Controller,
        *,
        stop: threading.Event | None = None,
        wait_s: float = 0.0,
        standby_s: float | None = None,
        ride_out: bool = False,
        on_acquired: Callable[[], None] | None = None,
        on_outage: Callable[[str], None] | None = None,
    ) -> None:
        if controller.background and standby_s is None:
            raise ValueError("a background controller stands by: give standby_s")
        self.controller = controller
        self.stop = stop if stop is not None else threading.Event()
        self.wait_s = wait_s
        self.standby_s = standby_s
        self.ride_out = ride_out
        self.on_acquired = on_acquired
        self.on_outage = on_outage
        self._seen = False  # the sweep was read once: its vanishing is lost data, not a typo
        self._redis = Outage(controller.store.url, self._say, notice_after=0, back=True)
        self._error: str | None = None  # another error said (said again only if it changes)

    def run(self) -> SweepInfo | None:
        """Until stopped (None) or the sweep is over (the sweep as it ended). Raises
        ControllerBusy, an unridden StoreError, SweepLostError and every other error at once,
        the lease released."""
        backoff = RETRY_MIN_S
        while not self.stop.is_set():
            try:
                over = self._tenure()
            except NotFoundError:
                ctl = self.controller
                lost = ctl.store.sweeps.lost(ctl.sweep_id) if self._seen else None
                if lost is None:
                    raise
                raise lost from None
            except FencedError:
                continue  # another controller took over: stand by, take the lease when free
            except StoreError as exc:
                if not self.ride_out:
                    raise
                self._outage(exc)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, RETRY_MAX_S)
                continue
            if over is not None:
                return over
            backoff = RETRY_MIN_S
        return None

    def _tenure(self) -> SweepInfo | None:
        """Once: the sweep if it is over; else take the lease (or stand by) and run rounds
        until stopped, over or yielded, then release it."""
        ctl = self.controller
        info = ctl.store.sweeps.get(ctl.sweep_id)
        self._answered()
        self._seen = True
        if info.state.is_over:
            return info
        if ctl.background and ctl.store.controllers.handover_requested(ctl.sweep_id):
            self._stand_by()  # a dedicated controller is about to take over
            return None
        try:
            if not ctl.acquire(self.wait_s):
                self._stand_by()
                return None
            if self.on_acquired is not None:
                self.on_acquired()
            while not self.stop.is_set() and ctl.step():
                self._redis.ok()
                if ctl.linger_s:
                    self.stop.wait(ctl.linger_s)
        finally:
            with contextlib.suppress(RedsweepError):
                ctl.release()
        return None

    def _outage(self, error: StoreError) -> None:
        """A round failed on ``error``: say it once (an outage, since when; another error
        while it stays the same); a controller cut off from Redis then gives the agents grace."""
        if isinstance(error, UnreachableError):
            self.controller.note_outage()
            self._redis.failed()
            return
        # a change refused (the sweep changed meanwhile), or a command Redis refused
        if str(error) != self._error:
            self._say(f"{error}; retrying")
        self._error = str(error)

    def _answered(self) -> None:
        """Redis answered: say so once after an outage was said."""
        self._redis.ok()
        self._error = None

    def _say(self, line: str) -> None:
        if self.on_outage is not None:
            self.on_outage(line)

    def _stand_by(self) -> None:
        ctl = self.controller
        if self.standby_s is None:
            holder = ctl.store.controllers.holder(ctl.sweep_id) or "another controller"
            raise ControllerBusy(ctl.sweep_id, holder)
        self.stop.wait(self.standby_s)
        if not ctl.background:
            return
        # an agent's controller looks at the lease alone (one round trip) until it is free:
        # a whole try (the sweep, a handover asked, the lease) costs every idle agent four
        while not self.stop.is_set() and ctl.store.controllers.holder(ctl.sweep_id):
            self.stop.wait(self.standby_s)
