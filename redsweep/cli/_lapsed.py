"""What ``status`` and ``runs`` say of runs whose lease lapsed, and what will recover them.

A run whose agent died stays ``running`` in the store until a controller crashes it (and
retries it, where the retry policy allows); with no controller running that is until one is
started. These lines say so, from reads only.
"""

from __future__ import annotations

import time
from typing import Any

from redsweep.cli import _table as table


def when(run: Any) -> str:
    """When the run's lease lapsed: ``at 2025-01-02 10:11:12 (25m03s ago)``."""
    if run.lapsed_since_ms is None:
        return "at a time not recorded"
    at = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.lapsed_since_ms / 1000))
    return f"at {at} ({table.duration(run.lapsed_for_s)} ago)"


def recovery(sweep: Any, runs: list[Any]) -> str:
    """What will crash ``runs`` (lapsed runs of ``sweep``) and whether they run again."""
    it = "it" if len(runs) == 1 else "them"
    if sweep.state.is_over:
        return (
            f"the sweep is {sweep.state.value}, so no controller runs on it: start "
            f"`redsweep agent {sweep.id}` to crash {it} (a {sweep.state.value} sweep runs no "
            "retry)"
        )
    action = f"crash and retry {it}" if _retried(runs) else f"crash {it}"
    holder = sweep.controller
    if holder is not None:
        return f"controller {holder} holds the sweep: it will {action} at its next round"
    return (
        f"no controller holds the sweep: start `redsweep agent {sweep.id}` or "
        f"`redsweep controller {sweep.id}` to {action}"
    )


def _retried(runs: list[Any]) -> bool:
    """Whether any of ``runs`` would be run again once crashed (the controller's policy)."""
    from redsweep.controller.controller import RETRIES  # only when a run lapsed: numpy

    return any(run.attempt <= RETRIES for run in runs)


def running_cell(sweep: Any) -> tuple[str, str | None]:
    """``status``'s RUNNING cell for ``sweep`` (``2 (1 lapsed)``) and, when a run lapsed, the
    line to print under the table."""
    running = str(sweep.counts.get("running", 0))
    if not sweep.lapsed_run_ids:
        return running, None
    note = f"sweep {sweep.id}: " + recovery(sweep, sweep.lapsed_runs)
    return f"{running} ({len(sweep.lapsed_run_ids)} lapsed)", note


def lines(sweep: Any, runs: list[Any]) -> list[str]:
    """A line per lapsed run in ``runs`` and the recovery; none when no run lapsed."""
    lapsed = [r for r in runs if r.lapsed]
    if not lapsed:
        return []
    out = [
        f"run {r.id} is running but its lease lapsed {when(r)}: its agent is gone" for r in lapsed
    ]
    return [*out, recovery(sweep, lapsed)]
