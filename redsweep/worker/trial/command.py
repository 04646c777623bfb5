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

from redsweep.worker.trial import supervisor
from redsweep.worker.trial.output import CappedLog, OutputPump

SUPERVISOR = str(Path(supervisor.__file__).resolve())


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
