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
    fence_grace_s: float | None = None,
) -> bool:
    """Wait for the child to exit (``wake`` is set whenever something happened); SIGTERM its
    group when the trial must stop (``link`` says so, or the user interrupted it), SIGKILL
    after ``grace_s`` (or at once on a second interrupt), or after ``fence_grace_s`` once the
    link is lost (the lease cannot be renewed: the group must be gone before it lapses). True
    when it was signalled."""
    term_at: float | None = None
    killed = False

    def grace() -> float:
        if link.lost and fence_grace_s is not None:
            return min(grace_s, fence_grace_s)
        return grace_s

    while not exited():
        wait = 0.5
        if term_at is not None and not killed:  # wake up when the SIGKILL is due
            wait = min(wait, max(0.0, term_at + grace() - time.monotonic()))
        wake.wait(wait)
        wake.clear()
        if exited():
            break
        if term_at is None and (link.stopping or link.lost or interrupts()):
            kill_group(pgid, signal.SIGTERM)
            term_at = time.monotonic()
        due = term_at is not None and (interrupts() >= 2 or time.monotonic() - term_at >= grace())
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
