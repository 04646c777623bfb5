"""The reporter: a trial's logged rows sent from a background thread, in batches, so that
``log()`` never waits for Redis; with ``renew``, the trial's lease kept alive as well.

Part of :mod:`redsweep.worker.api` (the trial it reports for is a
:class:`~redsweep.worker.api.link.TrialLink`).
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import sys
import threading
import time

from redsweep.errors import ProtocolError, StoreError, UnreachableError
from redsweep.shared.protocol import pack_value
from redsweep.worker.api.link import TrialLink, refused_text

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from redsweep.shared.store.outage import Outage

#: Rows buffered before the oldest are dropped (only when Redis is far slower than log()).
MAX_BUFFERED_ROWS = 100_000
#: How long a logged row waits for more rows to go with it (one round trip for them all).
LINGER_S = 0.05
#: Rows sent in one call at most.
MAX_BATCH_ROWS = 500
#: An agent's keeper looks every LINGER_S between trials for this long after one ended (the
#: next trial usually follows at once: no wake-up per trial), then waits to be woken by the
#: next attach (an idle agent's keeper would otherwise wake 20 times a second).
KEEP_LOOKING_S = 0.5


def _end_own_group() -> None:
    """A command trial whose agent died: terminate the process group it leads (the agent
    started it as a session of its own), so neither it nor its children outlive the agent."""
    if os.getpgrp() == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGTERM)


class Reporter:
    """Sends logged ``(step, row)`` pairs of a trial with ``store.trials.report`` (one
    ReportRows call per batch) from a daemon thread, so ``log()`` never waits for Redis.

    Rows are sent in batches: a row waits up to :data:`LINGER_S` for the rows logged after it,
    so a training loop logging thousands of rows a second costs a few round trips a second,
    and the rows of a short trial are handed, unsent, to whoever finishes it (:meth:`take`),
    who sends them in the same round trip as the finish.

    With ``renew`` it also keeps the trial's lease: it renews it every third of the lease when
    no report did, and marks the link lost when Redis said so (when Redis cannot be reached,
    the agent's :class:`~redsweep.worker.trial.fence.Fence` stops the trial in time: this
    thread may be blocked in a call). With ``watch_parent`` the trial counts as lost once this
    process's parent is gone (a command trial whose agent died must not keep the lease alive).
    Calls Redis does not answer are retried with back-off, for as long as it takes, and told
    to ``outage`` (which says a long outage once).

    One reporter may serve trial after trial (:meth:`attach`, :meth:`take`): an agent keeps
    one thread for all its trials.
    """

    def __init__(
        self,
        link: TrialLink | None = None,
        *,
        renew: bool = False,
        watch_parent: bool = False,
        outage: Outage | None = None,
    ) -> None:
        self._link = link
        self._renew = renew
        self._parent = os.getppid() if watch_parent else None
        self._rows: collections.deque[tuple[int, dict[str, Any]]] = collections.deque()
        self._rows_at = 0.0  # when the oldest unsent row was added
        self._cond = threading.Condition()
        self._sending = False
        self._flushing = 0  # callers waiting in flush(): send at once
        self._closed = False
        self._failing = False  # the last send or renewal found Redis unreachable
        self._outage = outage
        self._last_ok = time.monotonic()
        self._warned: set[str] = set()
        self._thread: threading.Thread | None = None
        self._idle = False  # the thread waits with no timeout (attach must wake it)
        self._detached_at = float("-inf")  # when take() last ended serving a link
        if renew or watch_parent:
            self._start()

    def attach(self, link: TrialLink) -> None:
        """Serve ``link`` from now on (after :meth:`take` of the last one)."""
        with self._cond:
            self._link = link
            self._rows.clear()
            self._last_ok = time.monotonic()
            if self._idle:  # else it looks within LINGER_S: a wake-up per trial costs more
                self._cond.notify_all()
        if self._thread is None and self._renew:
            self._start()

    def take(self, timeout: float | None = 10.0) -> list[tuple[int, dict[str, Any]]]:
        """Stop serving the current link; return its rows not sent yet, for the caller to send
        (after a send in progress ends, waiting up to ``timeout``)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._sending, timeout)
            rows = list(self._rows)
            self._rows.clear()
            lost = self._link is not None and self._link.lost
            self._link = None
            self._detached_at = time.monotonic()
            # wake only who waits for this: a flush, or the thread dropping a lost trial's
            # rows (else it looks within LINGER_S: a wake-up per trial costs more)
            if self._flushing or lost:
                self._cond.notify_all()
        return rows

    def add(self, step: int, row: dict[str, Any]) -> None:
        """Queue a row; returns at once."""
        with self._cond:
            if self._closed or self._link is None:
                return
            if len(self._rows) >= MAX_BUFFERED_ROWS:
                self._rows.popleft()
                self._warn("slow", "Redis is slower than log(): dropping the oldest rows")
            if not self._rows:
                self._rows_at = time.monotonic()
            self._rows.append((step, row))
            if len(self._rows) >= MAX_BATCH_ROWS:
                self._cond.notify_all()  # else the thread looks every LINGER_S
        if self._thread is None:
            self._start()

    def flush(self, timeout: float | None = None, *, while_reachable: bool = False) -> bool:
        """Send every queued row now and wait until they were sent (or dropped); False on
        timeout, or (``while_reachable``) as soon as a send finds Redis unreachable."""

        def done() -> bool:
            return not self._rows and not self._sending

        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                if while_reachable:
                    self._cond.wait_for(lambda: done() or self._failing, timeout)
                    return done()
                return self._cond.wait_for(done, timeout)
            finally:
                self._flushing -= 1

    def give_up(self) -> None:
        """Count Redis as unreachable now: a ``flush(while_reachable=True)`` returns at once
        (its process must end without waiting for Redis)."""
        with self._cond:
            self._failing = True
            self._cond.notify_all()

    def close(self, timeout: float | None = 10.0) -> bool:
        """Flush, then end the thread. False when rows were left unsent."""
        done = self.flush(timeout)
        with self._cond:
            self._closed = True
            self._rows.clear()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)
        return done

    def _start(self) -> None:
        with self._cond:
            if self._thread is not None or self._closed:
                return
            self._thread = threading.Thread(target=self._loop, name="redsweep-report", daemon=True)
            self._thread.start()

    def _orphaned(self) -> bool:
        """Whether this process was started by an agent that is gone."""
        return self._parent is not None and os.getppid() != self._parent

    def _due(self, link: TrialLink | None, now: float) -> tuple[bool, bool, float | None]:
        """(send rows now, renew now, how long to wait otherwise); under the lock."""
        if link is None:
            if self._renew and now - self._detached_at < KEEP_LOOKING_S:
                return False, False, LINGER_S  # the next trial is likely to come at once
            return False, False, (1.0 if self._parent is not None else None)
        rows = bool(self._rows) and (
            self._flushing > 0
            or len(self._rows) >= MAX_BATCH_ROWS
            or now - self._rows_at >= LINGER_S
        )
        renew_in = link.lease_ms / 3000 - (now - self._last_ok)
        renew = self._renew and renew_in <= 0
        wait = LINGER_S  # rows may come: look again then (add() does not wake this thread)
        if self._renew:
            wait = min(wait, max(renew_in, 0.0))
        return rows, renew, wait

    def _loop(self) -> None:
        backoff = 0.0
        while True:
            with self._cond:
                while True:
                    send = False
                    if self._closed:
                        return
                    link = self._link
                    if link is not None and (link.lost or self._orphaned()):
                        break
                    send, renew, wait = self._due(link, time.monotonic())
                    if send or renew:
                        break
                    self._idle = wait is None
                    self._cond.wait(wait)
                    self._idle = False
                batch: list[tuple[int, dict[str, Any]]] = []
                if link is not None and not link.lost and send:
                    batch = [
                        self._rows.popleft() for _ in range(min(len(self._rows), MAX_BATCH_ROWS))
                    ]
                self._sending = bool(batch)
            if link is None:
                continue
            if self._orphaned():
                link.mark_lost("the agent that started this process is gone")
                _end_own_group()
            if link.lost:
                self._drop_all()
                continue
            try:
                if batch:
                    self._send(link, batch)
                else:
                    link.renew()
                self._last_ok = time.monotonic()
                backoff, sent = 0.0, True
                if self._outage is not None:
                    self._outage.ok()
            except UnreachableError as exc:
                if self._outage is None:
                    self._warn("store", f"cannot reach Redis, will retry: {exc}")
                else:
                    self._outage.failed()
                backoff, sent = min(2.0, backoff * 2 or 0.1), False
            except StoreError as exc:
                self._warn("store", f"Redis refused a call, will retry: {exc}")
                backoff, sent = min(2.0, backoff * 2 or 0.1), False
            with self._cond:
                self._failing = not sent
                if not sent and batch and self._link is link:
                    self._rows.extendleft(reversed(batch))  # again, in order, after the backoff
                    self._rows_at = time.monotonic()
                self._sending = False
                self._cond.notify_all()
                if not sent:  # a close() cuts the back-off short: a trial exits at once
                    self._cond.wait_for(lambda: self._closed, backoff)

    def _send(self, link: TrialLink, rows: list[tuple[int, dict[str, Any]]]) -> None:
        def report(rows: list[tuple[int, dict[str, Any]]]) -> None:
            note = link.unsent_note
            renewal = link.report(rows, note)
            if not renewal.ok:  # the store dropped them: say so, once per trial
                self._warn(f"refused:{link.trial_id}", refused_text(link, renewal))
            elif note:  # the one warning is in the store now
                link.unsent_note = ""
            link.note(renewal)

        try:
            report(rows)
        except ProtocolError:  # a row the wire format refuses: send the others
            rows = self.sendable(rows)
            if rows:
                report(rows)

    def sendable(self, rows: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
        """The rows the wire format takes; each other one is dropped with a warning."""
        out = []
        for step, row in rows:
            try:
                pack_value(row)
            except ProtocolError as exc:
                self._warn(f"row:{exc}", f"a logged row was dropped: {exc}")
                continue
            out.append((step, row))
        return out

    def _drop_all(self) -> None:
        with self._cond:
            self._rows.clear()
            self._sending = False
            self._cond.notify_all()
            if not self._closed:
                self._cond.wait(1.0)

    def _warn(self, key: str, message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            link = self._link
            run = f"run {link.trial_id}: " if link is not None else ""
            print(f"redsweep: {run}{message}", file=sys.stderr)
