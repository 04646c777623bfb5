"""A connection of one caller's own whose batches are sent at once and answered later.

An agent running short trials sends a trial's end (its rows, its finish, the next take) and
runs the trial it already holds while Redis answers, instead of waiting for the answer
first: the agent and Redis work at the same time. The replies come back in the order the
batches went out; :meth:`Sent.result` reads every earlier reply first. Safe between threads
(one lock around the socket).

Part of :mod:`redsweep.shared.store`: ``store.lane()`` makes one; close it when done.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

from redsweep.shared.store._redis import redis
from redsweep.shared.store.scripts import Call

if TYPE_CHECKING:
    from redsweep.shared.store.connection import Connection

_Broken = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class Sent:
    """A batch sent on a :class:`Lane`; :meth:`result` reads its replies (once)."""

    def __init__(self, lane: Lane, calls: tuple[Call, ...]) -> None:
        self._lane = lane
        self.calls = calls
        self._replies: list[Any] | None = None
        self._broken: BaseException | None = None

    @property
    def answered(self) -> bool:
        """Whether the replies were read (or the connection broke before they came)."""
        return self._replies is not None or self._broken is not None

    def result(self) -> tuple[Any, ...]:
        """What each call answered, parsed, in order (the first error raises; a connection
        that broke before the replies came raises UnreachableError: the calls may or may not
        have run)."""
        self._lane._read_until(self)
        if self._broken is not None:
            raise self._broken
        assert self._replies is not None
        return self._lane.conn.parse_replies(self.calls, self._replies)


class Lane:
    """One pooled connection held for a caller: :meth:`send` writes a batch and returns at
    once, :meth:`Sent.result` reads its replies. :meth:`close` reads what is unread and hands
    the connection back."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()
        self._socket: Any = None  # redis-py's connection, taken from the pool when first sent
        self._unread: deque[tuple[Sent, list[tuple[Any, ...]]]] = deque()

    def send(self, *calls: Call) -> Sent:
        """Write ``calls`` in one go (scripts by their SHA); their replies are read later. A
        connection that cannot be written to raises UnreachableError (nothing was sent)."""
        commands = [self.conn.command_of(call) for call in calls]
        sent = Sent(self, calls)
        with self._lock:
            if self._socket is None:
                self._socket = self.conn.client.connection_pool.get_connection()
            socket = self._socket
            try:
                # redis-py's health check of an idle connection reads its PONG: only when no
                # reply of ours is unread (it would read that instead)
                check = not self._unread
                socket.send_packed_command(socket.pack_commands(commands), check_health=check)
            except _Broken as exc:
                self._break(exc)
                raise self.conn.wrap(exc) from exc
            self._unread.append((sent, commands))
        return sent

    def _read_until(self, target: Sent) -> None:
        with self._lock:
            while not target.answered:
                sent, commands = self._unread.popleft()
                try:
                    sent._replies = self.conn.read_replies(self._socket, commands)
                except _Broken as exc:
                    self._unread.appendleft((sent, commands))
                    self._break(exc)
                    return

    def _break(self, exc: BaseException) -> None:
        """The connection broke: every batch still unread has no answer; start afresh."""
        error = self.conn.wrap(exc)
        for sent, _ in self._unread:
            sent._broken = error
        self._unread.clear()
        if self._socket is not None:
            self._socket.disconnect()
            self.conn.client.connection_pool.release(self._socket)
            self._socket = None

    def close(self) -> None:
        """Read what is still unread (answers nobody asked for) and give the connection back."""
        if self._unread:
            self._read_until(self._unread[-1][0])
        with self._lock:
            if self._socket is not None:
                self.conn.client.connection_pool.release(self._socket)
                self._socket = None
