"""The processes of one round of the schedule checker: redsweep agents and controllers, each
in its own session, with a marker in its environment (so every descendant carries it too),
their output in the round's directory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

try:  # run as ``python -m tests.faults.schedule`` or imported by pytest (pythonpath tests/)
    from .invariants import processes_of
except ImportError:  # pragma: no cover
    from invariants import processes_of  # type: ignore[no-redef]


class Fleet:
    """Starts and kills the round's processes; ``expected_exit`` holds those the checker
    killed itself (their exit is no problem)."""

    def __init__(
        self, url: str, marker: str, round_dir: Path, env: dict[str, str], lease_ms: int
    ) -> None:
        self.url, self.marker, self.dir, self.lease_ms = url, marker, round_dir, lease_ms
        name, value = marker.split("=", 1)
        self.env = {**os.environ, **env, name: value}
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.roles: dict[int, str] = {}
        self.errs: dict[int, Path] = {}
        self.expected_exit: set[int] = set()

    def spawn(self, role: str, *args: str) -> subprocess.Popen[bytes]:
        """``python -m redsweep --redis URL ARGS``; output in ``NN-ROLE.out``/``.err``."""
        log = self.dir / f"{len(self.procs) + 1:02d}-{role}"
        with open(f"{log}.out", "wb") as out, open(f"{log}.err", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "redsweep", "--redis", self.url, *args],
                cwd=self.dir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.procs[proc.pid] = proc
        self.roles[proc.pid] = role
        self.errs[proc.pid] = Path(f"{log}.err")
        return proc

    def start_agent(self, sweep_id: str) -> None:
        self.spawn("agent", "agent", sweep_id, "--lease-ms", str(self.lease_ms))

    def start_controller(self, sweep_id: str) -> None:
        self.spawn("controller", "controller", sweep_id, "--lease-ms", str(self.lease_ms))

    def live(self, role: str) -> list[int]:
        return [
            p for p, proc in self.procs.items() if self.roles[p] == role and proc.poll() is None
        ]

    def any_live(self) -> bool:
        return any(proc.poll() is None for proc in self.procs.values())

    def kill(self, pid: int, sig: signal.Signals = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def end_all(self) -> list[str]:
        """SIGCONT, then SIGKILL every process group still running, and any process left
        with the marker; what had to be ended."""
        left = []
        for pid, proc in self.procs.items():
            if proc.poll() is None:
                left.append(f"{self.roles[pid]} {pid}")
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGCONT)
                    os.killpg(pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for pid in processes_of(self.marker):
            left.append(f"pid {pid} {cmdline(pid)}")
            self.kill(pid)
        return left


def running_trials(side_dir: Path) -> list[tuple[int, int, int]]:
    """(point, trial pid, agent pid) of the trials that started, have not ended, and whose
    process and agent are alive."""
    found = []
    for path in side_dir.glob("point-*.log"):
        open_ = {}
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) != 6:
                continue
            if parts[4] == "start":
                open_[parts[2]] = (int(parts[0]), int(parts[2]), int(parts[3]))
            else:
                open_.pop(parts[2], None)
        found += [t for t in open_.values() if alive(t[1]) and alive(t[2])]
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return "?"
