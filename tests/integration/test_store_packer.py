"""The store packs commands itself (hiredis, one C call per command): what reaches Redis must be
byte for byte what redis-py would have sent, and what redis-py refuses stays refused."""

from __future__ import annotations

import pytest
import redis
from redis.connection import Connection as RedisPyConnection
from redis.exceptions import DataError

from redsweep.shared.store import Store
from redsweep.shared.store.packer import CommandPacker

ARGUMENTS = [
    ("SET", "plain", "value"),
    ("HSET", "h", "é€😀", b"\x00\xffraw", "n", 0, "neg", -17, "big", 10**30),
    ("RPUSH", "floats", 0.1, 1 / 3, -0.0, 1e300, 2.5e-8, float("inf"), float("-inf")),
    (b"EVALSHA", b"a" * 40, 2, "k1", "k2", "", "x" * 10_000),
    ("CLIENT SETINFO", "LIB-NAME", "redsweep"),  # a name with a space: redis-py splits it
    ("SET", "mv", memoryview(b"bytes in a view")),
    ("SET", "ba", bytearray(b"a bytearray")),
]


@pytest.mark.parametrize("args", ARGUMENTS, ids=lambda a: str(a[0]))
def test_packs_what_redis_py_packs(args: tuple) -> None:
    ours = b"".join(bytes(c) for c in CommandPacker().pack(*args))
    theirs = b"".join(bytes(c) for c in RedisPyConnection().pack_command(*args))
    assert ours == theirs


def test_values_round_trip_through_a_real_server(store: Store, redis_client: redis.Redis) -> None:
    """The store's client writes the same bytes redis-py's own client does, for every kind of
    value the store sends."""
    assert isinstance(
        store.client.connection_pool.connection_kwargs["command_packer"], CommandPacker
    )
    values = [
        "é€😀",
        b"\x00\xff",
        0,
        -17,
        10**30,
        0.1,
        1 / 3,
        -0.0,
        1e300,
        float("inf"),
        "x" * 10_000,
    ]
    for i, value in enumerate(values):
        store.client.set(f"ours:{i}", value)
        redis_client.set(f"theirs:{i}", value)
    for i in range(len(values)):
        assert redis_client.get(f"ours:{i}") == redis_client.get(f"theirs:{i}")
    pipe = store.client.pipeline(transaction=False)
    pipe.rpush("list", *values)
    pipe.lrange("list", 0, -1)
    _, stored = pipe.execute()
    redis_client.rpush("list2", *values)
    assert stored == redis_client.lrange("list2", 0, -1)


@pytest.mark.parametrize("bad", [True, None, object()])
def test_what_redis_py_refuses_is_still_refused(store: Store, bad: object) -> None:
    with pytest.raises(DataError):
        store.client.set("k", bad)  # type: ignore[arg-type]
    assert store.client.exists("k") == 0


def test_multi_word_commands_reach_the_server(store: Store) -> None:
    assert store.client.execute_command("CONFIG GET", "maxmemory-policy")
