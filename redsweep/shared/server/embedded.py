"""The embedded default: a local Redis server under ``./.redsweep/`` started on demand.

With no ``--redis URL`` / ``REDSWEEP_REDIS_URL``, every command and API call uses this server:
the first one starts it (append-only persistence, a unix socket, no TCP), later commands and
agents in the same directory reuse it, and it keeps running until ``redsweep server stop``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import signal
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from redsweep.errors import RedsweepError
from redsweep.shared.server.local import (
    _MAX_UNIX_PATH,
    PID_NAME,
    SOCKET_NAME,
    LocalServer,
)
from redsweep.shared.server.resp import unix_command

ENV_HOME = "REDSWEEP_HOME"
DEFAULT_HOME = ".redsweep"
_SERVER_DIR = "server"


@dataclass(frozen=True)
class EmbeddedStatus:
    """Where the embedded server lives and whether it answers."""

    dir: Path
    socket: str
    running: bool
    pid: int | None

    @property
    def url(self) -> str:
        return socket_url(self.socket)


def home(base: str | os.PathLike[str] | None = None) -> Path:
    """The redsweep directory: ``$REDSWEEP_HOME``, else ``./.redsweep``."""
    return Path(base or os.environ.get(ENV_HOME) or DEFAULT_HOME).absolute()


def socket_url(path: str) -> str:
    return f"unix://{quote(path)}?db=0"


def _socket_path(server_dir: Path) -> str:
    path = str(server_dir / SOCKET_NAME)
    if len(os.fsencode(path)) <= _MAX_UNIX_PATH:
        return path
    # too deep for a unix socket: a short path in the temp dir, one per data dir
    digest = hashlib.sha1(str(server_dir).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"redsweep-{digest}.sock")


def _answers(path: str) -> bool:
    try:
        return unix_command(path, b"PING", timeout=1.0) == "PONG"
    except (OSError, RedsweepError):
        return False


def _pid(server_dir: Path) -> int | None:
    try:
        return int((server_dir / PID_NAME).read_text().strip())
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(server_dir: Path) -> Iterator[None]:
    server_dir.mkdir(parents=True, exist_ok=True)
    with open(server_dir / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def status(base: str | os.PathLike[str] | None = None) -> EmbeddedStatus:
    """Whether the embedded server of this directory runs, and where."""
    server_dir = home(base) / _SERVER_DIR
    path = _socket_path(server_dir)
    running = _answers(path)
    return EmbeddedStatus(server_dir, path, running, _pid(server_dir) if running else None)


def ensure(base: str | os.PathLike[str] | None = None) -> str:
    """The embedded server's URL, starting the server first when it is not running.

    Safe to call from many processes at once: starting is serialised by a file lock.
    """
    server_dir = home(base) / _SERVER_DIR
    path = _socket_path(server_dir)
    if _answers(path):
        return socket_url(path)
    with _locked(server_dir):
        if not _answers(path):
            # started detached (its own session): it outlives this process on purpose
            LocalServer().start(server_dir, appendonly=True, unix_path=path)
    return socket_url(path)


def stop(base: str | os.PathLike[str] | None = None, grace: float = 10.0) -> bool:
    """Stop the embedded server (its append-only file is flushed); False if it was not running."""
    info = status(base)
    if not info.running:
        return False
    with contextlib.suppress(OSError, RedsweepError):
        unix_command(info.socket, b"SHUTDOWN", timeout=grace)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _answers(info.socket) and not _alive(info.pid):
            return True
        time.sleep(0.05)
    if info.pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    return True


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours still "exists": reap it if it is ours
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done:
            return False
    return True
