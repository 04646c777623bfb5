"""``redsweep watch``: a sweep live in a terminal, for users on a cluster over SSH.

On a terminal, a rich view redrawn when the sweep changes: a progress bar of runs done, the
running runs with their latest metric, the best so far and the last finishes; ``q`` or Ctrl+C
quits. Anywhere else (a pipe, a log file), plain lines: one per run that ends and one when the
counts change. Either way it ends by itself once the sweep is over and nothing runs.
"""

from __future__ import annotations

import contextlib
import math
import os
import select
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from redsweep.results import Api, RunResult, Sweep
from redsweep.shared.records import RunState

POLL_S = 0.5
LAST = 8


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    return "—" if v is None else str(v)


@dataclass
class Snapshot:
    """What the view shows, read once per change of the sweep."""

    sweep: Sweep
    runs: list[RunResult]
    best: RunResult | None
    done: int
    ended: list[RunResult] = field(default_factory=list)

    @classmethod
    def read(cls, api: Api, sweep_id: str) -> Snapshot:
        sweep = api.sweep(sweep_id)
        runs = sweep.runs
        done = sum(1 for r in runs if r.state.is_terminal)
        ended = sorted((r for r in runs if r.finished_ms), key=lambda r: r.finished_ms or 0)
        return cls(sweep, runs, sweep.best_run() if sweep.metric else None, done, ended)

    @property
    def over(self) -> bool:
        return self.sweep.state.is_over and not any(r.state is RunState.RUNNING for r in self.runs)

    def counts_line(self) -> str:
        s = self.sweep
        total = s.expected_run_count
        parts = [f"{self.done}/{total if total is not None else '∞'} done"]
        for state in (RunState.RUNNING, RunState.PENDING, RunState.FAILED, RunState.CRASHED):
            n = s.counts.get(state.value, 0)
            if n:
                parts.append(f"{n} {state.value}")
        if self.best is not None:
            parts.append(f"best {s.metric}={_value(self.best.value)} (run {self.best.id})")
        return f"sweep {s.id} {s.state.value}: " + ", ".join(parts)

    def ended_line(self, run: RunResult) -> str:
        metric = self.sweep.metric
        text = f"run {run.id} {run.state.value}"
        if metric:
            text += f": {metric}={_value(run.value)}"
        note = run.error or (run.stop_reason and "stopped early")
        return text + (f" ({note})" if note else "")


def _marks(api: Api, sweep_id: str, poll: float) -> Iterator[Snapshot]:
    """A snapshot now, then one each time the sweep changes, until it is over."""
    last = None
    while True:
        mark = api.mark(sweep_id)
        if mark != last:
            last = mark
            snap = Snapshot.read(api, sweep_id)
            yield snap
            if snap.over:
                return
        time.sleep(poll)


def watch_plain(api: Api, sweep_id: str, out: IO[str], poll: float = POLL_S) -> None:
    """Plain lines on ``out``: the counts when they change, each run as it ends."""
    seen: set[str] | None = None
    last_counts = None
    for snap in _marks(api, sweep_id, poll):
        if seen is None:
            seen = {r.id for r in snap.ended}
        for run in snap.ended:
            if run.id not in seen:
                seen.add(run.id)
                print(snap.ended_line(run), file=out, flush=True)
        line = snap.counts_line()
        if line != last_counts:
            print(line, file=out, flush=True)
            last_counts = line


def _render(snap: Snapshot) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.progress_bar import ProgressBar
    from rich.table import Table
    from rich.text import Text

    s = snap.sweep
    total = s.expected_run_count
    title = Text.assemble((f"sweep {s.id}", "bold"), f" {s.name or ''}  ", (s.state.value, "cyan"))
    bar = Table.grid(padding=(0, 1))
    bar.add_row(
        ProgressBar(total=total, completed=snap.done, width=40),  # no total: no end to show
        f"{snap.done}/{total if total is not None else '∞'} done",
    )
    best = (
        f"best {s.metric} = {_value(snap.best.value)} (run {snap.best.id}, "
        + ", ".join(f"{k}={_value(v)}" for k, v in snap.best.config.items())
        + ")"
        if snap.best is not None
        else "no best yet"
    )
    running = Table(title="running", expand=True, title_justify="left")
    for col in ("run", "worker", s.metric or "value", "for"):
        running.add_column(col)
    for r in [r for r in snap.runs if r.state is RunState.RUNNING][:20]:
        latest = r.summary.get(s.metric) if s.metric else None
        running.add_row(r.id, r.worker or "", _value(latest), f"{r.duration_s or 0:.0f} s")
    ended = Table(title="last finishes", expand=True, title_justify="left")
    for col in ("run", "state", s.metric or "value", "note"):
        ended.add_column(col)
    for r in reversed(snap.ended[-LAST:]):
        note = r.error or ("stopped early" if r.stop_reason else "")
        ended.add_row(r.id, r.state.value, _value(r.value), note)
    hint = Text("q or Ctrl+C quits", style="dim")
    return Panel(Group(title, bar, Text(best), running, ended, hint), title="redsweep watch")


@contextlib.contextmanager
def _keys() -> Iterator[Any]:
    """stdin in cbreak mode (a key is read as it is pressed), restored afterwards."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    old = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, old)


def _quit_pressed(fd: int, wait: float) -> bool:
    ready, _, _ = select.select([fd], [], [], wait)
    return bool(ready) and os.read(fd, 32).lower().startswith(b"q")


def watch_live(api: Api, sweep_id: str, poll: float = POLL_S) -> None:
    """The rich view until the sweep is over or ``q``/Ctrl+C."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    snap = Snapshot.read(api, sweep_id)
    last = api.mark(sweep_id)
    with _keys() as fd, Live(_render(snap), console=console, auto_refresh=False) as live:
        while not snap.over:
            if _quit_pressed(fd, poll):
                return
            mark = api.mark(sweep_id)
            if mark != last:
                last, snap = mark, Snapshot.read(api, sweep_id)
                live.update(_render(snap), refresh=True)


def watch(api: Api, sweep_id: str) -> None:
    """The rich view on a terminal, plain lines elsewhere; Ctrl+C ends either quietly."""
    api.sweep(sweep_id)  # NotFoundError before anything is drawn
    with contextlib.suppress(KeyboardInterrupt):
        if sys.stdout.isatty() and sys.stdin.isatty():
            watch_live(api, sweep_id)
        else:
            watch_plain(api, sweep_id, sys.stdout)
