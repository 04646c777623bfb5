"""A controller's hold on its sweep: the lease with its fencing epoch, and handovers.

One controller runs per sweep, by a lease in Redis (``store.controllers``). Holders are named
``ctl:HOST:PID:RANDOM`` (a dedicated controller) or ``bg:HOST:PID:RANDOM`` (an agent's
background controller); a dedicated controller asks a background one to hand the lease over,
and the background one gives it up at its next round (:meth:`Lease.handover_asked`).
"""

from __future__ import annotations

import os
import socket
import time
import uuid

from redsweep.errors import FencedError, RedsweepError
from redsweep.shared.store import Store

LEASE_MS = 10_000
BACKGROUND = "bg:"  # how a background controller's holder name starts
HANDOVER_EVERY_S = 0.5  # how often a background controller looks for a handover request


class ControllerBusy(RedsweepError):
    """Another controller holds the sweep's lease."""

    def __init__(self, sweep_id: str, holder: str) -> None:
        self.holder = holder
        super().__init__(f"sweep {sweep_id} already has a controller: {holder}")


def holder_name(background: bool = False) -> str:
    """Who a controller is, as shown to users: ``ctl:HOST:PID:RANDOM``."""
    kind = BACKGROUND if background else "ctl:"
    return f"{kind}{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Lease:
    """The lease of sweep ``sweep_id`` as one holder takes, renews and releases it.

    ``epoch`` is the fencing epoch while held, else None. A background holder never asks for
    a handover; a dedicated one asks background holders for theirs.
    """

    def __init__(
        self, store: Store, sweep_id: str, *, background: bool = False, lease_ms: int = LEASE_MS
    ) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.background = background
        self.holder = holder_name(background)
        self.lease_ms = lease_ms
        self.epoch: int | None = None
        self._next_renew = 0.0
        self._handover_at = float("-inf")

    def take(self, wait_s: float = 0.0) -> bool:
        """Take the lease, waiting up to ``wait_s``; False when another holder keeps it.

        A dedicated holder asks a background holder to hand the lease over (and waits up to two
        lease periods for it); another dedicated holder it waits for only until it sees it renew
        the lease (it is alive then: no use waiting for the lease to lapse).
        """
        controllers = self.store.controllers
        deadline = time.monotonic() + wait_s
        seen: tuple[str, int] | None = None  # (holder, ttl) when last looked
        while True:
            epoch = controllers.acquire(self.sweep_id, self.holder, self.lease_ms)
            if epoch is not None:
                break
            holder, ttl = controllers.lease(self.sweep_id)
            holder = holder or ""
            if not self.background and holder.startswith(BACKGROUND):
                controllers.request_handover(self.sweep_id, self.holder, self.lease_ms * 3)
                deadline = max(deadline, time.monotonic() + self.lease_ms * 2 / 1000)
            elif seen is not None and seen[0] == holder and ttl > seen[1]:
                return False  # the holder renewed its lease since we last looked: alive
            seen = (holder, ttl)
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        self.epoch = epoch
        self._next_renew = time.monotonic() + self.lease_ms / 3000
        self._handover_at = float("-inf")
        return True

    def renew(self) -> None:
        """Renew the lease every third of it; FencedError when another holder took over."""
        if time.monotonic() < self._next_renew:
            return
        epoch = self.current()
        if not self.store.controllers.renew(self.sweep_id, self.holder, epoch, self.lease_ms):
            self.epoch = None
            raise FencedError(f"controller {self.holder} lost the lease of sweep {self.sweep_id}")
        self._next_renew = time.monotonic() + self.lease_ms / 3000

    def release(self) -> None:
        """Give the lease up (once: a release that fails is not tried again, the lease then
        lapses by itself)."""
        epoch, self.epoch = self.epoch, None
        if epoch is not None:
            self.store.controllers.release(self.sweep_id, self.holder, epoch)

    def current(self) -> int:
        """The epoch held; FencedError when none is."""
        if self.epoch is None:
            raise FencedError(f"controller {self.holder} holds no lease")
        return self.epoch

    def handover_asked(self) -> bool:
        """Whether a dedicated controller asked for the lease (looked at every
        HANDOVER_EVERY_S: a handover may wait that long, a round trip per round is dearer)."""
        now = time.monotonic()
        if now < self._handover_at + HANDOVER_EVERY_S:
            return False
        self._handover_at = now
        return self.store.controllers.handover_requested(self.sweep_id) is not None
