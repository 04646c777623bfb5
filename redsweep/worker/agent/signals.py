"""An agent's signal handling, as W&B's agent: the first SIGINT/SIGTERM lets the current trial
finish and then exits, the second terminates the trial, the third kills it.

A mixin of :class:`~redsweep.worker.agent.session.AgentSession` (which owns ``_signals``,
``_interrupted``, ``_runner``, ``_progress`` and ``_handoff``); handlers are installed in the
main thread only.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any


class SignalsMixin:
    """Counts SIGINT/SIGTERM and acts on the running trial accordingly."""

    _signals: int
    _interrupted: threading.Event
    _runner: Any
    _progress: Any
    _handoff: Any

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, self._on_signal)
        return previous

    def _say(self, text: str) -> None:
        # from a signal handler, maybe while the main thread is inside write(): never raise
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            self._progress.message(text)

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals += 1
        self._interrupted.set()
        handoff = self._handoff
        if handoff is not None:  # the trial's finish must not take the next one
            handoff.take = False
        runner = self._runner
        busy = runner is not None and runner.running
        name = signal.Signals(signum).name
        if self._signals == 1:
            then = "finishing the current trial, then exiting" if busy else "exiting"
            self._say(f"{name}: {then} (again to stop the trial)")
        elif not busy:
            raise KeyboardInterrupt
        elif self._signals == 2:
            self._say(f"{name}: stopping the current trial (again to kill it)")
            runner.interrupt(hard=False)  # type: ignore[union-attr]
        else:
            self._say(f"{name}: killing the current trial")
            runner.interrupt(hard=True)  # type: ignore[union-attr]
