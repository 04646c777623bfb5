"""The trial queue, agents' liveness and dead letters.

Part of :mod:`redsweep.shared.store`. The queue is transport only: an entry lost or delivered
twice delays a trial at worst, because claiming it is a compare-and-set on the trial record.
"""

from __future__ import annotations

from collections.abc import Iterable

from redsweep.shared.store import keys
from redsweep.shared.store.connection import (
    DEAD_LETTERS_MAXLEN,
    EVENTS_MAXLEN,
    StoreBase,
    guarded,
    opt_int,
    text,
)
from redsweep.shared.store.calls import count_arg as _count_arg
from redsweep.shared.store.calls import take_call, take_reply
from redsweep.shared.store.replies import AgentInfo, DeadLetter, Taken


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
        call. None when the queue is empty (it does not wait: see :meth:`pop_trial`). With
        ``remaining`` (see :meth:`heartbeat_agent`, counting this trial), the agent's count is
        one less once it claimed."""
        keys_, args, token = take_call(sweep_id, agent_id, lease_ms, ack, remaining)
        return take_reply(self._run("take", keys_, args), token)

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
        self,
        sweep_id: str,
        agent_id: str,
        ttl_ms: int,
        *,
        busy: bool,
        host: str,
        remaining: int | None = None,
    ) -> int:
        """Mark the agent live for ``ttl_ms`` more (server time); returns its expiry in ms.
        ``remaining``: how many more trials it will start (None: no limit), so that the
        controller queues no more than the agents will take."""
        reply = self._run(
            "heartbeat_agent",
            [keys.agents(sweep_id), keys.agent(sweep_id, agent_id)],
            [agent_id, int(ttl_ms), "1" if busy else "0", host, _count_arg(remaining)],
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
                    remaining=opt_int(info.get(b"remaining")),
                )
            )
        return out

    @guarded
    def agents_remaining(self, sweep_id: str, agent_ids: Iterable[str]) -> dict[str, int | None]:
        """How many more trials each agent will start, as it last said (None: no limit; 0 for
        an agent that is gone)."""
        ids = list(agent_ids)
        pipe = self._r.pipeline(transaction=False)
        for agent_id in ids:
            pipe.hmget(keys.agent(sweep_id, agent_id), "host", "remaining")
        out: dict[str, int | None] = {}
        for agent_id, (host, remaining) in zip(ids, pipe.execute(), strict=True):
            out[agent_id] = 0 if host is None else opt_int(remaining)
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
