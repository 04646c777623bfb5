"""Calls about agents' liveness: heartbeats, and putting back the entries of an agent gone.

Part of :mod:`redsweep.shared.store.scripts`.
"""

from __future__ import annotations

from redsweep.errors import NotFoundError
from redsweep.shared.store import keys
from redsweep.shared.store.scripts import Script, count_arg


class HeartbeatAgent(Script):
    """heartbeat_agent.lua: the agent is live for ``ttl_ms`` more (server time); ``remaining``
    is how many more trials it will start (None: no limit). Parses to its expiry in ms."""

    script = "heartbeat_agent"

    def __init__(
        self,
        sweep_id: str,
        agent_id: str,
        ttl_ms: int,
        *,
        busy: bool,
        host: str,
        remaining: int | None = None,
    ) -> None:
        self.sweep_id = sweep_id
        self.keys = [keys.agents(sweep_id), keys.agent(sweep_id, agent_id), keys.sweep(sweep_id)]
        self.args = [agent_id, int(ttl_ms), "1" if busy else "0", host, count_arg(remaining)]

    def parse(self, reply: int) -> int:
        if int(reply) < 0:
            raise NotFoundError(f"no sweep {self.sweep_id!r}")
        return int(reply)


class NoteAgent(Script):
    """note_agent.lua: list the agent among those with in-flight lists before it pops (its
    entries are put back if it dies), only while the sweep exists. Parses to False when
    the sweep is gone."""

    script = "note_agent"

    def __init__(self, sweep_id: str, agent_id: str) -> None:
        self.keys = [keys.inflight_agents(sweep_id), keys.sweep(sweep_id)]
        self.args = [agent_id]

    def parse(self, reply: int) -> bool:
        return bool(reply)


class RequeueAgent(Script):
    """requeue_agent.lua: put the agent's in-flight entries back at the head of the queue and
    forget it, when it is no longer live (always, with ``force``: it leaves). Parses to how
    many entries moved (-1: the agent is live, nothing done)."""

    script = "requeue_agent"

    def __init__(self, sweep_id: str, agent_id: str, *, force: bool) -> None:
        self.keys = [
            keys.inflight(sweep_id, agent_id),
            keys.queue(sweep_id),
            keys.agents(sweep_id),
            keys.inflight_agents(sweep_id),
            keys.agent(sweep_id, agent_id),
        ]
        self.args = [agent_id, "1" if force else "0"]

    def parse(self, reply: int) -> int:
        return int(reply)
