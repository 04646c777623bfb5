"""A trial's child process (a command, or a forked function): watched until it exits, its
process group signalled when the trial must stop, the tail of its output kept.

Part of :mod:`redsweep.worker.trial`: the runner starts the child, these watch and end it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from redsweep.worker.api.link import TrialLink

#: Lines of a command's output kept on the run.
TAIL_LINES = 40


def supervise(
    link: TrialLink,
    pgid: int,
    exited: Callable[[], bool],
    *,
    wake: threading.Event,
    interrupts: Callable[[], int],
    grace_s: float,
) -> bool:
    """Wait for the child to exit (``wake`` is set whenever something happened); SIGTERM its
    group when the trial must stop (``link`` says so, or the user interrupted it), SIGKILL
    after ``grace_s`` (or at once on a second interrupt). True when it was signalled."""
    term_at: float | None = None
    killed = False
    while not exited():
        wake.wait(0.5)
        wake.clear()
        if exited():
            break
        if term_at is None and (link.stopping or link.lost or interrupts()):
            kill_group(pgid, signal.SIGTERM)
            term_at = time.monotonic()
        due = term_at is not None and (interrupts() >= 2 or time.monotonic() - term_at >= grace_s)
        if due and not killed:
            kill_group(pgid, signal.SIGKILL)
            killed = True
    return term_at is not None


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pgid``, if it still exists."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def tail_of(path: Path, lines: int = TAIL_LINES) -> str:
    """The last ``lines`` lines of a file (reading at most its last 256 KiB)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 256 * 1024))
            data = fh.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace")
    return "\n".join(text.splitlines()[-lines:])
