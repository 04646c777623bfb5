"""Parameter importance as W&B's panel computes it: for each parameter the importance from a
random forest fitted on the parameters against the metric (scikit-learn's
``RandomForestRegressor.feature_importances_``), and the linear (Pearson) correlation of the
parameter with the metric.

Numbers and booleans are one column each; any other parameter (a string, say) is one-hot
encoded and its columns' importances are added up, and it has no correlation. A parameter with
one value in every run tells nothing and is left out. Past ``max_rows`` runs the forest is fitted
on a seeded sample of them, so a 10,000-run sweep costs no more than a 1,000-run one
(50 trees on 1,000 runs: a fraction of a second).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from redsweep.shared.records import is_finite_number

MAX_ROWS = 1000
TREES = 50


def _column(values: Sequence[Any]) -> tuple[np.ndarray, list[str] | None]:
    """The parameter as numbers (one column), or one-hot (several, with their labels)."""
    if all(isinstance(v, bool) or is_finite_number(v) for v in values):
        return np.asarray([float(v) for v in values]).reshape(-1, 1), None
    labels = sorted({repr(v) if not isinstance(v, str) else v for v in values})
    index = {label: i for i, label in enumerate(labels)}
    onehot = np.zeros((len(values), len(labels)))
    for row, v in enumerate(values):
        onehot[row, index[v if isinstance(v, str) else repr(v)]] = 1.0
    return onehot, labels


def _prepared(
    configs: Sequence[Mapping[str, Any]], values: Sequence[float], max_rows: int, seed: int
) -> tuple[np.ndarray, list[np.ndarray], list[int], list[tuple[str, float | None]]]:
    """The metric, each varying parameter's columns, which parameter owns each column, and
    each parameter's name and correlation: over ``max_rows`` seeded samples of the runs."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(values))
    if len(rows) > max_rows:
        rows = np.sort(rng.choice(rows, size=max_rows, replace=False))
    y = np.asarray(values, dtype=float)[rows]
    names = sorted({k for i in rows for k in configs[i]})
    columns: list[np.ndarray] = []
    owners: list[int] = []
    kept: list[tuple[str, float | None]] = []
    for name in names:
        raw = [configs[i].get(name) for i in rows]
        if len({repr(v) for v in raw}) < 2:
            continue
        block, labels = _column(raw)
        correlation = None
        if labels is None and np.std(block[:, 0]) > 0 and np.std(y) > 0:
            correlation = float(np.corrcoef(block[:, 0], y)[0, 1])
        columns.append(block)
        owners += [len(kept)] * block.shape[1]
        kept.append((name, correlation))
    return y, columns, owners, kept


def correlations(
    configs: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    *,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """:func:`parameter_importance`'s rows without the forest (numpy alone: at once): each
    ``importance`` None, by name."""
    if len(values) < 3:
        return []
    kept = _prepared(configs, values, max_rows, seed)[3]
    return [{"name": name, "importance": None, "correlation": corr} for name, corr in kept]


def parameter_importance(
    configs: Sequence[Mapping[str, Any]],
    values: Sequence[float],
    *,
    max_rows: int = MAX_ROWS,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """For each parameter (key of the flat ``configs``) that varies: ``{"name", "importance",
    "correlation"}``, most important first. ``values`` holds each config's metric. Empty when
    fewer than three runs have a value."""
    if len(values) < 3:
        return []
    y, columns, owners, kept = _prepared(configs, values, max_rows, seed)
    if not kept:
        return []
    importance = np.zeros(len(kept))
    if np.std(y) > 0:
        np.add.at(importance, owners, _forest(np.hstack(columns), y, seed))
    out = [
        {"name": name, "importance": float(importance[i]), "correlation": corr}
        for i, (name, corr) in enumerate(kept)
    ]
    return sorted(out, key=lambda p: -p["importance"])


def _forest(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    from sklearn.ensemble import RandomForestRegressor  # imported here: it takes a second

    forest = RandomForestRegressor(n_estimators=TREES, random_state=seed, n_jobs=1)
    forest.fit(x, y)
    return forest.feature_importances_
