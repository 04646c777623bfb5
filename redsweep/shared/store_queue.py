"""The trial queue, agents' liveness, dead letters and the controller's event inbox.

Part of :mod:`redsweep.shared.store`. The queue is transport only: an entry lost or delivered
twice delays a trial at worst, because claiming it is a compare-and-set on the trial record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from redsweep.errors import NotFoundError
from redsweep.shared import keys
from redsweep.shared.protocol import WIRE_VERSION, unpack_value
from redsweep.shared.store_base import (
    DEAD_LETTERS_MAXLEN,
    EVENTS_MAXLEN,
    NO_START,
    Batch,
    StoreBase,
    guarded,
    new_token,
    opt_int,
    text,
)
from redsweep.shared.store_records import AgentInfo, DeadLetter, Event, SweepInfo, Taken
from redsweep.shared.store_sweeps import sweep_info


def _event(entry_id: bytes, fields: dict[bytes, bytes]) -> Event:
    values = {k.decode(): v.decode("utf-8", "replace") for k, v in fields.items()}
    return Event(
        id=entry_id.decode(),
        type=values.pop("type", ""),
        trial_id=values.pop("trial", None),
        fields=values,
    )


@dataclass
class Handoff:
    """An agent's queue moves sent along with the end of its trial, in the same round trip:
    ack ``entry`` (the trial's queue entry) and, with ``take``, take the next entry and claim
    its trial (:meth:`QueueMixin.take_trial`, without waiting). After the call ``done`` is
    True and ``taken`` is what was taken, None when the queue was empty."""

    sweep_id: str
    agent_id: str
    entry: bytes | None
    lease_ms: int
    take: bool = True
    taken: Taken | None = None
    done: bool = False

    def queue(self, batch: Batch) -> Callable[[Any], None]:
        """Add the moves to ``batch``; returns what takes in the last reply of the batch."""
        if self.take:
            keys_, args, token = _take_call(self.sweep_id, self.agent_id, self.lease_ms, self.entry)
            batch.script("take", keys_, args)
            return lambda reply: self._took(_taken(reply, token))
        if self.entry is not None:
            batch.pipe.lrem(keys.inflight(self.sweep_id, self.agent_id), 1, self.entry)
        return lambda reply: self._took(None)

    def _took(self, taken: Taken | None) -> None:
        self.done = True
        self.taken = taken


def _take_call(
    sweep_id: str, agent_id: str, lease_ms: int, ack: bytes | None
) -> tuple[list[str], list[Any], str]:
    """KEYS and ARGV of take.lua, and the token it claims with."""
    token = new_token()
    keys_ = [
        keys.queue(sweep_id),
        keys.inflight(sweep_id, agent_id),
        keys.inflight_agents(sweep_id),
        keys.sweep(sweep_id),
        keys.running(sweep_id),
        keys.events(sweep_id),
    ]
    args = [
        ack if ack is not None else "",
        agent_id,
        token,
        int(lease_ms),
        sweep_id,
        WIRE_VERSION,
        keys.trial_prefix(sweep_id),
        EVENTS_MAXLEN,
        *NO_START,
    ]
    return keys_, args, token


def _taken(reply: list[Any], token: str) -> Taken | None:
    if not reply:
        return None
    if reply[0] == b"claimed":
        params = dict(unpack_value(reply[3])) if reply[3] else {}
        return Taken(reply[1], trial_id=reply[2].decode(), token=token, params=params)
    return Taken(reply[1])


class QueueMixin(StoreBase):
    """Pop / ack / dead-letter queue entries; agent heartbeats; the controller inbox."""

    # ---- the trial queue -----------------------------------------------------------------------

    @guarded
    def pop_trial(
        self, sweep_id: str, agent_id: str, timeout_s: float, *, ack: bytes | None = None
    ) -> bytes | None:
        """Move the next queue entry into the agent's in-flight list and return it, waiting up
        to ``timeout_s`` seconds (not at all when <= 0); None when the queue stayed empty.

        The agent should heartbeat first: in-flight entries of agents that are not live are
        put back by :meth:`requeue_orphans`. Ack (or dead-letter) each entry when done;
        ``ack`` acks the previous entry in the same round trip (an entry of a trial that has
        ended and is put back by mistake is refused at claim: queues are only transport)."""
        queue, inflight = keys.queue(sweep_id), keys.inflight(sweep_id, agent_id)
        pipe = self._r.pipeline(transaction=False)
        if ack is not None:
            pipe.lrem(inflight, 1, ack)
        pipe.sadd(keys.inflight_agents(sweep_id), agent_id)
        if timeout_s > 0:
            pipe.blmove(queue, inflight, timeout_s, "LEFT", "RIGHT")
        else:
            pipe.lmove(queue, inflight, "LEFT", "RIGHT")
        return pipe.execute()[-1]

    @guarded
    def take_trial(
        self, sweep_id: str, agent_id: str, lease_ms: int, *, ack: bytes | None = None
    ) -> Taken | None:
        """Ack ``ack``, move the next queue entry into the agent's in-flight list and, when it
        is a trial message of this sweep, claim the trial under a lease of ``lease_ms``: one
        call. None when the queue is empty (it does not wait: see :meth:`pop_trial`)."""
        keys_, args, token = _take_call(sweep_id, agent_id, lease_ms, ack)
        return _taken(self._run("take", keys_, args), token)

    @guarded
    def release_trial(self, sweep_id: str, agent_id: str, taken: Taken) -> bool:
        """Give back a trial :meth:`take_trial` claimed that the agent will not run after all:
        it is pending again and its entry back at the head of the queue. False when the
        agent no longer held it (only the entry left the in-flight list then)."""
        if taken.trial_id is None or taken.token is None:
            return self.return_trial(sweep_id, agent_id, taken.entry)
        trial_id = taken.trial_id
        reply = self._run(
            "release",
            [
                keys.trial(sweep_id, trial_id),
                keys.trial_lease(sweep_id, trial_id),
                keys.sweep(sweep_id),
                keys.running(sweep_id),
                keys.events(sweep_id),
                keys.queue(sweep_id),
                keys.inflight(sweep_id, agent_id),
            ],
            [taken.token, trial_id, taken.entry, EVENTS_MAXLEN],
        )
        return bool(reply)

    @guarded
    def ack(self, sweep_id: str, agent_id: str, raw: bytes) -> bool:
        """Drop a handled entry from the agent's in-flight list; False when it was not there."""
        return bool(self._r.lrem(keys.inflight(sweep_id, agent_id), 1, raw))

    @guarded
    def return_trial(self, sweep_id: str, agent_id: str, raw: bytes) -> bool:
        """Put a popped entry back at the head of the queue (the sweep does not let it start
        now), atomically; False when it was not in the agent's in-flight list."""
        reply = self._run(
            "return_trial", [keys.inflight(sweep_id, agent_id), keys.queue(sweep_id)], [raw]
        )
        return bool(reply)

    @guarded
    def dead_letter(self, sweep_id: str, agent_id: str, raw: bytes, reason: str) -> bool:
        """Move an unusable entry from the agent's in-flight list to the sweep's dead letters,
        atomically; False when it was not in flight (nothing moved)."""
        reply = self._run(
            "dead_letter",
            [keys.inflight(sweep_id, agent_id), keys.dead_letters(sweep_id)],
            [raw, reason, agent_id, DEAD_LETTERS_MAXLEN],
        )
        return bool(reply)

    @guarded
    def dead_letters(self, sweep_id: str) -> list[DeadLetter]:
        """The sweep's dead letters, oldest first."""
        out = []
        for entry_id, fields in self._r.xrange(keys.dead_letters(sweep_id)):
            out.append(
                DeadLetter(
                    id=entry_id.decode(),
                    raw=fields.get(b"raw", b""),
                    reason=text(fields.get(b"reason")) or "",
                    agent=text(fields.get(b"agent")),
                    at_ms=int(entry_id.split(b"-", 1)[0]),
                )
            )
        return out

    @guarded
    def sweep_and_queue(
        self, sweep_id: str, *, ack_events: Iterable[str] = ()
    ) -> tuple[SweepInfo, int]:
        """The sweep and how many entries wait on its queue, in one round trip (after acking
        ``ack_events``, see :meth:`ack_events`); NotFoundError when there is no such sweep."""
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
    def queue_length(self, sweep_id: str) -> int:
        """How many entries wait on the sweep's queue."""
        return int(self._r.llen(keys.queue(sweep_id)))

    @guarded
    def in_flight(self, sweep_id: str, agent_id: str) -> list[bytes]:
        """The entries the agent popped and has not acked yet."""
        return list(self._r.lrange(keys.inflight(sweep_id, agent_id), 0, -1))

    # ---- agents --------------------------------------------------------------------------------

    @guarded
    def heartbeat_agent(
        self, sweep_id: str, agent_id: str, ttl_ms: int, *, busy: bool, host: str
    ) -> int:
        """Mark the agent live for ``ttl_ms`` more (server time); returns its expiry in ms."""
        reply = self._run(
            "heartbeat_agent",
            [keys.agents(sweep_id), keys.agent(sweep_id, agent_id)],
            [agent_id, int(ttl_ms), "1" if busy else "0", host],
        )
        return int(reply)

    @guarded
    def remove_agent(self, sweep_id: str, agent_id: str) -> int:
        """Forget an agent that leaves; its unacked entries go back on the queue (returned:
        how many)."""
        return self._requeue_agent(sweep_id, agent_id, force=True)

    @guarded
    def live_agents(self, sweep_id: str) -> list[AgentInfo]:
        """Agents whose heartbeat has not expired (by server time); expired ones are pruned."""
        now = self.server_time_ms()
        zset = keys.agents(sweep_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.zremrangebyscore(zset, "-inf", now)
        pipe.zrangebyscore(zset, f"({now}", "+inf", withscores=True)
        live = pipe.execute()[1]
        pipe = self._r.pipeline(transaction=False)
        for agent_id, _ in live:
            pipe.hgetall(keys.agent(sweep_id, agent_id.decode()))
        out = []
        for (agent_id, expiry), info in zip(live, pipe.execute(), strict=True):
            out.append(
                AgentInfo(
                    id=agent_id.decode(),
                    host=text(info.get(b"host")),
                    busy=info.get(b"busy") == b"1",
                    seen_ms=opt_int(info.get(b"seen_ms")) or 0,
                    started_ms=opt_int(info.get(b"started_ms")) or 0,
                    expires_ms=int(expiry),
                )
            )
        return out

    @guarded
    def requeue_orphans(self, sweep_id: str) -> int:
        """Put the in-flight entries of agents that are no longer live back at the head of the
        queue; returns how many entries were requeued."""
        agents = sorted(a.decode() for a in self._r.smembers(keys.inflight_agents(sweep_id)))
        moved = 0
        for agent_id in agents:
            moved += max(0, self._requeue_agent(sweep_id, agent_id, force=False))
        return moved

    def _requeue_agent(self, sweep_id: str, agent_id: str, *, force: bool) -> int:
        reply = self._run(
            "requeue_agent",
            [
                keys.inflight(sweep_id, agent_id),
                keys.queue(sweep_id),
                keys.agents(sweep_id),
                keys.inflight_agents(sweep_id),
                keys.agent(sweep_id, agent_id),
            ],
            [agent_id, "1" if force else "0"],
        )
        return int(reply)

    # ---- the controller inbox ------------------------------------------------------------------

    @guarded
    def read_events(
        self, sweep_id: str, consumer: str, *, block_ms: int = 0, count: int = 100
    ) -> list[Event]:
        """The next events of the sweep's inbox for ``consumer``, waiting up to ``block_ms``
        (not at all when <= 0). The first call of a consumer on this store first takes over and
        returns every event read but not acked before (by any consumer: a restarted
        controller re-reads what its predecessor left); ack each with :meth:`ack_events`.
        Where a consumer has got to is kept per Store: a new Store starts with the backlog."""
        stream = keys.events(sweep_id)
        where = (sweep_id, consumer)
        with self._lock:
            cursor = self._event_cursors.get(where)
            if cursor is None:
                self._ensure_group(stream)
                self._take_pending(stream, consumer)
                cursor = self._event_cursors[where] = "0"
        while cursor != ">":  # first the backlog of pending entries, in order, batch by batch
            entries = self._read_group(stream, consumer, cursor, count, None)
            cursor = entries[-1][0].decode() if entries else ">"
            self._event_cursors[where] = cursor
            events = self._events(stream, entries)
            if events:
                return events
        block = block_ms if block_ms > 0 else None
        return self._events(stream, self._read_group(stream, consumer, ">", count, block))

    @guarded
    def controller_round(
        self,
        sweep_id: str,
        consumer: str,
        *,
        ack: Iterable[str] = (),
        block_ms: int = 0,
        count: int = 100,
    ) -> tuple[list[Event], SweepInfo, int]:
        """What a controller reads each round, in one round trip: ack the events it handled
        (``ack``), wait up to ``block_ms`` for the next events (as :meth:`read_events`), then
        read the sweep and its queue length, as they are after the wait. NotFoundError when
        there is no such sweep."""
        ids = list(ack)
        if self._event_cursors.get((sweep_id, consumer)) != ">":  # the backlog first
            events = self.read_events(sweep_id, consumer, count=count)
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
        if isinstance(read, ResponseError) and "NOGROUP" in str(read):
            # the stream was deleted under us: start afresh, the slow way
            events = self.read_events(sweep_id, consumer, block_ms=block_ms, count=count)
            return (events, *self.sweep_and_queue(sweep_id))
        for reply in (read, raw, queued):
            if isinstance(reply, Exception):
                raise reply
        if not raw:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        events = self._events(stream, list(read[0][1]) if read else [])
        return events, sweep_info(raw), int(queued)

    @guarded
    def ack_events(self, sweep_id: str, ids: Iterable[str]) -> int:
        """Acknowledge handled events (and delete them); returns how many were pending."""
        ids = list(ids)
        if not ids:
            return 0
        stream = keys.events(sweep_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.xack(stream, keys.EVENTS_GROUP, *ids)
        pipe.xdel(stream, *ids)
        return int(pipe.execute()[0])

    def _ensure_group(self, stream: str) -> None:
        try:
            self._r.xgroup_create(stream, keys.EVENTS_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

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
        self, stream: str, consumer: str, cursor: str, count: int, block: int | None
    ) -> list[Any]:
        for attempt in range(2):
            try:
                reply = self._r.xreadgroup(
                    keys.EVENTS_GROUP, consumer, {stream: cursor}, count=count, block=block
                )
                break
            except ResponseError as exc:  # the stream was deleted under us: start afresh
                if "NOGROUP" not in str(exc) or attempt:
                    raise
                self._ensure_group(stream)
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
