"""Hyperband early termination, deciding exactly as W&B's ``sweeps`` package does.

An *iteration* is the n-th finite numeric value of the metric in a run's history. At each
*band* (an iteration number) the threshold is the value at index ``int((1 / eta) * count)``,
best first, among every run that reached the band, whatever its state. A running run is
judged at the latest band it reached and stopped when its value there (``strict``, the default)
or its best value so far (``strict: false``) is strictly worse than that band's threshold.

Pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from redsweep.errors import ConfigError, ConfigProblem
from redsweep.shared.records import Goal, Hyperband, RunRecord, RunState, SweepConfig

# W&B generates this many bands from ``min_iter``; later bands are never used.
_MIN_ITER_BANDS = 100


@dataclass(frozen=True)
class StopDecision:
    """Why a run is stopped: at iteration ``band`` its ``value`` was worse than ``threshold``.

    ``value`` is the run's value at the band (strict) or its best so far (not strict).
    """

    run_id: str
    band: int
    threshold: float
    value: float


def _problem(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, message)])


def bands(hyperband: Hyperband, *, limit: int | None = None) -> list[int]:
    """The iterations at which runs are judged, ascending and without repeats.

    From ``max_iter`` and ``s``: ``int(max_iter / eta**k)`` for k = 1..s, keeping those >= 1.
    Otherwise from ``min_iter``: ``int(min_iter * eta**k)`` for k = 0..99 (as W&B). ``limit``
    drops bands above it (a run with ``limit`` iterations can only be judged at those).
    Raises :class:`~redsweep.errors.ConfigError` when no band can be formed.
    """
    eta = hyperband.eta
    if not eta > 1:
        raise _problem("early_terminate.eta", f"must be greater than 1, not {eta!r}")
    out: set[int] = set()
    if hyperband.max_iter is not None and hyperband.s is not None:
        # W&B divides repeatedly (float) and truncates each band
        band: float = hyperband.max_iter
        for _ in range(int(hyperband.s)):
            band /= eta
            if band < 1:
                break
            out.add(int(band))
        if not out:
            raise _problem(
                "early_terminate",
                f"max_iter={hyperband.max_iter}, s={hyperband.s} and eta={eta} give no band of "
                "at least one iteration; increase max_iter or s, or decrease eta",
            )
    elif hyperband.min_iter is not None:
        if hyperband.min_iter < 1:
            raise _problem(
                "early_terminate.min_iter", f"must be at least 1, not {hyperband.min_iter}"
            )
        # W&B multiplies repeatedly, so a float eta accumulates exactly this rounding
        band = hyperband.min_iter
        for _ in range(_MIN_ITER_BANDS):
            if math.isinf(band) or (limit is not None and int(band) > limit):
                break
            out.add(int(band))
            band *= eta
    elif hyperband.max_iter is not None:
        raise _problem("early_terminate.s", "is required with max_iter")
    else:
        raise _problem("early_terminate", "hyperband needs max_iter and s, or min_iter")
    ordered = sorted(out)
    return ordered if limit is None else [b for b in ordered if b <= limit]


def stop_decisions(config: SweepConfig, runs: Sequence[RunRecord]) -> list[StopDecision]:
    """The running runs hyperband would stop now, in the order of ``runs``, with the reason.

    Empty when the config has no ``early_terminate``.
    """
    hyperband = config.early_terminate
    if hyperband is None:
        return []
    if config.metric is None:
        raise _problem("metric", "hyperband early termination needs a metric")
    metric = config.metric
    histories = [run.metric_values(metric.name) for run in runs]
    longest = max((len(h) for h in histories), default=0)
    # validate even when no run has iterations yet, so a bad config fails early
    judged_at = bands(hyperband, limit=longest)

    thresholds: dict[int, float] = {}
    r = 1.0 / hyperband.eta  # W&B's index is int(r * count), not int(count / eta)
    for band in judged_at:
        reached = sorted(
            (h[band - 1] for h in histories if len(h) >= band),
            reverse=metric.goal is Goal.MAXIMIZE,  # best first
        )
        thresholds[band] = reached[int(r * len(reached))]

    decisions: list[StopDecision] = []
    for run, history in zip(runs, histories, strict=True):
        if run.state is not RunState.RUNNING:
            continue
        band = max((b for b in judged_at if b <= len(history)), default=None)
        if band is None:
            continue
        if hyperband.strict:
            value = history[band - 1]
        else:
            value = max(history) if metric.goal is Goal.MAXIMIZE else min(history)
        threshold = thresholds[band]
        if metric.better(threshold, value):
            decisions.append(StopDecision(run.id, band, threshold, value))
    return decisions


def stop_runs(config: SweepConfig, runs: Sequence[RunRecord]) -> list[str]:
    """Ids of the running runs hyperband would stop now (see :func:`stop_decisions`)."""
    return [decision.run_id for decision in stop_decisions(config, runs)]
