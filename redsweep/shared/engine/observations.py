"""What bayes learns from: the runs as points of the unit cube with a value each.

Every non-constant parameter is mapped to [0, 1] by its ``cdf`` (as in W&B's ``sweeps``); the
metric's value is each run's best, or imputed per ``metric.impute``. An ended run never
changes, so a :class:`FactsCache` (kept in the controller's memo) reads each one once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from redsweep.shared.engine.params import Categorical, CategoricalProb, Constant, Param
from redsweep.shared.engine.values import MISSING, canonical, value_at
from redsweep.shared.records import (
    Goal,
    Impute,
    Metric,
    RunRecord,
    RunState,
    SweepConfig,
    is_finite_number,
)

# a run's state as a number in a fact's row: observed runs are ended runs without a result
_RUNNING, _FINISHED, _OBSERVED = 1, 2, 3
_CODES = {
    RunState.RUNNING: _RUNNING,
    RunState.FINISHED: _FINISHED,
    **dict.fromkeys(
        (RunState.FAILED, RunState.CRASHED, RunState.KILLED, RunState.STOPPED), _OBSERVED
    ),
}


class RunFacts(NamedTuple):
    """One run as the GP sees it: its state, and a ``row`` of floats: the state's code, its
    best, worst and latest values of the metric (NaN without any), then its place in the unit
    cube (NaN off the space). Rows of many runs make one array at once."""

    state: RunState
    row: tuple[float, ...]


@dataclass
class FactsCache:
    """The :class:`RunFacts` of ended runs by run id, for the space and metric in ``key``,
    and their rows in one array (``rows[index[run_id]]``, the first ``size`` rows used), so
    that a table of many runs is one take from it rather than an array built anew of tuples
    (at 1,000 runs, most of the time of :func:`observations`)."""

    facts: dict[str, RunFacts] = field(default_factory=dict)
    key: tuple[Any, ...] = ()
    index: dict[str, int] = field(default_factory=dict)
    rows: np.ndarray = field(default_factory=lambda: np.empty((0, 0)))
    size: int = 0

    def reset(self, key: tuple[Any, ...], width: int) -> None:
        """Forget every fact: they were for another space or metric."""
        self.facts, self.key, self.index = {}, key, {}
        self.rows, self.size = np.empty((64, width)), 0

    def keep(self, run_id: str, fact: RunFacts) -> None:
        """Keep an ended run's fact (and its row)."""
        if self.size == len(self.rows):
            grown = np.empty((2 * len(self.rows), self.rows.shape[1]))
            grown[: self.size] = self.rows[: self.size]
            self.rows = grown
        self.rows[self.size] = fact.row
        self.facts[run_id], self.index[run_id] = fact, self.size
        self.size += 1


class Observations(NamedTuple):
    """What the GP learns from: the unit-cube locations ``X`` (one column per non-constant
    parameter) and values ``y`` (negated when maximising) of the runs with a result, real or
    imputed, and the locations of the ``pending`` runs (fantasies)."""

    X: np.ndarray
    y: np.ndarray
    pending: np.ndarray


def space_of(config: SweepConfig) -> list[Param]:
    if config.metric is None:
        raise ValueError("bayes search needs a metric to optimise")
    return [p for p in config.params if not isinstance(p, Constant)]


def observations(
    config: SweepConfig, runs: Sequence[RunRecord], cache: FactsCache | None = None
) -> Observations:
    """The runs as the GP sees them (runs whose parameters fall outside the space are left
    out): finished runs by their best value, failed, crashed, killed and stopped runs (and
    finished ones without a value) imputed per ``metric.impute``, running runs imputed per
    ``metric.impute_while_running`` unless it is ``false``, the rest pending. With ``cache``,
    ended runs are read once (by id) and their facts kept there."""
    space = space_of(config)
    metric = config.metric
    assert metric is not None
    table = _table(space, metric, runs, cache)
    code, best, worst, latest, units = (table[:, 0], table[:, 1], table[:, 2], table[:, 3],
                                        table[:, 4:])  # fmt: skip
    maximise = metric.goal is Goal.MAXIMIZE
    # W&B's "worst": the worst value any ended run ever logged
    ended = worst[(code >= _FINISHED) & ~np.isnan(worst)]
    sweep_worst = (ended.min() if maximise else ended.max()) if len(ended) else math.nan
    running = code == _RUNNING
    if metric.impute_while_running is Impute.FALSE:
        running = np.zeros_like(running)
    active = running | (code >= _FINISHED)
    direct = active & (code != _OBSERVED) & ~np.isnan(best)
    ys = np.where(direct, best, math.nan)
    for rows, strategy in ((running, metric.impute_while_running), (~running, metric.impute)):
        rows = rows & active & ~direct  # no usable result: imputed per the strategy
        if strategy is Impute.BEST:
            ys[rows] = np.where(np.isnan(best[rows]), sweep_worst, best[rows])
        elif strategy is Impute.LATEST:
            ys[rows] = np.where(np.isnan(latest[rows]), sweep_worst, latest[rows])
        else:
            ys[rows] = sweep_worst
    if maximise:
        ys = -ys
    inside = ~np.isnan(units).any(axis=1)  # a run outside the space tells the GP nothing
    observed = inside & ~np.isnan(ys)
    return Observations(units[observed], ys[observed], units[inside & ~active])


def _table(
    space: Sequence[Param], metric: Metric, runs: Sequence[RunRecord], cache: FactsCache | None
) -> np.ndarray:
    """Each run's :class:`RunFacts` row, one run a row: from ``cache`` for an ended run read
    before, else read (and kept in ``cache`` once the run has ended)."""
    width = 4 + len(space)
    table = np.empty((len(runs), width))
    known: dict[str, RunFacts] = {}
    if cache is not None:
        key = (tuple(map(repr, space)), metric.name, metric.goal)
        if cache.key != key:
            cache.reset(key, width)
        known = cache.facts
    at: list[int] = []  # the runs whose rows the cache has, and where it has them
    rows: list[int] = []
    todo = []
    for i, run in enumerate(runs):
        fact = known.get(run.id)
        if fact is not None and fact.state is run.state:
            at.append(i)
            rows.append(cache.index[run.id])  # type: ignore[union-attr]  # known is the cache's
        else:
            todo.append(i)
    if at:
        table[at] = cache.rows[rows]  # type: ignore[union-attr]
    if todo:
        fresh = [runs[i] for i in todo]
        units = _units(space, fresh)
        pick_best, pick_worst = (max, min) if metric.goal is Goal.MAXIMIZE else (min, max)
        name = metric.name
        for k, (i, run) in enumerate(zip(todo, fresh, strict=True)):
            # lean: this runs over every new run (and its history rows)
            history = run.metric_values(name)  # goal.metric_values, the history kept apart
            summary = run.summary.get(name)
            values = [*history, summary] if is_finite_number(summary) else history
            nan = math.nan
            fact = RunFacts(
                run.state,
                (
                    _CODES.get(run.state, 0),
                    pick_best(values) if values else nan,
                    pick_worst(values) if values else nan,
                    (history[-1] if history else values[-1]) if values else nan,
                    *units[k].tolist(),
                ),
            )
            table[i] = fact.row
            if cache is not None and run.state.is_terminal:
                cache.keep(run.id, fact)
    return table


def _units(space: Sequence[Param], runs: Sequence[RunRecord]) -> np.ndarray:
    """The runs' places in the unit cube, a row each (NaN where a value is off the space)."""
    all_params = [run.params for run in runs]
    units = np.empty((len(runs), len(space)))
    for j, param in enumerate(space):
        if len(param.path) == 1:
            key = param.path[0]
            raw = [params.get(key, MISSING) for params in all_params]
        else:
            raw = [value_at(params, param.path) for params in all_params]
        if isinstance(param, (Categorical, CategoricalProb)):
            convert = _unit_converter(param)
            units[:, j] = [convert(value) for value in raw]
        else:  # numbers: one vectorised cdf over every run
            numbers = np.array([_number(value) for value in raw], dtype=float)
            with np.errstate(invalid="ignore"):
                units[:, j] = param.cdf_array(numbers)
    return units


def _number(value: Any) -> float:
    """A run's value as a float for a numeric parameter; NaN when absent or not a number."""
    kind = type(value)
    if kind is float or kind is int:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def _unit_converter(param: Param) -> Callable[[Any], float]:
    """value -> its place in [0, 1] (``param.cdf``); NaN when absent or off the space."""
    if isinstance(param, Categorical):  # its cdf, by a table: there may be many runs
        table: dict[Any, float] = {}
        for i, value in enumerate(param.values):
            table.setdefault(canonical(value), (i + 1) / len(param.values))
        return lambda value: table.get(canonical(value), math.nan)

    def convert(value: Any) -> float:
        try:
            u = param.cdf(value)
        except (ValueError, TypeError, IndexError, ArithmeticError):  # absent, or not a number
            return math.nan
        return u if 0.0 <= u <= 1.0 else math.nan

    return convert
