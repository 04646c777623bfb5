"""Fixtures of the fault suite: a Redis server of the test's own, which it may shut down and
start again (on its append-only file, or empty)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from redsweep.shared.server.local import LocalServer, free_port

PASSWORD = "faults-test-pw"


class OwnRedis:
    """A redis-server on 127.0.0.1 (a free port, a password) that a test may restart."""

    def __init__(self, data_dir: Path, *, appendonly: bool) -> None:
        self.data_dir, self.appendonly = data_dir, appendonly
        self.port = free_port()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        self.server = LocalServer()

    def start(self) -> None:
        self.server.start(
            self.data_dir,
            unixsocket=False,
            port=self.port,
            password=PASSWORD,
            appendonly=self.appendonly,
        )

    def stop(self) -> None:
        """SHUTDOWN (the append-only file, when on, is flushed first)."""
        self.server.stop()


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A private append-only server: restarted, it has everything it had."""
    own = OwnRedis(tmp_path / "redis-aof", appendonly=True)
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
def bare_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A private server without persistence: restarted, it is empty."""
    own = OwnRedis(tmp_path / "redis-bare", appendonly=False)
    own.start()
    try:
        yield own
    finally:
        own.stop()
