"""The store: every Redis key and every read and write of redsweep.

One class, :class:`Store`, built from its parts by job (the only modules importing redis):

* :mod:`~redsweep.shared.store_base`   connection, URLs, retries, Lua scripts, server time
* :mod:`~redsweep.shared.store_sweeps` sweeps and the controller lease (fencing epoch)
* :mod:`~redsweep.shared.store_trials` trials: add, claim, renew, report, finish, stop, reap
* :mod:`~redsweep.shared.store_trial_reads` trials read back: info, history, summary, runs
* :mod:`~redsweep.shared.store_queue`  the trial queue, agents, dead letters
* :mod:`~redsweep.shared.store_events` the controller's event inbox, a controller round's reads
* :mod:`~redsweep.shared.store_calls`  the hot-path scripts' arguments and replies (Handoff)

Key names live in :mod:`~redsweep.shared.keys` with the allowed state changes; every change is
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

from redsweep.shared.store_base import mask_url, new_id, new_token
from redsweep.shared.store_calls import Handoff
from redsweep.shared.store_events import EventsMixin
from redsweep.shared.store_pools import PoolsMixin
from redsweep.shared.store_queue import QueueMixin
from redsweep.shared.store_records import (
    AgentInfo,
    DeadLetter,
    Event,
    Renewal,
    SweepInfo,
    Taken,
    TrialInfo,
)
from redsweep.shared.store_sweeps import SweepsMixin
from redsweep.shared.store_trial_reads import TrialReadsMixin
from redsweep.shared.store_trials import TrialsMixin

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
