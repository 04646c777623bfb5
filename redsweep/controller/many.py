"""``redsweep controller --all [--project P]``: the controllers of every active sweep.

One thread per sweep that is not finished or canceled, each running that sweep's
:class:`~redsweep.controller.controller.Controller` under the sweep's own lease (so two
``--all`` processes on two hosts share the work, and either takes over what the other leaves),
and a scan that picks up sweeps as they are created or resumed. Agents' background controllers
hand their sweeps over to it, as to any dedicated controller. A sweep's controller that fails
(a bug, not Redis being away) says so with its traceback and is not started again here: agents'
background controllers take the sweep over. A sweep that Redis lost (restarted without
persistence, flushed) is said in one line and ends the process with exit status 1 (see
:attr:`ManyControllers.lost`): Redis lost its data, someone should look.
"""

from __future__ import annotations

import sys
import threading
import traceback
from typing import TextIO

from redsweep.controller.controller import LEASE_MS, Controller
from redsweep.controller.lifecycle import Lifecycle, describe
from redsweep.errors import NotFoundError, RedsweepError, SweepLostError, UnreachableError
from redsweep.shared.store import Store
from redsweep.shared.store.outage import Outage

#: How often the list of sweeps is read for new ones (s).
SCAN_S = 1.0


class ManyControllers:
    """Run the controller of every active sweep (of ``project``, when given) until ``stop``."""

    def __init__(
        self,
        url: str,
        *,
        project: str | None = None,
        lease_ms: int = LEASE_MS,
        out: TextIO | None = None,
        retries: int | None = None,
    ) -> None:
        self.url = url
        self.retries = retries
        self.project = project
        self.lease_ms = lease_ms
        self.out = out if out is not None else sys.stderr
        self._threads: dict[str, threading.Thread] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._failed: set[str] = set()  # sweeps whose controller failed here (not restarted)
        #: sweeps Redis lost while they were controlled here (the run ends then)
        self.lost: list[SweepLostError] = []

    def run(self, stop: threading.Event | None = None) -> None:
        """Scan and run controllers until ``stop`` is set; release every lease on the way out."""
        if stop is not None:
            self._stop = stop
        store = Store.from_url(self.url)
        redis = Outage(store.url, self._say, notice_after=0, back=True)
        failing = False
        try:
            while not self._stop.is_set():
                try:
                    self._scan(store)
                    redis.ok()
                    failing = False
                except UnreachableError:
                    redis.failed()
                except RedsweepError as exc:
                    if not failing:
                        self._say(f"cannot list sweeps: {exc}; retrying")
                    failing = True
                self._stop.wait(SCAN_S)
        finally:
            self._stop.set()
            for thread in list(self._threads.values()):
                thread.join(self.lease_ms / 1000 + 5)
            store.close()

    def running(self) -> list[str]:
        """The sweeps whose controller thread is alive now."""
        with self._lock:
            return sorted(s for s, t in self._threads.items() if t.is_alive())

    def _scan(self, store: Store) -> None:
        for info in store.sweeps.list(self.project):
            if info.state.is_over:
                continue
            with self._lock:
                thread = self._threads.get(info.id)
                if info.id in self._failed or (thread is not None and thread.is_alive()):
                    continue
                thread = threading.Thread(
                    target=self._serve, args=(info.id,), name=f"redsweep-ctl-{info.id}", daemon=True
                )
                self._threads[info.id] = thread
            thread.start()

    def _serve(self, sweep_id: str) -> None:
        """Control one sweep until it is over (taking the lease whenever it is free); a
        controller that fails says so and is not started again by this process."""
        store = Store.from_url(self.url)
        announced = False

        def acquired() -> None:
            nonlocal announced
            if not announced:
                self._say(f"controlling sweep {sweep_id}")
                announced = True

        try:
            controller = Controller(store, sweep_id, lease_ms=self.lease_ms, retries=self.retries)
            info = Lifecycle(
                controller,
                stop=self._stop,
                standby_s=self.lease_ms / 4000,  # while another controller has it
                ride_out=True,
                on_acquired=acquired,
                on_outage=lambda line: self._say(f"sweep {sweep_id}: {line}"),
            ).run()
            if info is not None and announced:
                reason = f" ({info.done_reason})" if info.done_reason else ""
                self._say(f"sweep {sweep_id} is {info.state.value}{reason}")
        except NotFoundError:
            return
        except SweepLostError as exc:
            with self._lock:
                self.lost.append(exc)
            self._say(str(exc))
            self._stop.set()
        except Exception as exc:
            with self._lock:
                self._failed.add(sweep_id)
            said = f"sweep {sweep_id}: the controller failed: {describe(exc)}"
            if not isinstance(exc, RedsweepError):  # a bug: where it happened
                said += "\n" + "".join(traceback.format_exception(exc)).rstrip()
            self._say(said)
        finally:
            store.close()

    def _say(self, text: str) -> None:
        print(f"redsweep controller: {text}", file=self.out, flush=True)


def run_all(
    url: str,
    *,
    project: str | None = None,
    lease_ms: int = LEASE_MS,
    stop: threading.Event | None = None,
    retries: int | None = None,
) -> None:
    """Run :class:`ManyControllers` in the foreground until ``stop`` (or KeyboardInterrupt)."""
    ManyControllers(url, project=project, lease_ms=lease_ms, retries=retries).run(stop)
