"""Worker daemons and their pools: a registry with heartbeats. Part of
:mod:`redsweep.shared.store`.

RQ keeps its own records of workers, queues and jobs; this registry only adds what RQ does not
know: which RQ workers form one ``redsweep worker`` daemon, its pool, slots and GPUs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded, opt_int, text

#: What a daemon's code catches to outlive a Redis outage (RQ raises redis-py's errors).
CONNECTION_ERRORS: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError)


@dataclass(frozen=True)
class DaemonInfo:
    """A registered worker daemon; ``gpus`` is empty without ``--gpus``; times are server ms."""

    id: str
    host: str
    pid: int
    pool: str
    slots: int
    gpus: tuple[str, ...] = field(default_factory=tuple)
    started_ms: int = 0
    seen_ms: int = 0
    expires_ms: int = 0


class Daemons:
    """Worker daemons and the pools they serve."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    @guarded
    def register(
        self,
        daemon_id: str,
        *,
        host: str,
        pid: int,
        pool: str,
        slots: int,
        gpus: Sequence[str] = (),
        ttl_ms: int,
    ) -> None:
        """Say daemon ``daemon_id`` is alive for ``ttl_ms`` more (server time); call again as
        a heartbeat."""
        now = self._conn.server_time_ms()
        key = keys.daemon(daemon_id)
        pipe = self._r.pipeline(transaction=True)
        pipe.hsetnx(key, "started_ms", now)
        pipe.hset(
            key,
            mapping={
                "host": host,
                "pid": pid,
                "pool": pool,
                "slots": slots,
                "gpus": ",".join(gpus),
                "seen_ms": now,
            },
        )
        pipe.pexpire(key, ttl_ms)
        pipe.zadd(keys.daemons(), {daemon_id: now + ttl_ms})
        pipe.sadd(keys.pools(), pool)
        pipe.execute()

    @guarded
    def remove(self, daemon_id: str) -> None:
        """Forget a daemon that leaves."""
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(keys.daemon(daemon_id))
        pipe.zrem(keys.daemons(), daemon_id)
        pipe.execute()

    @guarded
    def live(self) -> list[DaemonInfo]:
        """Daemons whose registration has not expired, oldest first; expired ones are pruned."""
        now = self._conn.server_time_ms()
        pipe = self._r.pipeline(transaction=False)
        pipe.zremrangebyscore(keys.daemons(), "-inf", now)
        pipe.zrangebyscore(keys.daemons(), f"({now}", "+inf", withscores=True)
        live = pipe.execute()[1]
        pipe = self._r.pipeline(transaction=False)
        for daemon_id, _ in live:
            pipe.hgetall(keys.daemon(daemon_id.decode()))
        out = []
        for (daemon_id, expiry), raw in zip(live, pipe.execute(), strict=True):
            if not raw:
                continue
            gpus = text(raw.get(b"gpus")) or ""
            out.append(
                DaemonInfo(
                    id=daemon_id.decode(),
                    host=text(raw.get(b"host")) or "?",
                    pid=opt_int(raw.get(b"pid")) or 0,
                    pool=text(raw.get(b"pool")) or "",
                    slots=opt_int(raw.get(b"slots")) or 0,
                    gpus=tuple(g for g in gpus.split(",") if g),
                    started_ms=opt_int(raw.get(b"started_ms")) or 0,
                    seen_ms=opt_int(raw.get(b"seen_ms")) or 0,
                    expires_ms=int(expiry),
                )
            )
        return sorted(out, key=lambda d: (d.started_ms, d.id))

    @guarded
    def add_pool(self, pool: str) -> None:
        """Remember pool ``pool`` (sessions were launched onto it)."""
        self._r.sadd(keys.pools(), pool)

    @guarded
    def pools(self) -> list[str]:
        """Every pool a daemon served or a session was launched onto, sorted."""
        return sorted(p.decode() for p in self._r.smembers(keys.pools()))
