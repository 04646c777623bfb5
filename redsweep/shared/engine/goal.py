"""The sweep's goal: each run's value, the best run, and whether to issue more trials (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from redsweep.shared.engine import search
from redsweep.shared.records import Goal, Method, Metric, RunRecord, SweepConfig, is_finite_number

#: why a sweep issues no more trials, as :func:`done_reason` reports it
RUN_CAP = "run_cap"
TARGET = "target"
GRID_EXHAUSTED = "grid_exhausted"


def metric_values(metric: Metric, run: RunRecord) -> list[float]:
    """Every finite value of the metric a run logged: its history rows, then its summary."""
    values = run.metric_values(metric.name)
    summary = run.summary.get(metric.name) if isinstance(run.summary, Mapping) else None
    if is_finite_number(summary):
        values.append(float(summary))
    return values


def run_value(metric: Metric, run: RunRecord) -> float | None:
    """A run's best value of the metric for the goal (history and summary), ``None`` if none."""
    values = metric_values(metric, run)
    if not values:
        return None
    return max(values) if metric.goal is Goal.MAXIMIZE else min(values)


def best_run(config: SweepConfig, runs: Sequence[RunRecord]) -> RunRecord | None:
    """The run with the best value, over runs of any state that have one (the first on ties);
    ``None`` without a metric or without values."""
    if config.metric is None:
        return None
    best: RunRecord | None = None
    best_value = 0.0
    for run in runs:
        value = run_value(config.metric, run)
        if value is not None and (best is None or config.metric.better(value, best_value)):
            best, best_value = run, value
    return best


def target_reached(config: SweepConfig, runs: Sequence[RunRecord]) -> bool:
    """True when some run's value reaches ``metric.target`` (<= when minimising, >= else)."""
    metric = config.metric
    if metric is None or metric.target is None:
        return False
    for run in runs:
        value = run_value(metric, run)
        if value is not None and metric.reached_target(value):
            return True
    return False


def done_reason(config: SweepConfig, runs: Sequence[RunRecord]) -> str | None:
    """Why no more trials should be issued: ``"run_cap"`` (runs of any state >= run_cap),
    ``"target"`` (metric.target reached), ``"grid_exhausted"``; ``None`` to go on."""
    if config.run_cap is not None and len(runs) >= config.run_cap:
        return RUN_CAP
    if target_reached(config, runs):
        return TARGET
    if Method(config.method) is Method.GRID and search.grid_remaining(config, runs) <= 0:
        return GRID_EXHAUSTED
    return None
