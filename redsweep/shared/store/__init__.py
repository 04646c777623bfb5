"""The store: every Redis key and every read and write of redsweep.

One class, :class:`Store`, built from its parts by job (the only modules importing redis):

* :mod:`~redsweep.shared.store.connection`   connection, URLs, retries, Lua scripts, server time
* :mod:`~redsweep.shared.store.sweeps` sweeps and the controller lease (fencing epoch)
* :mod:`~redsweep.shared.store.trials` trials: add, claim, renew, report, finish, stop, reap
* :mod:`~redsweep.shared.store.reads` trials read back: info, history, summary, runs
* :mod:`~redsweep.shared.store.queue`  the trial queue, agents, dead letters
* :mod:`~redsweep.shared.store.events` the controller's event inbox, a controller round's reads
* :mod:`~redsweep.shared.store.calls`  the hot-path scripts' arguments and replies (Handoff)

Key names live in :mod:`~redsweep.shared.store.keys` with the allowed state changes; every change is
one Lua compare-and-set in ``shared/lua/`` (each file's header documents its KEYS and ARGV), so
a retried call is harmless. Times come from the Redis server, never from host clocks. Values
other than plain strings are packed with :mod:`~redsweep.shared.protocol`.

Typical use::

    store = Store.from_url("redis://:secret@host:6379/0")
    sweep_id = store.create_sweep(config.raw, project="demo", run_cap=10)
    epoch = store.acquire_controller(sweep_id, "ctl-1", ttl_ms=10_000)
    trial_id = store.add_trial(sweep_id, {"lr": 0.1}, epoch=epoch)
"""

from __future__ import annotations

from redsweep.shared.store.connection import mask_url, new_id, new_token
from redsweep.shared.store.calls import Handoff
from redsweep.shared.store.events import EventsMixin
from redsweep.shared.store.daemons import PoolsMixin
from redsweep.shared.store.queue import QueueMixin
from redsweep.shared.store.replies import (
    AgentInfo,
    DeadLetter,
    Event,
    Renewal,
    SweepInfo,
    Taken,
    TrialInfo,
)
from redsweep.shared.store.sweeps import SweepsMixin
from redsweep.shared.store.reads import TrialReadsMixin
from redsweep.shared.store.trials import TrialsMixin

__all__ = [
    "AgentInfo",
    "DeadLetter",
    "Event",
    "Handoff",
    "Renewal",
    "Store",
    "SweepInfo",
    "Taken",
    "TrialInfo",
    "mask_url",
    "new_id",
    "new_token",
]


class Store(SweepsMixin, TrialsMixin, TrialReadsMixin, QueueMixin, EventsMixin, PoolsMixin):
    """A connection to one Redis server with every operation of redsweep on it.

    Make one with :meth:`Store.from_url`; it is safe to share between threads (redis-py keeps a
    connection pool). Connection problems raise :class:`~redsweep.errors.StoreError` naming the
    URL with its password masked.
    """

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
