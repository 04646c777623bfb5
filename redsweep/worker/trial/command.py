"""A command trial's processes as the agent sees them: the agent's launcher
(:mod:`redsweep.worker.trial.launcher`), which starts each command at the head of its own
process group and ends them all when the agent dies; the command itself; and its output
copied into the capped log (:mod:`redsweep.worker.trial.output`).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from redsweep.connect import ENV_URL
from redsweep.worker.api import run as run_api
from redsweep.worker.api.away import ENV_UNSENT
from redsweep.worker.api.channel import ENV_AGENT_FD
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.starts import wandb_env
from redsweep.worker.trial import launcher
from redsweep.worker.trial.channel import TrialChannel
from redsweep.worker.trial.output import CappedLog, OutputPump

LAUNCHER = str(Path(launcher.__file__).resolve())
#: The descriptor number of a command's channel to its agent (the launcher puts it there).
CHANNEL_FD = 3


def command_env(link: TrialLink, url: str, unsent: str | os.PathLike[str]) -> dict[str, str]:
    """The environment of the command trial of ``link``: this process's, plus what the
    in-trial API reads (the trial, its channel to this agent: descriptor :data:`CHANNEL_FD`,
    where to leave what it cannot send: ``unsent``) and W&B's variables for the script. The
    Redis URL, its password and the trial's token stay out: the agent makes the trial's store
    calls."""
    secrets = [s for s in (url, urlsplit(url).password) if s and len(s) >= 4]
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k not in _LEFT_OUT and not any(s in v for s in secrets)
    }
    return {
        **inherited,
        run_api.ENV_SWEEP_ID: link.sweep_id,
        run_api.ENV_RUN_ID: link.trial_id,
        ENV_AGENT_FD: str(CHANNEL_FD),
        ENV_UNSENT: str(unsent),
        **wandb_env(link.sweep_id, link.trial_id, link.params),
    }


#: The agent's own variables a trial must not inherit (its Redis; a token of another trial).
_LEFT_OUT = frozenset({ENV_URL, run_api.ENV_TOKEN, run_api.ENV_LEASE_MS, run_api.ENV_HISTORY_CAP})


class Launcher:
    """This agent's launcher process (:mod:`redsweep.worker.trial.launcher`), started at once:
    :meth:`spawn` starts a command through it. Only this process holds the lifeline, so the
    launcher ends every command still running when this process is gone, however it died. If
    the launcher itself dies, the commands it started are killed here and reported killed;
    :attr:`gone` says a new launcher is needed. OSError when it cannot start."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()  # both close-on-exec; theirs is passed on
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", LAUNCHER, str(theirs.fileno())],
                stdin=subprocess.DEVNULL,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # the terminal's Ctrl-C is the agent's to handle
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self._sock = ours
        self._spawning = threading.Lock()  # one request, then its answer
        self._answers: queue.SimpleQueue[dict[str, Any] | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._waiting: dict[int, Callable[[int], None]] = {}  # pid -> told its exit status
        self._early: dict[int, int] = {}  # exits read before their pid was registered
        self.gone = False
        self._reader = threading.Thread(target=self._read, name="redsweep-launcher", daemon=True)
        self._reader.start()

    def spawn(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        fds: Sequence[int],
        on_exit: Callable[[int], None],
    ) -> int:
        """Start ``argv`` with ``env``; ``fds[0]`` is its stdout and stderr, the next ones its
        descriptors 3, 4, ... Returns its pid (also its process group's id); ``on_exit`` is
        called from a thread with its exit code (minus the signal that killed it). OSError
        when it cannot start."""
        body = json.dumps({"argv": list(argv), "env": dict(env)}).encode()
        request = struct.pack(">I", len(body)) + body
        with self._spawning:
            if self.gone:
                raise OSError("the agent's launcher process is gone")
            try:
                sent = self._sock.sendmsg(
                    [request],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack(f"{len(fds)}i", *fds))],
                )
                self._sock.sendall(request[sent:])  # the rest, if a signal cut the send short
            except OSError as exc:
                raise OSError(f"the agent's launcher process is gone ({exc})") from None
            answer = self._answers.get()
        if answer is None:
            raise OSError("the agent's launcher process is gone")
        if "failed" in answer:
            raise OSError(answer["failed"])
        pid = int(answer["started"])
        with self._lock:
            code = self._early.pop(pid, None)
            if code is None and self.gone:  # it died just after: nothing will report the exit
                with contextlib.suppress(OSError):
                    os.killpg(pid, signal.SIGKILL)
                code = -signal.SIGKILL
            if code is None:
                self._waiting[pid] = on_exit
        if code is not None:
            on_exit(code)
        return pid

    def close(self) -> None:
        """Let the launcher go (it ends what still runs) and wait for it."""
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(5.0)
        self._reader.join(5.0)

    def _read(self) -> None:
        try:
            pending = b""
            while data := self._recv():
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    answer = json.loads(line)
                    if "exited" in answer:
                        self._exited(int(answer["exited"]), int(answer["status"]))
                    else:
                        self._answers.put(answer)
        finally:  # EOF, or an answer that makes no sense: either way it cannot be trusted
            self._lost()

    def _recv(self) -> bytes:
        try:
            return self._sock.recv(1 << 16)
        except OSError:
            return b""

    def _exited(self, pid: int, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        with self._lock:
            on_exit = self._waiting.pop(pid, None)
            if on_exit is None:
                self._early[pid] = code
        if on_exit is not None:
            on_exit(code)

    def _lost(self) -> None:
        """The launcher is gone: what it started cannot be watched any more, so it ends now."""
        with self._lock:
            self.gone = True
            waiting, self._waiting = self._waiting, {}
        self._answers.put(None)
        for pid, on_exit in waiting.items():
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
            on_exit(-signal.SIGKILL)


class CommandChild:
    """Starts ``argv`` through ``launcher`` in a new process group (whose id is :attr:`pid`),
    its stdout and stderr into ``log_path`` (at most ``log_cap`` bytes). ``on_exit`` is
    called from a thread when the command exits; :attr:`exited` is set then. ``channel``
    (the trial's calls to this agent) is passed on as descriptor :data:`CHANNEL_FD` and
    served until :meth:`close`. OSError when the command cannot start (saying why)."""

    def __init__(
        self,
        launcher: Launcher,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        log_cap: int,
        on_exit: Callable[[], None],
        channel: TrialChannel | None = None,
    ) -> None:
        self.exited = threading.Event()
        self.returncode: int | None = None  # minus the signal that ended it, as Popen says it

        def exited(code: int) -> None:
            self.returncode = code
            self.exited.set()
            on_exit()

        out_read, out_write = os.pipe()
        log = None
        try:
            log = CappedLog(log_path, log_cap)
            fds = [out_write, *([channel.fd] if channel else [])]
            self.pid = launcher.spawn(argv, env, fds, exited)
        except BaseException:
            if channel is not None:
                channel.close()
            os.close(out_read)
            if log is not None:
                log.close()
            raise
        finally:
            os.close(out_write)
        self.log_path = log_path
        self._channel = channel
        if channel is not None:
            channel.start()
        self._pump = OutputPump(out_read, log)

    def close(self) -> None:
        """Once the command exited and its group was killed: the rest of the output into the
        log, the channel cut."""
        self._pump.finish()
        if self._channel is not None:
            self._channel.close()


class CommandStarter:
    """Starts the commands of one runner: each with its environment (:func:`command_env`), its
    channel to this agent and its log (``agent_dir/TRIAL.log``, capped at ``log_cap``), through
    the runner's launcher, started with the first command (and anew if the last one died)."""

    def __init__(self, url: str, agent_dir: Path, log_cap: int) -> None:
        self.url = url
        self.agent_dir = agent_dir
        self.log_cap = log_cap
        self._launcher: Launcher | None = None

    def start(
        self, link: TrialLink, argv: Sequence[str], unsent: Path, on_exit: Callable[[], None]
    ) -> CommandChild:
        """Start ``argv`` for the trial of ``link`` (what it cannot send goes to ``unsent``);
        OSError when it cannot start, saying why."""
        channel = TrialChannel(link)  # the trial's calls, made by this agent
        env = command_env(link, self.url, unsent)
        log_path = self.agent_dir / f"{link.trial_id}.log"
        try:
            launcher = self._launcher_now()
        except BaseException:
            channel.close()
            raise
        return CommandChild(launcher, argv, env, log_path, self.log_cap, on_exit, channel)

    def close(self) -> None:
        """Let the launcher go."""
        if self._launcher is not None:
            self._launcher.close()

    def _launcher_now(self) -> Launcher:
        if self._launcher is None or self._launcher.gone:
            self.close()
            self._launcher = Launcher()
        return self._launcher
