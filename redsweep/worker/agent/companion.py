"""An agent's background controller: started when no controller holds the sweep, and given a
moment at the end to mark a done sweep finished; and a pending sweep's first trial, queued.

An agent runs its sweep's controller in a thread of its own when nobody else does
(:mod:`redsweep.controller.background`), holding the controller lease for the agent's lease,
so both lapse as soon after the agent dies; a dedicated controller that comes later is handed
the sweep over.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from redsweep.errors import UnreachableError
from redsweep.shared.records import RunState, SweepConfig
from redsweep.shared.store import Store, SweepInfo

if TYPE_CHECKING:
    from redsweep.controller.background import BackgroundController

#: How long an agent that ends with its sweep waits for the controller to mark it finished.
FINISH_WAIT_S = 3.0


def start_controller(
    url: str,
    sweep_id: str,
    on_error: Callable[[BaseException], None],
    lease_ms: int,
    retries: int | None = None,
) -> BackgroundController | None:
    """Start a controller in a background thread when none holds the sweep's lease (holding
    it for ``lease_ms``, the agent's lease: both lapse as soon after the agent dies); None
    when this installation has no controller (a separate controller process must run)."""
    try:
        from redsweep.controller.background import start_background
    except ImportError as exc:
        if exc.name not in ("redsweep.controller.background", None):
            raise
        return None
    return start_background(url, sweep_id, on_error=on_error, lease_ms=lease_ms, retries=retries)


class Companion:
    """An agent's background controller, started once when first asked (:meth:`start`): after
    the session's first pop, so that a queued first trial waits for no controller start-up."""

    def __init__(
        self,
        url: str,
        sweep_id: str,
        on_error: Callable[[BaseException], None],
        lease_ms: int,
        retries: int | None = None,
    ) -> None:
        self._args = (url, sweep_id, on_error, lease_ms, retries)
        self.due = True  # not asked yet
        self.controller: BackgroundController | None = None

    def start(self) -> None:
        """Start the controller (:func:`start_controller`), the first time only."""
        if self.due:
            self.due = False
            self.controller = start_controller(*self._args)


def queue_first(store: Store, sweep_id: str, config: SweepConfig) -> SweepInfo | None:
    """Start a pending grid or random sweep with its first trial queued, at once
    (:mod:`redsweep.controller.first`); the sweep then, or None when it was not for us."""
    try:
        from redsweep.controller.first import queue_first as queue
    except ImportError as exc:  # no controller in this installation (see start_controller)
        if exc.name not in ("redsweep.controller.first", None):
            raise
        return None
    return queue(store, sweep_id, config)


def let_controller_finish(
    store: Store,
    sweep_id: str,
    controller: BackgroundController,
    wake: threading.Event,
    stopped: Callable[[], bool],
) -> SweepInfo | None:
    """The sweep is done and nothing of it runs: give the controller this agent may be
    running a moment to mark it finished before it is stopped (not one that failed, nor
    once ``stopped()``); the sweep as it ended, if it did."""
    deadline = time.monotonic() + FINISH_WAIT_S
    pause = 0.005  # the controller marks it within milliseconds, usually: look soon, then less
    while time.monotonic() < deadline and not stopped():
        if controller.failed:
            return None
        try:
            info = store.sweeps.get(sweep_id)
        except UnreachableError:
            return None  # Redis away: the controller finishes it later
        if info.state.is_over:
            return info
        if info.count(RunState.RUNNING, RunState.PENDING):
            return None  # other agents still run trials; their controllers finish it
        wake.wait(pause)
        pause = min(2 * pause, 0.05)
    return None
