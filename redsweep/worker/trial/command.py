"""A command trial's processes as the agent sees them: the supervisor at the head of the
trial's process group (:mod:`redsweep.worker.trial.supervisor`), the lifeline that ends the
group when the agent dies, and the output copied into the capped log
(:mod:`redsweep.worker.trial.output`).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from redsweep.connect import ENV_URL
from redsweep.worker.api import run as run_api
from redsweep.worker.api.away import ENV_UNSENT
from redsweep.worker.api.channel import ENV_AGENT_FD
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.starts import wandb_env
from redsweep.worker.trial import supervisor
from redsweep.worker.trial.channel import TrialChannel
from redsweep.worker.trial.output import CappedLog, OutputPump

SUPERVISOR = str(Path(supervisor.__file__).resolve())


def command_env(
    link: TrialLink, url: str, unsent: str | os.PathLike[str], channel_fd: int
) -> dict[str, str]:
    """The environment of the command trial of ``link``: this process's, plus what the
    in-trial API reads (the trial, its channel to this agent: ``channel_fd``, where to leave
    what it cannot send: ``unsent``) and W&B's variables for the script. The Redis URL, its
    password and the trial's token stay out: the agent makes the trial's store calls."""
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
        ENV_AGENT_FD: str(channel_fd),
        ENV_UNSENT: str(unsent),
        **wandb_env(link.sweep_id, link.trial_id, link.params),
    }


#: The agent's own variables a trial must not inherit (its Redis; a token of another trial).
_LEFT_OUT = frozenset({ENV_URL, run_api.ENV_TOKEN, run_api.ENV_LEASE_MS, run_api.ENV_HISTORY_CAP})


class CommandChild:
    """Starts ``argv`` under a supervisor in a new process group (whose id is :attr:`pid`),
    its stdout and stderr into ``log_path`` (at most ``log_cap`` bytes). ``on_exit`` is
    called from a thread when the supervisor exits; :attr:`exited` is set then. ``channel``
    (the trial's calls to this agent) is passed on and served until :meth:`close`. OSError
    when not even the supervisor starts."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        log_cap: int,
        on_exit: Callable[[], None],
        channel: TrialChannel | None = None,
    ) -> None:
        ours, theirs = socket.socketpair()  # both ends close-on-exec; theirs is passed on
        out_read, out_write = os.pipe()
        log = None
        try:
            log = CappedLog(log_path, log_cap)
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SUPERVISOR, str(theirs.fileno()), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out_write,
                stderr=subprocess.STDOUT,
                env=dict(env),
                start_new_session=True,
                pass_fds=(theirs.fileno(), *([channel.fd] if channel else [])),
            )
        except BaseException:
            ours.close()
            if channel is not None:
                channel.close()
            os.close(out_read)
            if log is not None:
                log.close()
            raise
        finally:
            theirs.close()
            os.close(out_write)
        self.pid = self.proc.pid
        self._lifeline = ours  # only this process holds it: its death is the group's end
        self._channel = channel
        if channel is not None:
            channel.start()
        self._pump = OutputPump(out_read, log)
        self.exited = threading.Event()

        def reap() -> None:
            self.proc.wait()
            self.exited.set()
            on_exit()

        threading.Thread(target=reap, name=f"redsweep-wait-{self.pid}", daemon=True).start()

    @property
    def returncode(self) -> int | None:
        """The command's exit code, or minus the signal that ended it (as Popen says it)."""
        return self.proc.returncode

    def close(self) -> str | None:
        """Once the supervisor exited and the group was killed: the rest of the output into
        the log, the lifeline cut. Returns why the command could not start (None if it did)."""
        self._pump.finish()
        why = None
        if self.proc.returncode == supervisor.START_FAILED:
            with contextlib.suppress(OSError):
                self._lifeline.setblocking(False)
                why = self._lifeline.recv(4096).decode("utf-8", "replace") or None
        self._lifeline.close()
        if self._channel is not None:
            self._channel.close()
        return why
