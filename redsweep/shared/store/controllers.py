"""The controller lease: one controller per sweep, fenced by an epoch; handovers.

Part of :mod:`redsweep.shared.store`.
"""

from __future__ import annotations

from redis.exceptions import ResponseError

from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded, text
from redsweep.shared.store.scripts.sweeps import (
    AcquireController,
    ReleaseController,
    RenewController,
    RequestHandover,
)


class Controllers:
    """The one-controller-per-sweep lease, with its fencing epoch, and handovers."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    def acquire(self, sweep_id: str, holder: str, ttl_ms: int) -> int | None:
        """Take the sweep's controller lease for ``ttl_ms``; return the new fencing epoch, or
        None when another holder has it. Asking again as the same holder keeps the epoch."""
        return self._conn.call(AcquireController(sweep_id, holder, ttl_ms))

    def server_run(self) -> str | None:
        """The Redis server's ``run_id`` (INFO server): it changes when the server restarts, so
        a controller can tell that every agent was cut off meanwhile. None where INFO is
        refused (an ACL, a managed service): no restart is seen then."""
        return self.server()[0]

    @guarded
    def server(self) -> tuple[str | None, float]:
        """The Redis server's ``run_id`` and how long it has been up (s): a process that
        first looks at a server that just started cannot tell by the ``run_id`` alone that
        it restarted. ``(None, inf)`` where INFO is refused."""
        try:
            info = self._r.info("server")
        except ResponseError:
            return None, float("inf")
        uptime = info.get("uptime_in_seconds")
        return str(info.get("run_id", "")) or None, float("inf") if uptime is None else uptime

    @guarded
    def holder(self, sweep_id: str) -> str | None:
        """Who holds the sweep's controller lease now (None when nobody)."""
        return text(self._r.get(keys.controller(sweep_id)))

    @guarded
    def lease(self, sweep_id: str) -> tuple[str | None, int]:
        """Who holds the sweep's controller lease and for how many more ms (server time);
        (None, 0) when nobody does. A holder that is alive renews it every third of it."""
        pipe = self._r.pipeline(transaction=False)
        pipe.get(keys.controller(sweep_id))
        pipe.pttl(keys.controller(sweep_id))
        holder, ttl = pipe.execute()
        return text(holder), max(0, int(ttl))

    def renew(self, sweep_id: str, holder: str, epoch: int, ttl_ms: int) -> bool:
        """Extend the lease; False when this holder was fenced (another took over)."""
        return self._conn.call(RenewController(sweep_id, holder, epoch, ttl_ms))

    def release(self, sweep_id: str, holder: str, epoch: int, *, wake: bool = False) -> bool:
        """Give the lease up so another controller may start at once; ``wake``: and wake the
        holder's blocking read of the events (a stopping controller's round ends now)."""
        return self._conn.call(ReleaseController(sweep_id, holder, epoch, wake=wake))

    def request_handover(self, sweep_id: str, holder: str, ttl_ms: int) -> None:
        """Ask a background controller (run by an agent) to give the lease to ``holder``;
        NotFoundError when there is no such sweep."""
        self._conn.call(RequestHandover(sweep_id, holder, ttl_ms))

    @guarded
    def handover_requested(self, sweep_id: str) -> str | None:
        """Who asked for the lease, when a dedicated controller is waiting for it."""
        return text(self._r.get(keys.handover(sweep_id)))
