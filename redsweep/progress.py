"""Progress output for agents and controllers.

On a terminal: one status line rewritten in place (done of the grid size or cap, running,
failed, best so far). Elsewhere (a log file, CI): one plain line per trial that ends.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TextIO

from redsweep.shared import points
from redsweep.shared.records import Goal, Metric


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


class Progress:
    """Prints how a sweep is going to ``out`` (stderr by default)."""

    def __init__(
        self,
        sweep_id: str,
        *,
        total: int | None = None,
        metric: Metric | None = None,
        out: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.sweep_id = sweep_id
        self.total = total
        self.metric = metric
        self.out = out or sys.stderr
        self.tty = self.out.isatty() if tty is None else tty
        self._line = ""

    def status_text(
        self, counts: Mapping[str, int], best: float | None, issued: int | None = None
    ) -> str:
        done = points.ended(counts, issued)
        of = f"/{self.total}" if self.total else ""
        parts = [f"sweep {self.sweep_id}: {done}{of} done", f"{counts.get('running', 0)} running"]
        failed = counts.get("failed", 0) + counts.get("crashed", 0)
        if failed:
            parts.append(f"{failed} failed")
        if self.metric is not None:
            arrow = "min" if self.metric.goal is Goal.MINIMIZE else "max"
            parts.append(f"best {self.metric.name} ({arrow}) {_fmt(best)}")
        return " · ".join(parts)

    def trial_ended(
        self,
        trial_id: str,
        state: str,
        *,
        value: float | None,
        seconds: float | None,
        counts: Mapping[str, int],
        best: float | None,
        note: str = "",
        issued: int | None = None,
    ) -> None:
        """A trial reached a terminal state (on a terminal a failure gets a line of its own, with
        its ``note``: why)."""
        took = f" in {seconds:.1f}s" if seconds is not None else ""
        if self.tty:
            if note and state in ("failed", "crashed"):
                self.message(f"run {trial_id} {state}{took} ({note})")
            self.update(counts, best, issued)
            return
        metric = f" {self.metric.name}={_fmt(value)}" if self.metric is not None else ""
        extra = f" ({note})" if note else ""
        self._print(
            f"run {trial_id} {state}{took}{metric}{extra}; {self.status_text(counts, best, issued)}"
        )

    def update(
        self, counts: Mapping[str, int], best: float | None, issued: int | None = None
    ) -> None:
        """Rewrite the status line (terminals only)."""
        if not self.tty:
            return
        line = self.status_text(counts, best, issued)
        pad = max(0, len(self._line) - len(line))
        self.out.write("\r" + line + " " * pad)
        self.out.flush()
        self._line = line

    def message(self, text: str) -> None:
        """A line of its own (keeps the status line below it on a terminal)."""
        if self.tty and self._line:
            self.out.write("\r" + " " * len(self._line) + "\r")
            self._line = ""
        self._print(text)

    def close(self) -> None:
        if self.tty and self._line:
            self.out.write("\n")
            self.out.flush()
            self._line = ""

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()
