"""An agent's controller: the sweep's controller in a daemon thread of an agent process.

It stands by while another controller holds the sweep's lease, runs rounds whenever none does
(so the quickstart needs no second process), hands the lease over to a dedicated ``redsweep
controller`` that asks for it, and rides out Redis outages with a back-off.
"""

from __future__ import annotations

import contextlib
import threading

from redsweep.controller.controller import LEASE_MS, Controller
from redsweep.errors import FencedError, StoreError
from redsweep.shared.records import SweepState
from redsweep.shared.store import Store

RETRY_MIN_S, RETRY_MAX_S = 0.5, 5.0  # the back-off while Redis is away
_OVER = (SweepState.FINISHED, SweepState.CANCELED)


class BackgroundController:
    """A controller in a daemon thread of an agent: it runs the sweep's controller whenever no
    other controller holds the lease, and yields to a dedicated controller process."""

    def __init__(self, url: str, sweep_id: str, *, lease_ms: int = LEASE_MS) -> None:
        self.url = url
        self.sweep_id = sweep_id
        self.lease_ms = lease_ms
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._main, name=f"redsweep-controller-{sweep_id}", daemon=True
        )
        self.error: BaseException | None = None

    def start(self) -> BackgroundController:
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and release the lease so another agent's controller can take over at once."""
        self._stop.set()
        self._thread.join(timeout)

    def _main(self) -> None:
        store = Store.from_url(self.url)
        backoff = RETRY_MIN_S
        try:
            while not self._stop.is_set():
                try:
                    if self._serve(store):
                        return
                    backoff = RETRY_MIN_S
                except FencedError:
                    continue  # another controller took over: stand by again
                except StoreError:
                    # Redis is away (restarting, a network blip): the agent goes on retrying its
                    # own calls, and so does this thread; every change is a CAS, so a retry
                    # after a half-done round is harmless
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, RETRY_MAX_S)
        except BaseException as exc:  # a bug: reported by the agent, never kills the agent
            self.error = exc
        finally:
            store.close()

    def _serve(self, store: Store) -> bool:
        """Stand by until the lease is free, then run rounds; True once the sweep is over."""
        if store.get_sweep(self.sweep_id).state in _OVER:
            return True
        controller = Controller(store, self.sweep_id, background=True, lease_ms=self.lease_ms)
        if store.handover_requested(self.sweep_id) or not controller.acquire():
            self._stop.wait(self.lease_ms / 4000)
            return False
        try:
            while not self._stop.is_set() and controller.step():
                pass
        finally:
            if controller.epoch is not None:
                with contextlib.suppress(StoreError):
                    controller.release()
        return False


def start_background(url: str, sweep_id: str, *, lease_ms: int = LEASE_MS) -> BackgroundController:
    """Run the sweep's controller in a background thread whenever no other controller does."""
    return BackgroundController(url, sweep_id, lease_ms=lease_ms).start()
