"""The store: every Redis key and every read and write of redsweep (the only redis imports).

:class:`Store` is one connection and the store's parts on it, each a small facade by job:

* ``store.sweeps``       sweeps: create, get, list, state changes, config updates
                         (:mod:`~redsweep.shared.store.sweeps`)
* ``store.controllers``  the controller lease and its fencing epoch, handovers
* ``store.trials``       a trial's state changes: add, claim, renew, report, finish, stop, reap
* ``store.reads``        trials read back: records, histories, summaries, engine run records
* ``store.queue``        the trial queue: pop, take, ack, give back, dead letters
* ``store.agents``       agents' heartbeats and counts
* ``store.events``       the controller's event inbox, a controller round's reads
* ``store.daemons``      worker daemons and their pools

Key names live in :mod:`~redsweep.shared.store.keys` with the allowed state changes; every
change is one Lua compare-and-set in :mod:`~redsweep.shared.store.scripts` (each ``.lua``
file's header documents its KEYS and ARGV), so a retried call is harmless. Each script has a
call class beside it (its KEYS, its ARGV, what its reply means): the parts build a call and
run it on the :class:`~redsweep.shared.store.connection.Connection`; :meth:`Store.batch`
runs several in one round trip (the agent's hot path: :mod:`~redsweep.shared.store.calls`).
Times come from the Redis server, never from host clocks. Values other than plain strings are
packed with :mod:`~redsweep.shared.protocol`.

Typical use::

    store = Store.from_url("redis://:secret@host:6379/0")
    sweep_id = store.sweeps.create(config.raw, project="demo", run_cap=10)
    epoch = store.controllers.acquire(sweep_id, "ctl-1", ttl_ms=10_000)
    [trial_id] = store.trials.add(sweep_id, [{"lr": 0.1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "agent-1", 10_000)  # popped and claimed: a token
    # ... the trial runs; its last rows, its finish and the next take in one round trip
    # (ReportRows, Finish, Take from redsweep.shared.store.calls):
    renewal, finished, next_taken = store.batch(
        ReportRows(sweep_id, trial_id, taken.token, [(0, {"loss": 0.3})], lease_ms=10_000,
                   final=True),
        Finish(sweep_id, trial_id, taken.token, "finished", summary={"loss": 0.3}),
        Take(sweep_id, "agent-1", 10_000, ack=taken.entry),
    )
"""

from __future__ import annotations

from typing import Any

from redsweep.shared.store._redis import redis  # first: see _redis
from redsweep.shared.store.agents import Agents
from redsweep.shared.store.connection import Connection, guarded, mask_url, new_id, new_token
from redsweep.shared.store.controllers import Controllers
from redsweep.shared.store.daemons import DaemonInfo, Daemons
from redsweep.shared.store.events import Events
from redsweep.shared.store.lane import Lane, Sent
from redsweep.shared.store.queue import Popped, Queue
from redsweep.shared.store.reads import Reads
from redsweep.shared.store.replies import (
    AgentInfo,
    DeadLetter,
    Event,
    Renewal,
    SweepInfo,
    Taken,
    TrialInfo,
)
from redsweep.shared.store.scripts import Call
from redsweep.shared.store.sweeps import Sweeps
from redsweep.shared.store.trials import Trials

__all__ = [
    "AgentInfo",
    "Call",
    "DaemonInfo",
    "DeadLetter",
    "Event",
    "Lane",
    "Popped",
    "Renewal",
    "Sent",
    "Store",
    "SweepInfo",
    "Taken",
    "TrialInfo",
    "mask_url",
    "new_id",
    "new_token",
]


class Store:
    """A connection to one Redis server with every operation of redsweep on it, by part.

    Make one with :meth:`Store.from_url`; it is safe to share between threads (redis-py keeps a
    connection pool). Connection problems raise :class:`~redsweep.errors.StoreError` naming the
    URL with its password masked.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.url = conn.url
        self.sweeps = Sweeps(conn)
        self.controllers = Controllers(conn)
        self.trials = Trials(conn)
        self.reads = Reads(conn)
        self.queue = Queue(conn)
        self.agents = Agents(conn)
        self.events = Events(conn)
        self.daemons = Daemons(conn)

    @classmethod
    def from_url(cls, url: str, **options: Any) -> Store:
        """Connect to ``redis://``, ``rediss://`` or ``unix://`` (lazily: the first command
        connects); ``options`` as :meth:`Connection.from_url`."""
        return cls(Connection.from_url(url, **options))

    @property
    def client(self) -> redis.Redis:
        """The underlying redis-py client (for tests and the store's own parts)."""
        return self.conn.client

    def ping(self) -> bool:
        """True when the server answers; False when it cannot be reached or refuses us."""
        return self.conn.ping()

    def batch(self, *calls: Call) -> tuple[Any, ...]:
        """Run ``calls`` (:mod:`~redsweep.shared.store.calls`,
        :mod:`~redsweep.shared.store.scripts`) in order in one round trip; what each answered,
        in order."""
        return self.conn.batch_calls(*calls)

    def lane(self) -> Lane:
        """A connection of the caller's own whose batches are answered later
        (:mod:`~redsweep.shared.store.lane`); close it when done."""
        return Lane(self.conn)

    @guarded
    def server_time_ms(self) -> int:
        """The server's clock in ms since the epoch (never the host's clock)."""
        return self.conn.server_time_ms()

    def close(self) -> None:
        """Close every connection of this store."""
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
