"""The trial queue and its dead letters.

Part of :mod:`redsweep.shared.store`. The queue is transport only: an entry lost or delivered
twice delays a trial at worst, because claiming it is a compare-and-set on the trial record.
"""

from __future__ import annotations

from typing import NamedTuple

from redis.exceptions import NoScriptError

from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded, text
from redsweep.shared.store.replies import DeadLetter, SweepInfo, Taken
from redsweep.shared.store.scripts.agents import NoteAgent, RequeueAgent
from redsweep.shared.store.scripts.queue import Ack, DeadLetterEntry, GiveBack, Release, Take
from redsweep.shared.store.sweeps import sweep_info


class Popped(NamedTuple):
    """What :meth:`Queue.pop_and_look` found: the entry (None: the queue stayed empty), then
    the sweep (None: gone) and its controller lease's holder, as they were after the wait."""

    entry: bytes | None
    sweep: SweepInfo | None = None
    holder: str | None = None
    looked: bool = False


class Queue:
    """The trial queue: pop, take, ack, give back, dead-letter its entries."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    @guarded
    def pop(
        self, sweep_id: str, agent_id: str, timeout_s: float, *, ack: bytes | None = None
    ) -> bytes | None:
        """Move the next queue entry into the agent's in-flight list and return it, waiting up
        to ``timeout_s`` seconds (not at all when <= 0); None when the queue stayed empty.

        The agent should heartbeat first: in-flight entries of agents that are not live are
        put back by :meth:`requeue_orphans`. Ack (or dead-letter) each entry when done;
        ``ack`` acks the previous entry in the same round trip (an entry of a trial that has
        ended and is put back by mistake is refused at claim: queues are only transport)."""
        return self._pop(sweep_id, agent_id, timeout_s, ack, look=False)[0]

    @guarded
    def pop_and_look(
        self, sweep_id: str, agent_id: str, timeout_s: float, *, ack: bytes | None = None
    ) -> Popped:
        """:meth:`pop`, then, in the same round trip (after the wait), the sweep (None when it
        is gone) and who holds its controller lease: what an idle agent looks at after each
        wait, so that waiting costs it one round trip."""
        return self._pop(sweep_id, agent_id, timeout_s, ack, look=True)

    def _pop(
        self, sweep_id: str, agent_id: str, timeout_s: float, ack: bytes | None, *, look: bool
    ) -> Popped:
        queue, inflight = keys.queue(sweep_id), keys.inflight(sweep_id, agent_id)
        note = NoteAgent(sweep_id, agent_id)  # not for a sweep that is gone: no stray key
        pipe = self._r.pipeline(transaction=False)
        if ack is not None:
            pipe.lrem(inflight, 1, ack)
        pipe.evalsha(self._conn.script(note.script).sha, len(note.keys), *note.keys, *note.args)
        if timeout_s > 0:
            pipe.blmove(queue, inflight, timeout_s, "LEFT", "RIGHT")
        else:
            pipe.lmove(queue, inflight, "LEFT", "RIGHT")
        if look:
            pipe.hgetall(keys.sweep(sweep_id))
            pipe.get(keys.controller(sweep_id))
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, NoScriptError):  # the server forgot it: once more, alone
                self._conn.call(note)
            elif isinstance(reply, Exception):
                raise reply
        if not look:
            return Popped(replies[-1])
        entry, raw, holder = replies[-3:]
        return Popped(entry, sweep_info(raw) if raw else None, text(holder), looked=True)

    def take(
        self,
        sweep_id: str,
        agent_id: str,
        lease_ms: int,
        *,
        ack: bytes | None = None,
        remaining: int | None = None,
    ) -> Taken | None:
        """Ack ``ack``, move the next queue entry into the agent's in-flight list and, when it
        is a trial message of this sweep, claim the trial under a lease of ``lease_ms``: one
        call. None when the queue is empty (it does not wait: see :meth:`pop`). With
        ``remaining`` (see :meth:`Agents.heartbeat`, counting this trial), the agent's count
        is one less once it claimed (:class:`~redsweep.shared.store.scripts.queue.Take`)."""
        return self._conn.call(Take(sweep_id, agent_id, lease_ms, ack=ack, remaining=remaining))

    def release(self, sweep_id: str, agent_id: str, taken: Taken) -> bool:
        """Give back a trial :meth:`take` claimed that the agent will not run after all:
        it is pending again and its entry back at the head of the queue. False when the
        agent no longer held it (only the entry left the in-flight list then)."""
        if taken.trial_id is None or taken.token is None:
            return self.give_back(sweep_id, agent_id, taken.entry)
        call = Release(sweep_id, agent_id, taken.trial_id, taken.token, taken.entry)
        return self._conn.call(call)

    def ack(self, sweep_id: str, agent_id: str, raw: bytes) -> bool:
        """Drop a handled entry from the agent's in-flight list; False when it was not there."""
        return self._conn.call(Ack(sweep_id, agent_id, raw))

    def give_back(self, sweep_id: str, agent_id: str, raw: bytes) -> bool:
        """Put a popped entry back at the head of the queue (the sweep does not let it start
        now), atomically; False when it was not in the agent's in-flight list."""
        return self._conn.call(GiveBack(sweep_id, agent_id, raw))

    def dead_letter(self, sweep_id: str, agent_id: str, raw: bytes, reason: str) -> bool:
        """Move an unusable entry from the agent's in-flight list to the sweep's dead letters,
        atomically; False when it was not in flight (nothing moved)."""
        return self._conn.call(DeadLetterEntry(sweep_id, agent_id, raw, reason))

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
    def length(self, sweep_id: str) -> int:
        """How many entries wait on the sweep's queue."""
        return int(self._r.llen(keys.queue(sweep_id)))

    @guarded
    def in_flight(self, sweep_id: str, agent_id: str) -> list[bytes]:
        """The entries the agent popped and has not acked yet."""
        return list(self._r.lrange(keys.inflight(sweep_id, agent_id), 0, -1))

    @guarded
    def requeue_orphans(self, sweep_id: str) -> int:
        """Put the in-flight entries of agents that are no longer live back at the head of the
        queue; returns how many entries were requeued."""
        pipe = self._r.pipeline(transaction=False)
        pipe.smembers(keys.inflight_agents(sweep_id))
        pipe.zrange(keys.agents(sweep_id), 0, -1, withscores=True)
        pipe.time()
        members, expiries, (secs, micros) = pipe.execute()
        now = secs * 1000 + micros // 1000
        live = {a for a, expiry in expiries if expiry > now}
        # only agents that look gone are asked about (requeue_agent.lua checks again): no
        # script call per live agent each time
        agents = sorted(a.decode() for a in members if a not in live)
        moved = 0
        for agent_id in agents:
            moved += max(0, self._conn.call(RequeueAgent(sweep_id, agent_id, force=False)))
        return moved
