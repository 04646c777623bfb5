"""Bayesian search: a Gaussian process with expected improvement, on numpy and scipy alone.

Every non-constant parameter is mapped to [0, 1] by its ``cdf`` and back by its ``ppf``, as in
W&B's ``sweeps``. The GP (:mod:`redsweep.shared.engine.gp`: Matern 5/2, one length scale per
parameter) has its hyperparameters fitted on at most ``FIT_POINTS`` observations and conditions
on up to ``GP_POINTS`` (beyond that, the best quarter and a random rest), which keeps a
suggestion at 1,000 runs within tens of milliseconds. The metric is minimised (a maximised
metric is negated) and normalised to mean 0, std 1; the next point maximises expected
improvement over random candidates and perturbations of the best points, the best few then
polished together by gradient ascent on the expected improvement (analytic gradients of the
GP's mean and deviation, :meth:`gp.GP.predict_grads`).

Finished runs are observations; failed, crashed, killed and stopped runs are imputed per
``metric.impute``; pending and running runs (unless ``impute_while_running``) are fantasies at
the GP's predicted mean, so parallel suggestions spread out, and so is each suggestion of a
batch for the next one. With fewer than two results, parameters are sampled at random.

A caller that suggests again and again (the controller) keeps a :class:`FitMemo`: each fit
starts from the last one's hyperparameters, a fit is kept until the results grew by a 32nd,
and each ended run is read once (:class:`~redsweep.shared.engine.observations.FactsCache`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import special

from redsweep.shared.engine import gp
from redsweep.shared.engine.observations import FactsCache, observations, space_of
from redsweep.shared.engine.params import (
    Categorical,
    CategoricalProb,
    IntUniform,
    Param,
)
from redsweep.shared.records import RunRecord, SweepConfig

MIN_RESULTS = 2  # below this, sample at random
FIT_POINTS = 40  # observations the hyperparameters are fitted on (O(n^3) per step)
GP_POINTS = 96  # observations the GP conditions on; beyond, the best quarter + a random rest
RANDOM_CANDIDATES = 500
LOCAL_CANDIDATES = 200  # perturbations around the best observations
REFINE_CANDIDATES = 100  # perturbations around the best candidates of the first round
REFIT_EVERY = 32  # with a memo, refit once the results grew by 1/32 (at once below 64)
POLISH_STARTS = 8  # best candidates polished by gradient ascent on expected improvement
POLISH_STEPS = 16  # steps of that ascent (all of them at once: one model call a step)

_BLOCK = 256  # candidates per kernel block
_EDGE = 1e-9  # candidates stay inside (0, 1): ppf(0) and ppf(1) are infinite for some

_DISCRETE = (Categorical, CategoricalProb, IntUniform)  # snapped, never polished

Point = dict[tuple[str, ...], Any]


@dataclass
class FitMemo:
    """What one suggestion leaves for the next on the same sweep: the kernel hyperparameters
    it fitted (a warm start) and how many results the last full fit saw. A caller that
    suggests again and again (the controller) keeps one per sweep; without one, every
    suggestion fits from scratch. Still pure: the same memo, runs and seed give the same
    suggestions."""

    theta: np.ndarray | None = None
    cold_results: int = 0  # results seen by the last fit from scratch
    fit_results: int = 0  # results seen by the last fit, warm or cold
    #: what each ended run tells the GP, by run id: an ended run never changes
    facts: FactsCache = field(default_factory=FactsCache)


def suggest(
    config: SweepConfig,
    runs: Sequence[RunRecord],
    n: int,
    rng: np.random.Generator,
    memo: FitMemo | None = None,
) -> list[Point]:
    """``n`` points for the non-constant parameters, each ``{path: value}`` (constants are
    left to the caller: :func:`redsweep.shared.engine.search.suggest` adds them and nests).
    With ``memo`` the kernel's hyperparameters start from the last fit's, and are fitted from
    scratch again once the results have doubled since the last such fit."""
    space = space_of(config)
    if not space:
        return [{} for _ in range(n)]
    X, y, pending = observations(config, runs, None if memo is None else memo.facts)
    if len(y) < MIN_RESULTS:
        return [{p.path: p.sample(rng) for p in space} for _ in range(n)]

    results = len(y)  # all of them: the memo's counts are of results, not of the subset
    y = _normalise(y)
    keep = _subset(y, GP_POINTS, rng)
    X, y = X[keep], y[keep]
    fit = rng.choice(len(y), FIT_POINTS, replace=False) if len(y) > FIT_POINTS else slice(None)
    warm = None  # from scratch at first, for a new space, and when the results doubled
    if (
        memo is not None
        and memo.theta is not None
        and len(memo.theta) == X.shape[1] + 2
        and results < 2 * memo.cold_results
    ):
        warm = memo.theta
    if (
        warm is not None
        and memo is not None
        and results - memo.fit_results < results // REFIT_EVERY
    ):
        theta = warm  # a few results more than the last fit saw: the same hyperparameters
    else:
        theta = gp.fit(X[fit], y[fit], rng, warm=warm)
    if memo is not None and theta is not warm:
        memo.theta, memo.fit_results = theta, results
        if warm is None:
            memo.cold_results = results
    model = gp.GP(X, y, theta)
    best = float(np.min(y))
    snap = _snapper(space)
    free = np.array([not isinstance(p, _DISCRETE) for p in space])
    incumbents = X[np.argsort(y)[:5]]
    out: list[Point] = []
    for k in range(len(pending) + n):
        if k < len(pending):
            x = pending[k]
        else:
            raw = _maximise_ei(model, best, incumbents, snap, rng, free)
            out.append({p.path: p.ppf(float(raw[j])) for j, p in enumerate(space)})
            if len(out) == n:
                break
            x = snap(raw[None, :])[0]
        # kriging believer: the GP believes its own mean there, and so may the incumbent
        believed = model.mean(x)
        model.add(x, believed)
        best = min(best, believed)
    return out


# ---- runs -> data ----------------------------------------------------------------------------


def _normalise(y: np.ndarray) -> np.ndarray:
    scale = max(float(np.max(np.abs(y))), 1.0)  # huge metrics would overflow the mean
    y = y / scale
    std = float(np.std(y))
    return (y - np.mean(y)) / (std if std > 1e-12 else 1.0)


def _subset(y: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """All indexes, or the best quarter of ``size`` plus a random rest."""
    if len(y) <= size:
        return np.arange(len(y))
    order = np.argsort(y)
    best, rest = order[: size // 4], order[size // 4 :]
    return np.concatenate([best, rng.choice(rest, size - len(best), replace=False)])


# ---- acquisition -----------------------------------------------------------------------------


def _expected_improvement(model: gp.GP, best: float, X: np.ndarray) -> np.ndarray:
    # in blocks: the kernel matrices stay small enough to be cheap to allocate and in cache
    parts = [model.predict(X[i : i + _BLOCK]) for i in range(0, len(X), _BLOCK)]
    mean = np.concatenate([m for m, _ in parts])
    std = np.concatenate([s for _, s in parts])
    gain = best - mean
    z = gain / std
    return gain * special.ndtr(z) + std * np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def _maximise_ei(
    model: gp.GP,
    best: float,
    incumbents: np.ndarray,
    snap: Callable[[np.ndarray], np.ndarray],
    rng: np.random.Generator,
    free: np.ndarray,
) -> np.ndarray:
    """The candidate (unit cube, before snapping) with the highest expected improvement:
    random points, perturbations of the best observations, then of the best candidates, the
    best few polished by gradient ascent over the ``free`` (continuous) dimensions."""
    d = incumbents.shape[1]
    reach = np.minimum(model.ls, 1.0)
    centres = incumbents[rng.integers(len(incumbents), size=LOCAL_CANDIDATES)]
    scale = rng.choice([0.01, 0.05, 0.2], size=(LOCAL_CANDIDATES, 1)) * reach
    raw = np.vstack(
        [rng.random((RANDOM_CANDIDATES, d)), centres + scale * rng.standard_normal(centres.shape)]
    )
    raw = np.clip(raw, _EDGE, 1.0 - _EDGE)
    ei = _expected_improvement(model, best, snap(raw))
    top = raw[np.argsort(-ei)[:10]]
    centres = top[rng.integers(len(top), size=REFINE_CANDIDATES)]
    scale = rng.choice([0.002, 0.01, 0.03], size=(REFINE_CANDIDATES, 1)) * reach
    fine = np.clip(centres + scale * rng.standard_normal(centres.shape), _EDGE, 1.0 - _EDGE)
    raw = np.vstack([raw, fine])
    ei = np.concatenate([ei, _expected_improvement(model, best, snap(fine))])
    if not np.isfinite(ei).any() or np.nanmax(ei) <= 1e-12:
        return raw[int(rng.integers(len(raw)))]  # nothing to gain anywhere: explore
    top = np.argsort(-np.nan_to_num(ei, nan=-1.0))[:POLISH_STARTS]
    if free.any():
        # from where the runs would sit: discrete dimensions snapped, and held there
        polished, polished_ei = _polish(model, best, snap(raw[top]), free, reach)
        if np.nanmax(polished_ei) > ei[top[0]]:
            return polished[int(np.nanargmax(polished_ei))]
    return raw[top[0]]


def _polish(
    model: gp.GP, best: float, starts: np.ndarray, free: np.ndarray, reach: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Gradient ascent on expected improvement from each of ``starts`` at once, over the
    ``free`` (continuous) dimensions, the others held: the screening above finds the basins,
    this their tops, which random candidates reach ever more rarely as dimensions grow. Each
    point steps along its normalised gradient; a step that gains grows by half, one that
    loses is undone and halved (EI near its top is tiny, so its raw gradient sets no scale)."""
    x = starts.copy()
    value, grad = _ei_and_gradient(model, best, x)
    step = 0.05 * float(np.mean(reach[free])) * np.ones(len(x))
    mask = free.astype(float)
    for _ in range(POLISH_STEPS):
        g = grad * mask
        norm = np.sqrt((g * g).sum(1))
        moving = norm > 0
        if not moving.any():
            break
        direction = np.where(moving[:, None], g / np.where(moving, norm, 1.0)[:, None], 0.0)
        trial = np.clip(x + step[:, None] * direction, _EDGE, 1.0 - _EDGE)
        trial_value, trial_grad = _ei_and_gradient(model, best, trial)
        better = trial_value > value
        x[better], value[better] = trial[better], trial_value[better]
        grad[better] = trial_grad[better]
        step = np.where(better, step * 1.5, step * 0.5)
    return x, value


def _ei_and_gradient(model: gp.GP, best: float, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std, dmean, dstd = model.predict_grads(X)
    z = (best - mean) / std
    cdf, pdf = special.ndtr(z), np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)
    value = (best - mean) * cdf + std * pdf
    return value, dmean * -cdf[:, None] + dstd * pdf[:, None]  # dEI/dmean -cdf, dEI/dstd pdf


def _snapper(space: Sequence[Param]) -> Callable[[np.ndarray], np.ndarray]:
    """Moves unit-cube points of discrete parameters to where their value's cdf puts them, so
    the GP judges each candidate where the run will sit (vectorised ``cdf(ppf(u))``)."""
    even: list[tuple[int, int]] = []  # (dimension, how many values)
    weighted: list[tuple[int, np.ndarray]] = []  # (dimension, cumulative probabilities)
    for j, param in enumerate(space):
        if isinstance(param, Categorical):
            even.append((j, len(param.values)))
        elif isinstance(param, IntUniform):
            even.append((j, param.grid_len()))
        elif isinstance(param, CategoricalProb):
            weighted.append((j, np.cumsum(param.probabilities)))

    def snap(X: np.ndarray) -> np.ndarray:
        if not even and not weighted:
            return X
        X = X.copy()
        for j, count in even:
            X[:, j] = (np.clip(np.ceil(X[:, j] * count), 1, count)) / count
        for j, cdf in weighted:
            X[:, j] = cdf[np.minimum(np.searchsorted(cdf, X[:, j], side="right"), len(cdf) - 1)]
        return X

    return snap
