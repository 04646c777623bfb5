"""The controller's event inbox: a stream read with a consumer group, one round at a time.

Part of :mod:`redsweep.shared.store`. Events only say which trials to re-read (Redis stays the
truth), so an event read twice, or acked a round late, changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

from redis.exceptions import ResponseError

from redsweep.errors import NotFoundError
from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded
from redsweep.shared.store.replies import Event, SweepInfo
from redsweep.shared.store.scripts.sweeps import EnsureEventsGroup
from redsweep.shared.store.sweeps import sweep_info


def _stream_gone(reply: Any) -> bool:
    """Whether a read of the events stream failed because the stream was deleted (before
    the read: NOGROUP; while it waited: UNBLOCKED, on Redis 7 and later)."""
    return isinstance(reply, ResponseError) and any(
        word in str(reply) for word in ("NOGROUP", "UNBLOCKED")
    )


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    values = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
    return Event(
        id=entry_id.decode(),
        type=values.pop("type", ""),
        trial_id=values.pop("trial", None),
        fields=values,
    )


class Events:
    """The controller's event inbox and what a controller reads each round."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url
        self._lock = threading.Lock()
        # (sweep id, consumer) -> where read continues: a pending entry id or ">"
        self._event_cursors: dict[tuple[str, str], str] = {}

    @guarded
    def sweep_and_queue(
        self, sweep_id: str, *, ack_events: Iterable[str] = ()
    ) -> tuple[SweepInfo, int]:
        """The sweep and how many entries wait on its queue, in one round trip (after acking
        ``ack_events``, see :meth:`ack`); NotFoundError when there is no such sweep."""
        pipe = self._r.pipeline(transaction=False)
        ids = list(ack_events)
        if ids:
            stream = keys.events(sweep_id)
            pipe.xack(stream, keys.EVENTS_GROUP, *ids)
            pipe.xdel(stream, *ids)
        pipe.hgetall(keys.sweep(sweep_id))
        pipe.llen(keys.queue(sweep_id))
        *_, raw, queued = pipe.execute()
        if not raw:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        return sweep_info(raw), int(queued)

    @guarded
    def read(
        self, sweep_id: str, consumer: str, *, block_ms: int = 0, count: int = 100
    ) -> list[Event]:
        """The next events of the sweep's inbox for ``consumer``, waiting up to ``block_ms``
        (not at all when <= 0). The first call of a consumer on this store first takes over and
        returns every event read but not acked before (by any consumer: a restarted
        controller re-reads what its predecessor left); ack each with :meth:`ack`.
        Where a consumer has got to is kept per Store: a new Store starts with the backlog."""
        stream = keys.events(sweep_id)
        where = (sweep_id, consumer)
        with self._lock:
            cursor = self._event_cursors.get(where)
            if cursor is None:
                self._ensure_group(sweep_id)
                self._take_pending(stream, consumer)
                cursor = self._event_cursors[where] = "0"
        while cursor != ">":  # first the backlog of pending entries, in order, batch by batch
            entries = self._read_group(sweep_id, consumer, cursor, count, None)
            cursor = entries[-1][0].decode() if entries else ">"
            self._event_cursors[where] = cursor
            events = self._events(stream, entries)
            if events:
                return events
        block = block_ms if block_ms > 0 else None
        return self._events(stream, self._read_group(sweep_id, consumer, ">", count, block))

    @guarded
    def round(
        self,
        sweep_id: str,
        consumer: str,
        *,
        ack: Iterable[str] = (),
        block_ms: int = 0,
        count: int = 100,
    ) -> tuple[list[Event], SweepInfo, int]:
        """What a controller reads each round, in one round trip: ack the events it handled
        (``ack``), wait up to ``block_ms`` for the next events (as :meth:`read`), then
        read the sweep and its queue length, as they are after the wait. NotFoundError when
        there is no such sweep."""
        ids = list(ack)
        if self._event_cursors.get((sweep_id, consumer)) != ">":  # the backlog first
            events = self.read(sweep_id, consumer, count=count)
            if events or self._event_cursors.get((sweep_id, consumer)) != ">":
                return (events, *self.sweep_and_queue(sweep_id, ack_events=ids))
        stream = keys.events(sweep_id)
        pipe = self._r.pipeline(transaction=False)
        if ids:
            pipe.xack(stream, keys.EVENTS_GROUP, *ids)
            pipe.xdel(stream, *ids)
        block = block_ms if block_ms > 0 else None
        pipe.xreadgroup(keys.EVENTS_GROUP, consumer, {stream: ">"}, count=count, block=block)
        pipe.hgetall(keys.sweep(sweep_id))
        pipe.llen(keys.queue(sweep_id))
        *_, read, raw, queued = pipe.execute(raise_on_error=False)
        if _stream_gone(read):
            # the stream was deleted under us: start afresh, the slow way
            events = self.read(sweep_id, consumer, block_ms=block_ms, count=count)
            return (events, *self.sweep_and_queue(sweep_id))
        for reply in (read, raw, queued):
            if isinstance(reply, Exception):
                raise reply
        if not raw:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        events = self._events(stream, list(read[0][1]) if read else [])
        return events, sweep_info(raw), int(queued)

    @guarded
    def ack(self, sweep_id: str, ids: Iterable[str]) -> int:
        """Acknowledge handled events (and delete them); returns how many were pending."""
        ids = list(ids)
        if not ids:
            return 0
        stream = keys.events(sweep_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.xack(stream, keys.EVENTS_GROUP, *ids)
        pipe.xdel(stream, *ids)
        return int(pipe.execute()[0])

    def _ensure_group(self, sweep_id: str) -> None:
        """The group on the sweep's events; NotFoundError when the sweep is gone (nothing
        made)."""
        self._conn.call(EnsureEventsGroup(sweep_id))

    def _take_pending(self, stream: str, consumer: str) -> None:
        """Claim every pending entry of the group for ``consumer`` (idle or not)."""
        start = "0-0"
        while True:
            reply = self._r.xautoclaim(
                stream, keys.EVENTS_GROUP, consumer, 0, start_id=start, count=1000
            )
            start = reply[0]
            if start in (b"0-0", "0-0"):
                return

    def _read_group(
        self, sweep_id: str, consumer: str, cursor: str, count: int, block: int | None
    ) -> list[Any]:
        stream = keys.events(sweep_id)
        for attempt in range(2):
            try:
                reply = self._r.xreadgroup(
                    keys.EVENTS_GROUP, consumer, {stream: cursor}, count=count, block=block
                )
                break
            except ResponseError as exc:  # the stream was deleted under us: start afresh
                if not _stream_gone(exc) or attempt:
                    raise
                self._ensure_group(sweep_id)
        if not reply:
            return []
        return list(reply[0][1])

    def _events(self, stream: str, entries: list[Any]) -> list[Event]:
        events, gone = [], []
        for entry_id, fields in entries:
            if fields:
                events.append(_event(entry_id, fields))
            else:  # deleted while pending: nothing to handle
                gone.append(entry_id)
        if gone:
            self._r.xack(stream, keys.EVENTS_GROUP, *gone)
        return events
