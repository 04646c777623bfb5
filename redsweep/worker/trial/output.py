"""A command trial's output, copied from its pipe into its log file, capped on disk.

The log keeps everything while the output stays within the cap (default 64 MiB,
``REDSWEEP_LOG_CAP`` in bytes, or the ``log_cap`` option of the agent session). Past the cap
it keeps the first half and the latest half: the tail is written as a ring in the second half
of the file, so the file never grows past the cap and the agent holds no more than one read's
worth of output in memory. When the trial ends the ring is put in order behind a marker line
that says how many bytes were left out.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from pathlib import Path

from redsweep.errors import RedsweepError

#: Default cap of a command trial's log file (bytes).
DEFAULT_LOG_CAP = 64 * 1024 * 1024
#: Environment variable overriding the default cap (bytes).
ENV_LOG_CAP = "REDSWEEP_LOG_CAP"
#: How long the output is still read once the trial's processes were ended (s).
DRAIN_S = 1.0
_CHUNK = 1024 * 1024


def log_cap_from_env(default: int = DEFAULT_LOG_CAP) -> int:
    """The cap ``REDSWEEP_LOG_CAP`` asks for, else ``default`` (RedsweepError when it is not a
    number of bytes)."""
    raw = os.environ.get(ENV_LOG_CAP)
    if raw is None or not raw.strip():
        return default
    try:
        cap = int(raw)
    except ValueError:
        cap = 0
    if cap < 2:
        raise RedsweepError(f"{ENV_LOG_CAP}={raw!r}: expected a number of bytes (at least 2)")
    return cap


class CappedLog:
    """A log file of at most ``cap`` bytes (plus one marker line): the head and the tail."""

    def __init__(self, path: Path, cap: int) -> None:
        if cap < 2:
            raise ValueError(f"a log cap must be at least 2 bytes, got {cap}")
        self.path = path
        self.head = cap // 2
        self.ring = cap - self.head
        self.total = 0  # bytes written to the log so far, kept or not
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
        self._broken = False  # a write failed (disk full): the rest is dropped

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not self._broken:
            at = self.total
            if at < self.head:
                offset, room = at, self.head - at
            else:
                pos = (at - self.head) % self.ring
                offset, room = self.head + pos, self.ring - pos
            part = view[:room]
            try:
                os.pwrite(self._fd, part, offset)
            except OSError:
                self._broken = True
            self.total += len(part)
            view = view[len(part) :]

    def close(self) -> None:
        """Put the tail in order behind the marker (when the output passed the cap)."""
        fd, self._fd = self._fd, -1
        if fd < 0:
            return
        try:
            if self.total > self.head + self.ring and not self._broken:
                self._reorder(fd)
        finally:
            os.close(fd)

    def _reorder(self, fd: int) -> None:
        left_out = self.total - self.head - self.ring
        pos = (self.total - self.head) % self.ring  # the oldest byte of the ring
        marker = (
            f"\n[redsweep: {left_out} bytes of output left out here; the log keeps the first "
            f"{self.head} and the last {self.ring} bytes]\n"
        ).encode()
        spans = [(0, self.head), (self.head + pos, self.ring - pos), (self.head, pos)]
        tmp = self.path.with_name(self.path.name + ".part")
        try:
            with open(tmp, "wb") as out:
                for i, (start, size) in enumerate(spans):
                    while size > 0:
                        data = os.pread(fd, min(size, _CHUNK), start)
                        if not data:
                            break
                        out.write(data)
                        start, size = start + len(data), size - len(data)
                    if i == 0:
                        out.write(marker)
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class OutputPump:
    """A thread copying what the read end ``fd`` of a child's output pipe gives into ``log``,
    until EOF, or until :meth:`finish` once the pipe is drained (a descendant that left the
    trial's process group may hold it open)."""

    def __init__(self, fd: int, log: CappedLog) -> None:
        self._fd = fd
        self._log = log
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="redsweep-output", daemon=True)
        self._thread.start()

    def finish(self) -> None:
        """Take what is left in the pipe (for up to :data:`DRAIN_S`), then close the log."""
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        deadline: float | None = None
        try:
            while True:
                if self._stop.is_set():
                    deadline = deadline or time.monotonic() + DRAIN_S
                    if time.monotonic() >= deadline:
                        break
                if not poller.poll(100):
                    if self._stop.is_set():
                        break
                    continue
                data = os.read(self._fd, 65536)
                if not data:
                    break
                self._log.write(data)
        finally:
            os.close(self._fd)
            self._log.close()
