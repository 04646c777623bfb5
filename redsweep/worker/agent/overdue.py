"""A one-shot alarm, re-armed for each trial: calls its action when a trial outlasts a time.

An agent running short trials holds the next trial claimed while it runs the current one
(:mod:`~redsweep.worker.agent.hand`). When the current one turns out long, the held trial must
not wait for it: :class:`Overdue` calls the hand back from its own thread, and the hand gives
the held trial back to the queue for an idle agent to run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Overdue:
    """Calls ``action`` (from a thread of its own) once ``after_s`` passed since :meth:`arm`,
    unless :meth:`disarm` came first. Arming and disarming cost a lock each: the thread sleeps
    until the earliest deadline it knows of and re-checks, so short trials wake it at most
    once per ``after_s``."""

    def __init__(self, action: Callable[[], None], after_s: float) -> None:
        self._action = action
        self._after_s = float(after_s)
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._idle = False  # the thread waits with no deadline: arming must wake it
        self._closed = False
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        """Call the action ``after_s`` from now (replacing any deadline armed before)."""
        with self._cond:
            self._deadline = time.monotonic() + self._after_s
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="redsweep-overdue", daemon=True
                )
                self._thread.start()
            elif self._idle:
                self._cond.notify()

    def disarm(self) -> None:
        """No action for the deadline armed last."""
        with self._cond:
            self._deadline = None

    def close(self) -> None:
        """Stop the thread (an action running now finishes first)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                if self._deadline is None:
                    self._idle = True
                    self._cond.wait()
                    self._idle = False
                    continue
                left = self._deadline - time.monotonic()
                if left > 0:
                    self._cond.wait(left)
                    continue
                self._deadline = None
                self._cond.release()
                try:
                    self._action()
                finally:
                    self._cond.acquire()
