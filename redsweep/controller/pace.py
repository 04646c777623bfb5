"""How fast a sweep's trials end, and what the controller makes of it: how many trials to keep
queued beyond the idle agents, and whether to pause between rounds."""

from __future__ import annotations

import collections
import math
import time
from collections.abc import Iterable
from typing import Any

from redsweep.shared.records import Method

#: a prefetch of about PREFETCH_S worth of trials at the rate of the last RATE_WINDOW_S
PREFETCH_S, RATE_WINDOW_S, MAX_PREFETCH = 0.05, 1.0, 256
#: the shortest span a rate is measured over (a sweep's first ends come in a burst)
MIN_SPAN_S = 0.1
#: a finish says how long its trial took in whole ms: a shorter trial counts as this long
TOOK_FLOOR_S = 0.001
#: A pause after a round that found events while trials were queued: the next round takes
#: the ends of many short trials at once (the prefetch covers it)
LINGER_S = 0.01


class Pace:
    """The ends of the last RATE_WINDOW_S, for a sweep searched by ``method``."""

    def __init__(self, method: Method) -> None:
        self.method = method
        #: (when, how many ended, the seconds they took in all, how many of them said so)
        self._ends: collections.deque[tuple[float, int, float, int]] = collections.deque()

    def ended(self, n: int, now: float | None = None, took_ms: Iterable[Any] = ()) -> None:
        """``n`` trials ended now (``time.monotonic()``, unless given); ``took_ms``: how long
        those that said so ran (their finish events' ``took_ms``)."""
        if n:
            took = [int(t) for t in took_ms if t not in (None, b"", "")]
            when = time.monotonic() if now is None else now
            self._ends.append((when, n, sum(took) / 1000, len(took)))

    def prefetch(self, agents: int, now: float | None = None) -> int:
        """Trials kept queued beyond the idle agents: grid and random keep a few per agent,
        more while trials end fast (about PREFETCH_S worth), so that no agent waits for the
        controller between two short trials; bayes waits for results to suggest better ones.

        The rate is the ends of the last RATE_WINDOW_S over the time they span (at least
        MIN_SPAN_S), not over the whole window: a sweep's first second would otherwise count
        as slow as the part of it that has passed, and a sweep of 1,000 short trials ends
        within it, its agents finding the queue dry one trial in ten. Nor is it less than
        the agents could reach at the trials' own durations (``agents`` over how long the
        recent ones took): known from the first ends, when their rate over MIN_SPAN_S is not
        (a sweep of short trials took ~75 ms to reach its pace)."""
        if self.method is Method.BAYES:
            return 0
        now = time.monotonic() if now is None else now
        while self._ends and self._ends[0][0] < now - RATE_WINDOW_S:
            self._ends.popleft()
        rate = 0.0
        if self._ends:
            span = min(RATE_WINDOW_S, max(MIN_SPAN_S, now - self._ends[0][0]))
            rate = sum(e[1] for e in self._ends) / span
            said = sum(e[3] for e in self._ends)
            if said:
                took = max(TOOK_FLOOR_S, sum(e[2] for e in self._ends) / said)
                rate = max(rate, agents / took)
        return min(MAX_PREFETCH, max(4 + 2 * agents, math.ceil(rate * PREFETCH_S)))

    def linger(self, had_events: bool, queued: int) -> float:
        """How long to pause before the next round: LINGER_S after a round that found events
        while trials were queued (never for bayes, whose suggestions wait for results)."""
        if had_events and queued and self.method is not Method.BAYES:
            return LINGER_S
        return 0.0
