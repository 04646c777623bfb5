"""Riding out a Redis outage: back off, say so in one line, carry on when it returns.

An :class:`Outage` is shared by the threads of one process that talk to one Redis: each
failed call is told to :meth:`Outage.failed`, each answered one to :meth:`Outage.ok`. Once an
outage has lasted ``notice_after`` (default :data:`NOTICE_AFTER_S`) it is said once ("Redis
at URL unreachable for N s; retrying", the URL masked, N from the first failed call); a
blip says nothing. With ``back`` its end is said too ("Redis at URL answers again; carrying
on"), once the outage was said. :meth:`Outage.wait_out` runs a call until Redis answers it.
This is the one place these lines are made: agents, the in-trial API, controllers and worker
daemons all say them through one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from redsweep.errors import UnreachableError

T = TypeVar("T")

#: An outage is said once it has lasted this long.
NOTICE_AFTER_S = 2.0
#: Waits between attempts: the first, and the longest (doubling in between).
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0


class Outage:
    """Whether Redis at ``url`` (masked) answers, as this process sees it; ``say`` gets the
    one line per outage (said once it lasted ``notice_after`` seconds; with ``back``, also
    the line when Redis answers again)."""

    def __init__(
        self,
        url: str,
        say: Callable[[str], None],
        *,
        notice_after: float = NOTICE_AFTER_S,
        back: bool = False,
    ) -> None:
        self.url = url
        self._say = say
        self._notice_after = notice_after
        self._back = back
        self._lock = threading.Lock()
        self._since: float | None = None  # the first failure of the current outage
        self._answered: float | None = None  # the last answer (counted from when said at once)
        self._said = False
        self.begun = 0  # how many outages began (a reader notes that one happened since)

    @property
    def down_for(self) -> float | None:
        """Seconds since the current outage began (None: Redis answers)."""
        since = self._since
        return None if since is None else time.monotonic() - since

    def failed(self) -> None:
        """A call found Redis unreachable: the outage begins, or is said once it is long."""
        with self._lock:
            now = time.monotonic()
            if self._since is None:
                self._since = now
                self.begun += 1
            if self._said or now - self._since < self._notice_after:
                return
            self._said = True
            # said at once (notice_after 0): the outage began after the last answer, and its
            # first call may have taken long to fail
            since = self._since if self._answered is None or self._notice_after else self._answered
            waited = now - since
        self._say(f"Redis at {self.url} unreachable for {waited:.0f} s; retrying")

    def ok(self) -> None:
        """A call was answered: the outage (if any) is over (said, with ``back``)."""
        if not self._notice_after:
            self._answered = time.monotonic()
        if self._since is None:
            return
        with self._lock:
            said = self._said and self._since is not None
            self._since = None
            self._said = False
        if said and self._back:
            self._say(f"Redis at {self.url} answers again; carrying on")

    def wait_out(
        self,
        call: Callable[[], T],
        wake: threading.Event | None = None,
        max_backoff: float = MAX_BACKOFF_S,
    ) -> T:
        """``call()`` again and again until it does not raise UnreachableError, backing off
        (at most ``max_backoff`` between tries); what it returned. Once ``wake`` is set (a
        signal: the caller wants to stop) the UnreachableError is raised instead of waiting
        on."""
        backoff = min(FIRST_BACKOFF_S, max_backoff)
        while True:
            try:
                result = call()
            except UnreachableError:
                self.failed()
                if wake is not None:
                    if wake.wait(backoff):
                        raise
                else:
                    time.sleep(backoff)
                backoff = min(max_backoff, backoff * 2)
                continue
            self.ok()
            return result
