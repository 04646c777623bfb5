"""The agent's launcher: one small process per agent that starts its command trials, each at
the head of a process group of its own, and ends them all the moment the agent is gone.

Run by path as ``python -I -S launcher.py FD`` (by :class:`~.command.Launcher`); it imports
only the standard library. ``FD`` is its end of a socket pair whose other end only
the agent holds: the *lifeline*, which also carries the launcher's requests and answers.
Reading EOF on it means the agent process is gone (the kernel closes a dead process's
descriptors however it died and whatever its threads were doing, so this cannot miss the way
a parent-death signal can): every trial still running is SIGKILLed with its whole group, and
the launcher exits.

One launcher per agent, not one per trial: a trial then costs one ``posix_spawn`` from a small
process (a few milliseconds) instead of an interpreter start of its own. The command is the
leader of its process group (its pid is the group's id), so the agent signals the group
directly and reads the command's own exit status.

Requests (agent to launcher): a 4-byte big-endian length, then that many bytes of JSON
``{"argv": [...], "env": {...}}``, with descriptors attached (SCM_RIGHTS) to the first byte:
the first becomes the command's stdout and stderr, the next ones its descriptors 3, 4, ...
(stdin is /dev/null). Answers (launcher to agent) are JSON lines, in the order things happened:
``{"started": PID}`` or ``{"failed": "why"}`` for each request, and ``{"exited": PID,
"status": STATUS}`` (a wait status) when a command ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys

#: The most descriptors one request carries (stdout, then the command's 3, 4, ...).
MAX_FDS = 8
#: Received descriptors are moved at or above this number, clear of the targets 0 to 2+MAX_FDS.
_HIGH_FD = 16
_LENGTH = struct.Struct(">I")
#: Received descriptors are close-on-exec from the start where the system can (Linux); no
#: other thread runs here, so elsewhere setting it right after is as good.
_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)
_DEFAULTS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGCHLD,
    signal.SIGPIPE,
    signal.SIGXFSZ,
)


class _Gone(Exception):
    """The agent closed its end: it is gone (or done with the launcher)."""


class Launcher:
    """The launcher's side of the lifeline ``sock``: requests in, answers out."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.running: set[int] = set()  # pids (and group ids) of the commands not yet reaped
        self._wake_read, wake_write = os.pipe()  # not inheritable (Python's default)
        os.set_blocking(self._wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        # a handler (not SIG_DFL) so that SIGCHLD interrupts the wait on the lifeline
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def serve(self) -> None:
        """Start what is asked and report what ended until the agent is gone."""
        pending = b""
        fds: list[int] = []
        while True:
            ready, _, _ = select.select([self.sock, self._wake_read], [], [])
            if self._wake_read in ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 512)
            self._reap()
            if self.sock not in ready:
                continue
            data, new_fds = self._receive()
            pending += data
            fds += new_fds
            while len(pending) >= _LENGTH.size:
                (length,) = _LENGTH.unpack_from(pending)
                if len(pending) < _LENGTH.size + length:
                    break
                body = pending[_LENGTH.size : _LENGTH.size + length]
                pending = pending[_LENGTH.size + length :]
                request, fds = fds, []
                try:
                    self._start(json.loads(body), request)
                finally:
                    for fd in request:
                        os.close(fd)

    def end_all(self) -> None:
        """SIGKILL every command still running, with its whole group."""
        for pid in self.running:
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)

    def _receive(self) -> tuple[bytes, list[int]]:
        try:
            data, ancdata, _, _ = self.sock.recvmsg(
                1 << 16, socket.CMSG_SPACE(MAX_FDS * 4), _CLOEXEC
            )
        except InterruptedError:  # pragma: no cover - retried by Python itself (PEP 475)
            return b"", []
        except ConnectionResetError:
            raise _Gone from None
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds += struct.unpack(f"{usable // 4}i", payload[:usable])
        if not data:
            for fd in fds:
                os.close(fd)
            raise _Gone
        return data, [self._high(fd) for fd in fds]

    @staticmethod
    def _high(fd: int) -> int:
        """``fd`` moved to a number no file action of a spawn writes to, close-on-exec."""
        if fd >= _HIGH_FD:
            os.set_inheritable(fd, False)  # already, where MSG_CMSG_CLOEXEC exists
            return fd
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, _HIGH_FD)
        os.close(fd)
        return moved

    def _start(self, request: dict[str, object], fds: list[int]) -> None:
        argv = [str(a) for a in request["argv"]]  # type: ignore[attr-defined]
        env = {str(k): str(v) for k, v in request["env"].items()}  # type: ignore[attr-defined]
        actions: list[tuple[object, ...]] = [
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fds[0], 1),
            (os.POSIX_SPAWN_DUP2, fds[0], 2),
        ]
        actions += [(os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(fds[1:])]
        try:
            pid = os.posix_spawnp(
                argv[0],
                argv,
                {os.fsencode(k): os.fsencode(v) for k, v in env.items()},
                file_actions=actions,
                setsid=True,
                # what this process ignores or handles, the command gets back at its default
                # (Python ignores SIGPIPE and SIGXFSZ; Popen restores them too)
                setsigdef=_DEFAULTS,
            )
        except (OSError, ValueError, IndexError) as exc:
            self._say({"failed": str(exc)})
            return
        self.running.add(pid)
        self._say({"started": pid})

    def _reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.running.clear()
                return
            if pid == 0:
                return
            self.running.discard(pid)
            self._say({"exited": pid, "status": status})

    def _say(self, answer: dict[str, object]) -> None:
        try:
            self.sock.sendall(json.dumps(answer).encode() + b"\n")
        except OSError:
            raise _Gone from None


def main(argv: list[str]) -> int:
    """Serve the lifeline ``argv[0]`` until the agent is gone; then end what still runs."""
    sock = socket.socket(fileno=int(argv[0]))
    sock.set_inheritable(False)  # no command may hold the lifeline
    # The agent decides what Ctrl-C and SIGTERM mean for its trials; this process must only
    # outlive the agent long enough to end them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    launcher = Launcher(sock)
    try:
        launcher.serve()
    except _Gone:
        pass
    finally:
        launcher.end_all()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
