"""Shared fixtures: one private Redis server per session, a clean database per test, and a
factory for subprocesses that ends every process it started.

Tests never touch a Redis they did not start (in particular never 127.0.0.1:6379).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

# The engines multiply small matrices: OpenBLAS threads only spin against each other and the
# test's own processes on a 2-core machine (the bayes tests took 30x longer under load).
# Set before numpy is first imported; subprocesses inherit it.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
# Local servers tests start are registered in a registry of the test run's own (never the
# user's): `redsweep server list` reads it. Subprocesses inherit it.
os.environ["REDSWEEP_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="redsweep-test-registry-")

import pytest  # noqa: E402  (after the BLAS settings above)
import redis  # noqa: E402
from agent_scripts import Agents  # noqa: E402
from netns import hosts  # noqa: E402,F401  (the fixture: hosts in network namespaces)

from redsweep.shared.server.local import LocalServer, free_port  # noqa: E402
from redsweep.shared.store import Store  # noqa: E402

TEST_PASSWORD = "redsweep-test-pw"
_INTEGRATION_DIRS = (Path(__file__).parent / "integration", Path(__file__).parent / "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Everything under tests/integration and tests/faults is marked ``integration``."""
    for item in items:
        if any(d in Path(str(item.fspath)).parents for d in _INTEGRATION_DIRS):
            item.add_marker(pytest.mark.integration)


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    """One private server for the session: a unix socket and TCP (127.0.0.1, free port) with a
    password."""
    server = LocalServer().start(
        tmp_path_factory.mktemp("redis"),
        unixsocket=True,
        port=free_port(),
        password=TEST_PASSWORD,
    )
    pid = server.pid
    assert pid is not None
    try:
        yield server
    finally:
        server.stop()
        assert _process_gone(pid), f"redis server pid {pid} still running after stop()"


@pytest.fixture(scope="session")
def redis_url(redis_server: LocalServer) -> str:
    """``redis://:PASSWORD@127.0.0.1:PORT/0`` of the session server."""
    url = redis_server.tcp_url
    assert url is not None
    return url


@pytest.fixture(scope="session")
def redis_unix_url(redis_server: LocalServer) -> str:
    """``unix://:PASSWORD@/…/redis.sock?db=0`` of the session server."""
    url = redis_server.unix_url
    assert url is not None
    return url


@pytest.fixture
def redis_client(redis_unix_url: str) -> Iterator[redis.Redis]:
    """A redis-py client on the session server, which is emptied (FLUSHALL) before the test."""
    client = redis.Redis.from_url(redis_unix_url)
    client.flushall()
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def store(redis_client: redis.Redis, redis_url: str) -> Iterator[Store]:
    """A store on the (emptied) session server over TCP with its password."""
    with Store.from_url(redis_url) as s:
        yield s


class Procs:
    """Starts subprocesses, each in its own session, and ends them all at teardown."""

    def __init__(self, log_dir: Path) -> None:
        self._log_dir = log_dir
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: dict[int, tuple[Path, Path]] = {}

    def spawn(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv``; stdout/stderr go to ``procN.out``/``procN.err`` in tmp_path.

        ``env`` is added to (not replacing) the current environment.
        """
        n = len(self._procs)
        out_path = self._log_dir / f"proc{n}.out"
        err_path = self._log_dir / f"proc{n}.err"
        full_env = {**os.environ, **(env or {})}
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(
                list(argv),
                env=full_env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self._procs.append(proc)
        self._logs[proc.pid] = (out_path, err_path)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> tuple[str, str]:
        """What ``proc`` wrote so far to stdout and stderr."""
        out_path, err_path = self._logs[proc.pid]
        return out_path.read_text(errors="replace"), err_path.read_text(errors="replace")

    def cleanup(self, grace: float = 5.0) -> list[str]:
        """SIGTERM every process group started, SIGKILL after ``grace`` s; return what is left."""
        for proc in self._procs:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self._procs:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=grace)
        return [
            f"pid {proc.pid} ({' '.join(map(str, proc.args))})"  # type: ignore[arg-type]
            for proc in self._procs
            if not _group_gone(proc.pid)
        ]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is still alive (zombies do not count)."""
    proc_dir = Path("/proc")
    if not proc_dir.is_dir():  # not Linux: ask the kernel, zombies included
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat_file in proc_dir.glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue  # exited while we looked
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _group_gone(pgid: int, wait: float = 2.0) -> bool:
    deadline = time.monotonic() + wait
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """A factory: ``procs.spawn(argv, env=..., cwd=...) -> Popen``; all ended at teardown."""
    factory = Procs(tmp_path)
    try:
        yield factory
    finally:
        left = factory.cleanup()
        assert not left, f"processes still running after teardown: {left}"


@pytest.fixture
def agents(procs: Procs, tmp_path: Path, redis_url: str) -> Agents:
    """Agent processes around an AgentSession script (:mod:`agent_scripts`), ended by ``procs``."""
    return Agents(procs, tmp_path, redis_url)
