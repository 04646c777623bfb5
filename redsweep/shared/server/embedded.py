"""The embedded default: a local Redis server under the project's ``.redsweep/``, on demand.

With no ``--redis URL`` / ``REDSWEEP_REDIS_URL``, every command and API call uses this server.
Its directory is found the way git finds ``.git``: ``$REDSWEEP_HOME``, else the nearest
``.redsweep/`` from the current directory upward, else ``./.redsweep`` (made on first use), so
every command run anywhere inside a project shares one store. The first command starts the
server (append-only persistence, a unix socket, no TCP) and notes it in the registry of local
servers (:mod:`~redsweep.shared.server.registry`, ``redsweep server list``); beside it an idle
watcher (:mod:`~redsweep.shared.server.idle`) stops it once no client used it for 30 minutes
(``$REDSWEEP_IDLE_STOP_S``); ``redsweep server start --keep`` keeps it instead. The data stays
either way: the next command starts the server again on it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from redsweep.errors import RedsweepError
from redsweep.shared.home import ENV_HOME
from redsweep.shared.home import discover as discover_home
from redsweep.shared.server import registry
from redsweep.shared.server.idle import KEEP_NAME
from redsweep.shared.server.local import (
    _MAX_UNIX_PATH,
    PID_NAME,
    SOCKET_NAME,
    LocalServer,
)
from redsweep.shared.server.resp import unix_command

#: seconds without a client after which a local server stops itself
ENV_IDLE_STOP = "REDSWEEP_IDLE_STOP_S"
DEFAULT_IDLE_STOP_S = 30 * 60.0
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
    """The redsweep directory: ``base``, else ``$REDSWEEP_HOME``, else the nearest
    ``.redsweep/`` from the current directory upward, else ``./.redsweep``."""
    explicit = base or os.environ.get(ENV_HOME)
    if explicit:
        return Path(explicit).absolute()
    return discover(Path.cwd())


def discover(start: Path) -> Path:
    """The nearest ``.redsweep/`` directory at ``start`` or above it, as git finds ``.git``;
    ``start/.redsweep`` when there is none."""
    return Path(discover_home(os.fspath(start)))


def idle_stop_s() -> float:
    """``$REDSWEEP_IDLE_STOP_S``, else 30 minutes."""
    raw = os.environ.get(ENV_IDLE_STOP)
    if raw is None or not raw.strip():
        return DEFAULT_IDLE_STOP_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise RedsweepError(f"{ENV_IDLE_STOP}={raw!r}: expected a positive number of seconds")
    return seconds


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


def ensure(base: str | os.PathLike[str] | None = None, *, keep: bool = False) -> str:
    """The embedded server's URL, starting the server first when it is not running (with an
    idle watcher, unless ``keep``; ``keep`` also keeps a server already running).

    Safe to call from many processes at once: starting is serialised by a file lock.
    """
    server_dir = home(base) / _SERVER_DIR
    path = _socket_path(server_dir)
    if keep:
        server_dir.mkdir(parents=True, exist_ok=True)
        (server_dir / KEEP_NAME).touch()  # a watcher that sees it leaves the server alone
    if _answers(path):
        return socket_url(path)
    with _locked(server_dir):
        if not _answers(path):
            idle = idle_stop_s()
            if not keep:
                with contextlib.suppress(FileNotFoundError):
                    (server_dir / KEEP_NAME).unlink()  # kept was the server before this one
            # started detached (its own session): it outlives this process on purpose
            server = LocalServer().start(server_dir, appendonly=True, unix_path=path)
            registry.register(server_dir, path, server.pid)
            if not keep:
                _start_watcher(server_dir, path, idle)
    return socket_url(path)


def _start_watcher(server_dir: Path, path: str, idle_s: float) -> None:
    # its start-up competes with the command that starts the server (the quickstart's first
    # trial): no site processing (-S; it needs only the standard library and this package,
    # found by path) and a lower priority
    package_root = str(Path(__file__).resolve().parents[3])
    argv = [sys.executable, "-S", "-m", "redsweep.shared.server.idle", str(server_dir), path]
    nice = shutil.which("nice")
    if nice:
        argv = [nice, "-n", "10", *argv]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    with open(server_dir / "idle.log", "ab") as log:
        subprocess.Popen(
            [*argv, repr(idle_s)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # like the server, it outlives the command that started it
        )


def kept(base: str | os.PathLike[str] | None = None) -> bool:
    """Whether the server of this directory is kept (no idle stop)."""
    return (home(base) / _SERVER_DIR / KEEP_NAME).exists()


@dataclass(frozen=True)
class Running:
    """A local server that answers: its project folder, socket, pid, since when, kept."""

    project: Path
    socket: str
    pid: int | None
    started: float
    kept: bool


def running() -> list[Running]:
    """Every local server in the registry that answers (those that do not are forgotten)."""
    out = []
    for entry in registry.entries():
        if not _answers(entry.socket):
            registry.unregister(entry.dir)
            continue
        server_dir = Path(entry.dir)
        out.append(
            Running(
                project=server_dir.parent.parent,
                socket=entry.socket,
                pid=_pid(server_dir) or entry.pid,
                started=entry.started,
                kept=(server_dir / KEEP_NAME).exists(),
            )
        )
    return out


def stop(base: str | os.PathLike[str] | None = None, grace: float = 10.0) -> bool:
    """Stop the embedded server (its append-only file is flushed); False if it was not running."""
    info = status(base)
    if not info.running:
        return False
    registry.unregister(info.dir)
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
