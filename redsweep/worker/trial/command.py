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

from redsweep.connect import ENV_URL
from redsweep.worker.api import run as run_api
from redsweep.worker.api.away import ENV_UNSENT
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.starts import wandb_env
from redsweep.worker.trial import supervisor
from redsweep.worker.trial.output import CappedLog, OutputPump

SUPERVISOR = str(Path(supervisor.__file__).resolve())


def command_env(link: TrialLink, url: str, unsent: str | os.PathLike[str]) -> dict[str, str]:
    """The environment of the command trial of ``link``: this process's, plus what the
    in-trial API reads (the trial, its token and lease, the Redis URL, where to leave what it
    cannot send: ``unsent``) and W&B's variables for the script."""
    return {
        **os.environ,
        run_api.ENV_SWEEP_ID: link.sweep_id,
        run_api.ENV_RUN_ID: link.trial_id,
        run_api.ENV_TOKEN: link.token,
        run_api.ENV_LEASE_MS: str(link.lease_ms),
        run_api.ENV_HISTORY_CAP: str(link.history_cap or ""),
        ENV_URL: url,
        ENV_UNSENT: str(unsent),
        **wandb_env(link.sweep_id, link.trial_id, link.params),
    }


class CommandChild:
    """Starts ``argv`` under a supervisor in a new process group (whose id is :attr:`pid`),
    its stdout and stderr into ``log_path`` (at most ``log_cap`` bytes). ``on_exit`` is
    called from a thread when the supervisor exits; :attr:`exited` is set then. OSError when
    not even the supervisor starts."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        log_cap: int,
        on_exit: Callable[[], None],
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
                pass_fds=(theirs.fileno(),),
            )
        except BaseException:
            ours.close()
            os.close(out_read)
            if log is not None:
                log.close()
            raise
        finally:
            theirs.close()
            os.close(out_write)
        self.pid = self.proc.pid
        self._lifeline = ours  # only this process holds it: its death is the group's end
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
        return why
