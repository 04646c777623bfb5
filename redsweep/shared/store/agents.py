"""Agents' liveness: heartbeats, who is live, how many more trials each will start.

Part of :mod:`redsweep.shared.store`.
"""

from __future__ import annotations

from collections.abc import Iterable

from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded, opt_int, text
from redsweep.shared.store.replies import AgentInfo
from redsweep.shared.store.scripts.agents import HeartbeatAgent, RequeueAgent


class Agents:
    """Agents' liveness: heartbeats, who is live, how many trials each will still start."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    def heartbeat(
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
        call = HeartbeatAgent(sweep_id, agent_id, ttl_ms, busy=busy, host=host, remaining=remaining)
        return self._conn.call(call)

    def remove(self, sweep_id: str, agent_id: str) -> int:
        """Forget an agent that leaves; its unacked entries go back on the queue (returned:
        how many)."""
        return self._conn.call(RequeueAgent(sweep_id, agent_id, force=True))

    @guarded
    def live(self, sweep_id: str) -> list[AgentInfo]:
        """Agents whose heartbeat has not expired (by server time); expired ones are pruned."""
        now = self._conn.server_time_ms()
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
    def remaining(self, sweep_id: str, agent_ids: Iterable[str]) -> dict[str, int | None]:
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
