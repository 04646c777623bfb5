"""A trial's time limit: the agent's ``--trial-timeout`` (``redsweep.agent(trial_timeout=)``),
else the sweep config's ``redsweep: {trial_timeout: S}``.

When it passes, the trial is stopped the way the second Ctrl+C stops it, and it ends
``failed`` with an error naming the timeout (not retried: only crashes are). A timer thread
asks the trial's link to stop: the runner's watch of a child (command or forked function) then
sends SIGTERM to its process group, SIGKILL after the grace period, and a function's next
``log()`` raises StopTrial. A function running in the main thread also gets StopTrial raised
into it by SIGALRM, and again every grace period while it runs on; in another thread no
signal can reach it, so it stops at its next ``log()`` (or runs until it returns, then fails).

The same alarm handler stops a function in the main thread that is fenced (its lease could
not be renewed, :mod:`redsweep.worker.trial.fence`): :meth:`TrialDeadline.interrupt` sends
SIGALRM to the main thread while the function runs there.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from types import TracebackType
from typing import Any

from redsweep.shared.records import RunState
from redsweep.worker.api.ending import StopTrial
from redsweep.worker.api.link import TrialLink

#: Where a limit came from, as the error names it.
OPTION = "--trial-timeout"
CONFIG_KEY = "redsweep.trial_timeout in the sweep config"


def check_timeout(value: Any, what: str = "trial_timeout") -> float:
    """``value`` as seconds if it is a positive finite number; ValueError saying so if not."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)


class TrialDeadline:
    """The limit of the runner's trials: ``seconds`` (the agent's option) overrides the
    config's, given to each :meth:`start`. ``expired`` says the running trial outlived it."""

    def __init__(self, seconds: float | None, grace_s: float) -> None:
        self.option = None if seconds is None else check_timeout(seconds)
        self.grace_s = grace_s
        self.seconds: float | None = None
        self.origin = OPTION
        self.expired = False
        self._link: TrialLink | None = None
        self._timer: threading.Timer | None = None
        self._started = 0.0
        self._armed = False  # an _Alarm's handler is installed (around a function call)

    @property
    def error(self) -> str:
        return f"timed out after {self.seconds:g} s ({self.origin})"

    def start(self, link: TrialLink, config_seconds: float | None) -> None:
        """The trial of ``link`` starts now: arm its limit, if it has one."""
        self.expired = False
        self._link = link
        self.seconds, self.origin = (
            (self.option, OPTION) if self.option is not None else (config_seconds, CONFIG_KEY)
        )
        if self.seconds is None:
            return
        self._started = time.monotonic()
        self._timer = threading.Timer(self.seconds, self._expire, args=(link,))
        self._timer.daemon = True
        self._timer.start()

    def end(self, state: RunState, error: str | None) -> tuple[RunState, str | None]:
        """The trial ended as ``state``: disarm; ``failed`` naming the limit if it timed out."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._link = None
        return (RunState.FAILED, self.error) if self.expired else (state, error)

    def alarm(self) -> _Alarm:
        """Around a function called in this process: StopTrial raised into it at the limit
        (main thread only; elsewhere this does nothing)."""
        return _Alarm(self)

    def interrupt(self) -> bool:
        """Raise StopTrial into the function running in the main thread now, if one runs
        under :meth:`alarm` (from any thread); whether it was sent."""
        if not self._armed:
            return False
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)
        return True

    def _expire(self, link: TrialLink) -> None:
        if self._link is not link or link.stopping or link.lost:
            return  # a later trial's, or stopping already for another reason
        self.expired = True
        link.request_stop(self.error)

    def _left(self) -> float:
        assert self.seconds is not None
        return self.seconds - (time.monotonic() - self._started)


class _Alarm:
    """SIGALRM at the deadline, then every grace period, raising StopTrial while active."""

    def __init__(self, deadline: TrialDeadline) -> None:
        self._deadline = deadline
        self._armed = False  # the handler and timer are ours
        self._active = False  # and an alarm raises
        self._previous: Any = None

    def __enter__(self) -> _Alarm:
        deadline = self._deadline
        if threading.current_thread() is not threading.main_thread():
            return self
        self._previous = signal.signal(signal.SIGALRM, self._fire)
        self._armed = self._active = deadline._armed = True
        if deadline.seconds is not None:
            signal.setitimer(signal.ITIMER_REAL, max(deadline._left(), 0.001), deadline.grace_s)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._armed:
            return
        try:
            self._active = self._deadline._armed = False  # an alarm from here raises nothing
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            previous = self._previous
            signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
            self._armed = False

    def _fire(self, signum: int, frame: Any) -> None:
        if not self._active:
            return
        deadline = self._deadline
        link = deadline._link
        if not deadline.expired and link is not None and link.lost:
            raise StopTrial(link.why())  # fenced (interrupt): stop now
        if deadline.seconds is None:
            return
        if not deadline.expired and link is not None and link.stopping:
            return  # stopping already for another reason: that one says how it ended
        deadline.expired = True
        raise StopTrial(deadline.error)
