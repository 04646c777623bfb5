"""Calls that move an agent's queue entries: take (and claim) the next, ack, release a trial
taken but not run, give back, dead-letter.

Part of :mod:`redsweep.shared.store.scripts`. The queue is transport only: an entry lost or
delivered twice delays a trial at worst, because claiming it is a compare-and-set.
"""

from __future__ import annotations

from typing import Any

from redsweep.shared.protocol import MAX_MESSAGE_BYTES, TRIAL_TAG, WIRE_VERSION, unpack_value
from redsweep.shared.store import keys
from redsweep.shared.store.connection import new_token
from redsweep.shared.store.replies import Taken
from redsweep.shared.store.scripts import (
    DEAD_LETTERS_MAXLEN,
    EVENTS_MAXLEN,
    NO_START,
    Command,
    Script,
    count_arg,
)


class Take(Script):
    """take.lua: ack ``ack`` (the entry of the trial just done), move the next queue entry
    into the agent's in-flight list and, when it is a trial message of this sweep, claim the
    trial under a lease of ``lease_ms`` (as :class:`~.trials.Claim`; ``remaining`` as there).
    Parses to a :class:`~redsweep.shared.store.replies.Taken` (with ``token`` set when
    claimed), or None when the queue was empty (it does not wait).

    The rules of a trial message that take.lua checks before claiming are the Python ones,
    passed as ARGV: the wire version and tag, the size limit, what a trial id may be."""

    script = "take"

    def __init__(
        self,
        sweep_id: str,
        agent_id: str,
        lease_ms: int,
        *,
        ack: bytes | None = None,
        remaining: int | None = None,
    ) -> None:
        self.token = new_token()
        self.keys = [
            keys.queue(sweep_id),
            keys.inflight(sweep_id, agent_id),
            keys.inflight_agents(sweep_id),
            keys.sweep(sweep_id),
            keys.running(sweep_id),
            keys.events(sweep_id),
            keys.agent(sweep_id, agent_id),
        ]
        self.args = [
            ack if ack is not None else "",
            agent_id,
            self.token,
            int(lease_ms),
            sweep_id,
            WIRE_VERSION,
            TRIAL_TAG,
            MAX_MESSAGE_BYTES,
            keys.MAX_ID_CHARS,
            keys.ID_LUA_PATTERN,
            keys.trial_prefix(sweep_id),
            EVENTS_MAXLEN,
            count_arg(remaining),
            *NO_START,
        ]

    def parse(self, reply: list[Any]) -> Taken | None:
        if not reply:
            return None
        if reply[0] == b"claimed":
            params = dict(unpack_value(reply[3])) if reply[3] else {}
            return Taken(reply[1], trial_id=reply[2].decode(), token=self.token, params=params)
        return Taken(reply[1])


class Ack(Command):
    """Drop a handled ``entry`` from the agent's in-flight list (LREM). Parses to False when
    it was not there."""

    def __init__(self, sweep_id: str, agent_id: str, entry: bytes) -> None:
        self.key = keys.inflight(sweep_id, agent_id)
        self.entry = entry

    def command(self) -> tuple[Any, ...]:
        return ("LREM", self.key, 1, self.entry)

    def parse(self, reply: int) -> bool:
        return bool(reply)


class Release(Script):
    """release.lua: give back a trial :class:`Take` claimed that the agent will not run: it
    is pending again, its entry back at the head of the queue. Parses to False when the agent
    no longer held it or it reported (only the entry left the in-flight list then)."""

    script = "release"

    def __init__(
        self, sweep_id: str, agent_id: str, trial_id: str, token: str, entry: bytes
    ) -> None:
        self.keys = [
            keys.trial(sweep_id, trial_id),
            keys.trial_lease(sweep_id, trial_id),
            keys.sweep(sweep_id),
            keys.running(sweep_id),
            keys.events(sweep_id),
            keys.queue(sweep_id),
            keys.inflight(sweep_id, agent_id),
        ]
        self.args = [token, trial_id, entry, EVENTS_MAXLEN]

    def parse(self, reply: int) -> bool:
        return bool(reply)


class GiveBack(Script):
    """return_trial.lua: put a popped entry back at the head of the queue (the sweep does not
    let it start now). Parses to False when it was not in the agent's in-flight list."""

    script = "return_trial"

    def __init__(self, sweep_id: str, agent_id: str, entry: bytes) -> None:
        self.keys = [keys.inflight(sweep_id, agent_id), keys.queue(sweep_id)]
        self.args = [entry]

    def parse(self, reply: int) -> bool:
        return bool(reply)


class DeadLetterEntry(Script):
    """dead_letter.lua: move an unusable entry from the agent's in-flight list to the sweep's
    dead letters, with ``reason``. Parses to False when it was not in flight."""

    script = "dead_letter"

    def __init__(self, sweep_id: str, agent_id: str, entry: bytes, reason: str) -> None:
        self.keys = [keys.inflight(sweep_id, agent_id), keys.dead_letters(sweep_id)]
        self.args = [entry, reason, agent_id, DEAD_LETTERS_MAXLEN]

    def parse(self, reply: Any) -> bool:
        return bool(reply)
