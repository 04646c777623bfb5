"""When an agent looks at its sweep again, and what it makes of what it sees.

:class:`SweepWatch` re-reads the sweep every :data:`CHECK_EVERY_S` (at once after
:meth:`SweepWatch.look_now`, or not at all when it was just handed a fresh read) and says
whether the session goes on, waits (a paused or pending sweep) or ends, and why. Near the end
of a sweep (it has a ``done_reason``) it keeps the waits on the queue short (from
:data:`ENDING_POP_S`, waited here while shorter than Redis resolves a blocking wait); an idle
agent's waits grow (from :data:`IDLE_FIRST_POP_S` to :data:`IDLE_POP_S`), woken at once by a
trial pushed on the queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store, SweepInfo
from redsweep.worker.agent.result import EndReason

#: How long one pop waits for a trial, and how stale the agent's view of the sweep may get.
POP_TIMEOUT_S = 1.0
#: An idle agent's pops wait longer each time (from IDLE_FIRST_POP_S, see pop_waits), up to this: a
#: blocking pop is woken by the push of a trial, so the wait costs nothing but the sweep
#: being looked at (paused, canceled, done) once per wait instead of once a second.
IDLE_POP_S = 3.0  # below SOCKET_TIMEOUT_S of the session, with room
IDLE_FIRST_POP_S = 0.1  # the first wait on an empty queue while the sweep goes on
#: Redis looks at blocked commands' timeouts ten times a second (``hz`` 10, its default): a
#: blocking pop of 5 ms returns after 100 ms. A shorter wait is waited by the agent instead,
#: and the pop after it does not block.
BLOCK_RESOLUTION_S = 0.1
#: Near the sweep's end, the first wait on an empty queue: no push says that the last trials
#: running elsewhere ended (short trials end within milliseconds), so the agent looks again
#: soon, then twice as long each time up to POP_TIMEOUT_S.
ENDING_POP_S = 0.005
CHECK_EVERY_S = 1.0
#: Waiting on a pending or paused sweep is said after this long.
WAIT_NOTICE_S = 3.0


@dataclass(frozen=True)
class Ending:
    """Why the session ends, with the sweep's ``done_reason`` when the sweep ended it."""

    reason: EndReason
    done_reason: str | None = None


class Look(Enum):
    """What to do when the sweep is not over."""

    GO = "go"  # take a trial
    WAITED = "waited"  # paused or pending: it waited a moment; look again


class SweepWatch:
    """Looks at sweep ``sweep_id``: :meth:`check` says whether the session ends, waits or goes
    on. ``on_read`` gets every read it acts on (the config may have been replaced), ``say``
    its notice of a long wait; waits end early when ``wake`` is set."""

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        *,
        on_read: Callable[[SweepInfo], None],
        say: Callable[[str], None],
        wake: threading.Event,
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._on_read = on_read
        self._say = say
        self._wake = wake
        self._due = True  # look at the sweep before anything else
        self._fresh: SweepInfo | None = None  # a read handed in, to act on instead of reading
        self._checked_at = 0.0
        self._waiting_since: float | None = None
        self._ending = False  # the sweep has a done_reason: no more trials but retries
        self._idle = 0  # empty pops in a row

    def look_now(self) -> None:
        """The sweep may have changed (say, the queue was empty): look at it at the next check
        rather than on the clock."""
        self._due = True

    def saw(self, info: SweepInfo) -> None:
        """A read of the sweep made just now for something else: the next check acts on it."""
        self._fresh = info

    def check(self) -> Ending | Look:
        """Whether the session ends (an :class:`Ending`), waited for a paused or pending sweep
        (:attr:`Look.WAITED`: check again) or takes a trial (:attr:`Look.GO`)."""
        info, self._fresh = self._fresh, None
        if info is None:
            if not self._due and time.monotonic() - self._checked_at < CHECK_EVERY_S:
                return Look.GO
            info = self._store.sweeps.get(self._sweep_id)
        self._due = False
        self._checked_at = now = time.monotonic()
        self._ending = bool(info.done_reason)
        self._on_read(info)
        ending = self._over(info)
        if ending is not None:
            return ending
        if info.state not in (SweepState.PAUSED, SweepState.PENDING):
            self._waiting_since = None
            return Look.GO
        # pending: a controller is about to start it; paused: until resumed
        since = self._waiting_since = self._waiting_since or now
        waited = now - since
        if waited >= WAIT_NOTICE_S > waited - CHECK_EVERY_S:
            self._say(f"sweep {self._sweep_id} is {info.state.value}; waiting")
        self._wake.wait(min(CHECK_EVERY_S, 0.1 + waited / 4))
        self._due = True
        return Look.WAITED

    def pop_waits(self) -> tuple[float, float]:
        """How long to wait before the next pop, and how long the pop itself waits on the
        queue. While the sweep goes on, the pop waits (a push wakes it at once): 0.1 s first,
        then 4 times longer each time up to IDLE_POP_S (0.1, 0.4, 1.6, 3 s: an idle agent soon
        costs next to nothing). Near the end, when only retries may come, the waits double
        from ENDING_POP_S up to POP_TIMEOUT_S, so that an agent whose queue ran dry sees the
        end soon after the last trial elsewhere ended (no push says so); those shorter than
        BLOCK_RESOLUTION_S are waited before a pop that does not block."""
        if self._ending:
            wait = min(POP_TIMEOUT_S, ENDING_POP_S * 2 ** min(self._idle, 8))
            return (wait, 0.0) if wait < BLOCK_RESOLUTION_S else (0.0, wait)
        return 0.0, min(IDLE_POP_S, IDLE_FIRST_POP_S * 4 ** min(self._idle, 4))

    def popped(self, got: bool, sweep: SweepInfo | None = None) -> None:
        """What a pop gave; nothing: look at the sweep again before waiting on the queue (at
        ``sweep``, when the pop read it after its wait; else read it)."""
        if got:
            self._idle = 0
        else:
            self._idle += 1
            self._due = True
            if sweep is not None:
                self._fresh = sweep

    def _over(self, info: SweepInfo) -> Ending | None:
        """Why the sweep is over for this agent (None while it is not)."""
        if info.state.is_over:
            return Ending(EndReason.over(info.state), info.done_reason or None)
        # no more trials will be issued; but while a trial runs elsewhere it may still crash
        # and be issued again, so stay until nothing is pending or running, and until the
        # controller has handled every crash (a crashed trial's retry is added just after it)
        done = (
            info.done_reason
            and not info.count(RunState.PENDING, RunState.RUNNING)
            and info.count(RunState.CRASHED) <= info.crashes_handled
        )
        if done and self._store.queue.length(self._sweep_id) == 0:
            return Ending(EndReason.SWEEP_DONE, info.done_reason)
        return None
