"""An agent's heartbeat: a thread that says every :data:`HEARTBEAT_S` that the agent lives
(every :data:`IDLE_HEARTBEAT_S` while it runs no trial),
whether it runs a trial and how many more it will start; at once when it starts or ends one.
While a trial runs, it also notices a canceled sweep (whose cancel killed the trial). When the
sweep is gone (Redis lost it) it stops beating: the session finds that out and says so.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable

from redsweep.errors import NotFoundError, RedsweepError, UnreachableError
from redsweep.shared.records import SweepState
from redsweep.shared.store import Store
from redsweep.shared.store.outage import Outage
from redsweep.worker.api.run import host

#: How often the agent says it is alive, and for how long each heartbeat counts.
HEARTBEAT_S = 1.0
HEARTBEAT_TTL_MS = 5_000
#: How often an idle agent (no trial running) beats: a busy flip still beats at once, and the
#: controller reads who is idle only to size the queue, so a slower beat costs nothing there.
IDLE_HEARTBEAT_S = 2.0
MIN_BEAT_GAP_S = 0.2


class Heartbeat:
    """Beats for agent ``agent_id`` of sweep ``sweep_id``; ``remaining`` says how many more
    trials it will start (None: no count), ``on_canceled`` is called (from the heartbeat
    thread) when the sweep is canceled while a trial runs. A beat Redis did not answer is
    told to ``outage`` (which says a long outage once), any other failure printed."""

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        agent_id: str,
        *,
        remaining: Callable[[], int | None],
        on_canceled: Callable[[], None],
        outage: Outage | None = None,
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._agent_id = agent_id
        self._remaining = remaining
        self._on_canceled = on_canceled
        self._outage = outage
        self._busy = False
        self._stop = threading.Event()
        self._now = threading.Event()
        self._thread = threading.Thread(target=self._main, name="redsweep-heartbeat", daemon=True)

    def start(self) -> None:
        """One beat now (errors raise), then the thread."""
        self.beat()
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._now.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def busy(self, busy: bool) -> None:
        """The agent starts (True) or ended (False) a trial: said at once."""
        self._busy = busy
        self._now.set()

    def beat(self) -> None:
        self._store.agents.heartbeat(
            self._sweep_id,
            self._agent_id,
            HEARTBEAT_TTL_MS,
            busy=self._busy,
            host=host(),
            remaining=self._remaining(),
        )

    def _main(self) -> None:
        while not self._stop.is_set():
            self._now.wait(HEARTBEAT_S if self._busy else IDLE_HEARTBEAT_S)
            self._now.clear()
            if self._stop.is_set():
                return
            try:
                self.beat()
                if self._outage is not None:
                    self._outage.ok()
                if self._busy and self._store.sweeps.state(self._sweep_id) is SweepState.CANCELED:
                    self._on_canceled()  # the cancel killed its trial: stop it now
            except NotFoundError:
                return  # the sweep is gone: nothing to beat for (the session says so)
            except UnreachableError as exc:
                if self._outage is None:
                    print(f"redsweep: agent heartbeat failed: {exc}", file=sys.stderr)
                else:
                    self._outage.failed()
            except RedsweepError as exc:
                print(f"redsweep: agent heartbeat failed: {exc}", file=sys.stderr)
            self._stop.wait(MIN_BEAT_GAP_S)  # busy flips of short trials: a few beats a second
