"""An agent's controller: the sweep's controller in a daemon thread of an agent process.

It stands by while another controller holds the sweep's lease, runs rounds whenever none does
(so the quickstart needs no second process), hands the lease over to a dedicated ``redsweep
controller`` that asks for it, and rides out Redis outages with a back-off (all by
:class:`~redsweep.controller.lifecycle.Lifecycle`). Any other failure ends the thread at once
and is handed to ``on_error``: a bug must not leave the sweep silently without a controller.
A sweep Redis lost ends it quietly (``lost``): the agent finds that out itself and says so.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from redsweep.controller.lease import LEASE_MS
from redsweep.errors import RedsweepError, SweepLostError
from redsweep.shared.store import Store

if TYPE_CHECKING:
    from redsweep.controller.controller import Controller


class BackgroundController:
    """A controller in a daemon thread of an agent: it runs the sweep's controller whenever no
    other controller holds the lease, and yields to a dedicated controller process.

    When it fails (with anything but Redis being away or another controller taking over),
    ``error`` is set, ``failed`` is True, the lease is released and ``on_error(error)`` is
    called from the controller's thread, which then ends.
    """

    def __init__(
        self,
        url: str,
        sweep_id: str,
        *,
        lease_ms: int = LEASE_MS,
        on_error: Callable[[BaseException], None] | None = None,
        retries: int | None = None,
    ) -> None:
        self.url = url
        self.retries = retries
        self.sweep_id = sweep_id
        self.lease_ms = lease_ms
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name=f"redsweep-controller-{sweep_id}", daemon=True
        )
        self.error: BaseException | None = None
        self.lost: SweepLostError | None = None  # Redis lost the sweep: it ended quietly
        self._store: Store | None = None  # the thread's, while it runs
        self._controller: Controller | None = None

    @property
    def failed(self) -> bool:
        """Whether the controller failed (``error`` says how); it runs no more then."""
        return self.error is not None

    @property
    def alive(self) -> bool:
        """Whether the controller's thread still runs (standing by or running rounds)."""
        return self._thread.is_alive()

    def start(self) -> BackgroundController:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and release the lease so another agent's controller can take over at once.
        The lease is released from here, in the same round trip as a wake of the thread's
        blocking read of the events: stopping does not wait out the thread's round."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._release_now()
            self._thread.join(timeout)

    def _release_now(self) -> None:
        """Release the lease the thread holds (a compare-and-set on holder and epoch: harmless
        when the thread released it first) and wake its read. Its next change, if any, is
        refused as fenced, and it ends; its own release then finds nothing to release."""
        store, controller = self._store, self._controller
        epoch = controller.epoch if controller is not None else None
        if store is None or controller is None or epoch is None:
            return
        with contextlib.suppress(RedsweepError):
            store.controllers.release(self.sweep_id, controller.holder, epoch, wake=True)

    def _main(self) -> None:
        store: Store | None = None
        try:
            # imported here, in the controller's thread: the agent's first trial starts meanwhile
            from redsweep.controller.controller import Controller
            from redsweep.controller.lifecycle import Lifecycle

            store = self._store = Store.from_url(self.url)
            controller = self._controller = Controller(
                store, self.sweep_id, background=True, lease_ms=self.lease_ms, retries=self.retries
            )
            Lifecycle(
                controller, stop=self._stop, standby_s=self.lease_ms / 4000, ride_out=True
            ).run()
        except SweepLostError as exc:
            self.lost = exc
        except BaseException as exc:  # a bug: said at once, never kills the agent
            self.error = exc
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            self._controller = None
            if store is not None:
                store.close()


def start_background(
    url: str,
    sweep_id: str,
    *,
    on_error: Callable[[BaseException], None] | None = None,
    lease_ms: int = LEASE_MS,
    retries: int | None = None,
) -> BackgroundController:
    """Run the sweep's controller in a background thread whenever no other controller does;
    ``on_error`` as :class:`BackgroundController`; ``retries`` as :class:`Controller`."""
    return BackgroundController(
        url, sweep_id, lease_ms=lease_ms, on_error=on_error, retries=retries
    ).start()
