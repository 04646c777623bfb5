"""An agent's signal handling, as W&B's agent: the first SIGINT/SIGTERM lets the current trial
finish and then exits, the second terminates the trial, the third kills it. With
``--forward-signals`` (W&B's ``-f``) the first goes on to the trial at once, the second kills it.

:class:`Signals` counts them and acts on the trial through :class:`Interruptible` (the trial
runner); it says what it does through ``say``. Handlers are installed in the main thread only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol


class Interruptible(Protocol):
    """What the signals act on: the agent's trial runner."""

    @property
    def running(self) -> bool: ...

    def interrupt(self, hard: bool) -> None: ...


class Signals:
    """Counts SIGINT/SIGTERM and acts on the running trial accordingly: the first lets it
    finish (and wakes :attr:`wake`), the second stops it, the third kills it. Without a trial
    running, a second signal raises KeyboardInterrupt."""

    def __init__(
        self, trial: Interruptible, say: Callable[[str], None], *, forward: bool = False
    ) -> None:
        self._trial = trial
        self._say = say
        self._count = 0
        #: W&B's --forward-signals: the first signal goes on to the trial at once (it is
        #: stopped, SIGTERM, then SIGKILL after the grace), the second kills it
        self._forward = forward
        #: set by the first signal: waits of the session end at once
        self.wake = threading.Event()

    @property
    def received(self) -> int:
        """How many signals came (0: none)."""
        return self._count

    @contextlib.contextmanager
    def installed(self) -> Iterator[Signals]:
        """Handle SIGINT and SIGTERM in the block (main thread only; elsewhere: nothing)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {sig: signal.signal(sig, self.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle(self, signum: int, frame: Any) -> None:
        self._count += 1
        self.wake.set()
        trial = self._trial
        busy = trial.running
        name = signal.Signals(signum).name
        if self._forward and busy and self._count <= 2:
            if self._count == 1:
                self._tell(f"{name}: passed on to the current trial, then exiting (again to kill)")
                trial.interrupt(hard=False)
            else:
                self._tell(f"{name}: killing the current trial")
                trial.interrupt(hard=True)
            return
        if self._count == 1:
            then = "finishing the current trial, then exiting" if busy else "exiting"
            self._tell(f"{name}: {then} (again to stop the trial)")
        elif not busy:
            raise KeyboardInterrupt
        elif self._count == 2:
            self._tell(f"{name}: stopping the current trial (again to kill it)")
            trial.interrupt(hard=False)
        else:
            self._tell(f"{name}: killing the current trial")
            trial.interrupt(hard=True)

    def _tell(self, text: str) -> None:
        # from a signal handler, maybe while the main thread is inside write(): never raise
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            self._say(text)
