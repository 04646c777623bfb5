"""Suggest parameters to try next: grid, random, or bayes (pure: no I/O, seeded randomness).

``suggest(config, runs, n, rng)`` returns up to ``n`` nested parameter dicts, constants
included, as plain Python values. The grid is never materialised: its size is a product of
axis lengths and a point is a mixed-radix decode of its index, so a 10^12-point grid costs
nothing; suggesting walks indexes from 0 and skips the points existing runs already cover.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Hashable, Iterator, Mapping, Sequence
from typing import Any

from redsweep.shared.engine.params import Categorical, Constant, IntUniform, Param, QUniform
from redsweep.shared.engine.rng import new_rng
from redsweep.shared.engine.values import MISSING, canonical, py_scalar, value_at
from redsweep.shared.records import Method, RunRecord, SweepConfig

_PREFILL_MAX = 10_000  # int ranges up to this long get their value -> index table up front


def needs_runs(config: SweepConfig) -> bool:
    """Whether :func:`suggest` looks at past runs (grid and bayes do, random does not): a
    caller with many runs may skip listing them."""
    return Method(config.method) is not Method.RANDOM


def suggest(
    config: SweepConfig,
    runs: Sequence[RunRecord] = (),
    n: int = 1,
    rng: Any = None,
    memo: Any = None,
) -> list[dict[str, Any]]:
    """Up to ``n`` parameter dicts to try next; fewer, or none, when a grid is exhausted.

    ``rng`` makes random and bayes reproducible (a fresh unseeded generator when ``None``):
    numpy's ``Generator``, or for grid and random :class:`~.rng.PyRng` (:func:`~.rng.new_rng`).
    ``memo``: a :class:`~redsweep.shared.engine.bayes.FitMemo` kept by a caller that suggests
    again and again on one bayes sweep (ignored by grid and random).
    """
    if n <= 0:
        return []
    rng = new_rng(config) if rng is None else rng
    method = Method(config.method)
    if method is Method.GRID:
        return _grid_suggest(config, runs, n)
    if method is Method.RANDOM:
        return [
            nest(config.params, [_plain(p.sample(rng)) for p in config.params]) for _ in range(n)
        ]
    # imported here: bayes pulls in scipy (~0.5 s), which grid and random sweeps never need
    from redsweep.shared.engine import bayes

    flat = bayes.suggest(config, runs, n, rng, memo)
    return [
        nest(
            config.params,
            [_plain(p.value if isinstance(p, Constant) else point[p.path]) for p in config.params],
        )
        for point in flat
    ]


def nest(params: Sequence[Param], values: Sequence[Any]) -> dict[str, Any]:
    """Nested parameter dict from one value per parameter (``('opt','lr')`` -> ``{'opt': {'lr':
    ...}}``)."""
    out: dict[str, Any] = {}
    for param, value in zip(params, values, strict=True):
        node = out
        for part in param.path[:-1]:
            node = node.setdefault(part, {})
        node[param.path[-1]] = value
    return out


# ---- grid ------------------------------------------------------------------------------------


class _Axis:
    """One parameter's grid values, by index, without building the list for ranges."""

    def __init__(self, param: Param) -> None:
        self.param = param
        self.known_keys: frozenset[str] | None = None
        if isinstance(param, Constant):
            self._values: list[Any] | None = [param.value]
        elif isinstance(param, Categorical):
            self._values = list(param.values)
            # W&B drops keys a dict value never had (injected at run time) before comparing
            keys = {k for v in self._values if isinstance(v, Mapping) for k in v}
            self.known_keys = frozenset(keys) if keys else None
        elif isinstance(param, (IntUniform, QUniform)):
            self._values = None
        else:
            raise ValueError(
                f"parameter {param.name} ({param.distribution}) has no grid: grid search takes "
                "only constant, categorical (without probabilities), int_uniform and q_uniform"
            )
        # (type, value) -> first index: most run values are plain and hashable, and a dict
        # hit is far cheaper than building a canonical key for every run on every call
        self._fast: dict[tuple[type, Any], int | None] = {}
        self._first: list[int] | None = None  # digit -> first digit holding the same value
        if self._values is not None:
            self.length = len(self._values)
            self._keys = [canonical(v) for v in self._values]
            self._index: dict[Hashable, int] = {}
            for i, key in enumerate(self._keys):
                self._index.setdefault(key, i)
            self.distinct = len(self._index)
            if self.distinct != self.length:
                self._first = [self._index[key] for key in self._keys]
            for i, value in enumerate(self._values):  # plain values: known without a probe
                if type(value) in (int, float, str, bool):
                    self._fast.setdefault((type(value), value), self._index[self._keys[i]])
        elif isinstance(param, IntUniform):
            self.length = self.distinct = max(param.grid_len(), 0)
            if self.length <= _PREFILL_MAX:
                self._fast.update(((int, param.min + i), i) for i in range(self.length))
        else:
            assert isinstance(param, QUniform)
            self.length = self.distinct = param.grid_len()  # as np.arange(min, max, q)

    def value(self, i: int) -> Any:
        if self._values is not None:
            return self._values[i]
        param = self.param
        if isinstance(param, IntUniform):
            return param.min + i
        assert isinstance(param, QUniform)
        return param.grid_value(i)

    def key(self, i: int) -> Hashable:
        return self._keys[i] if self._values is not None else canonical(self.value(i))

    def first(self, i: int) -> int:
        """The first digit holding the same value as digit ``i`` (duplicates are one point)."""
        return i if self._first is None else self._first[i]

    def index_of(self, value: Any) -> int | None:
        """The first index holding ``value`` (compared canonically), ``None`` when off grid."""
        kind = type(value)
        if kind in (int, float, str, bool):
            fast = (kind, value)
            if fast not in self._fast:
                self._fast[fast] = self._index_of(value)
            return self._fast[fast]
        return self._index_of(value)

    def _index_of(self, value: Any) -> int | None:
        if self.known_keys is not None and isinstance(value, Mapping):
            value = {k: v for k, v in value.items() if k in self.known_keys}
        key = canonical(value)
        if self._values is not None:
            return self._index.get(key)
        if key[0] != "n":
            return None
        param = self.param
        if isinstance(param, IntUniform):
            number = key[1]
            if isinstance(number, int) and param.min <= number <= param.max:
                return number - param.min
            return None
        assert isinstance(param, QUniform)
        guess = round((float(key[1]) - param.min) / param.q)
        for i in (guess - 1, guess, guess + 1):
            if 0 <= i < self.length and self.key(i) == key:
                return i
        return None


def _axes(config: SweepConfig) -> list[_Axis]:
    return [_Axis(p) for p in config.params]


def grid_size(config: SweepConfig) -> int:
    """How many points the grid has: the product of the axis lengths (constants count 1).

    Raises ``ValueError`` for a parameter with no grid (continuous, or with probabilities).
    """
    return math.prod(axis.length for axis in _axes(config))


def grid_point(config: SweepConfig, index: int) -> dict[str, Any]:
    """The grid point at ``index``, as ``itertools.product`` orders them: parameters in sorted
    path order, the last one varying fastest."""
    axes = _axes(config)
    size = math.prod(axis.length for axis in axes)
    if not 0 <= index < size:
        raise IndexError(f"grid index {index} is outside the grid of {size} points")
    return nest(
        config.params, [_plain(axes[k].value(i)) for k, i in enumerate(_decode(axes, index))]
    )


def grid_remaining(config: SweepConfig, runs: Sequence[RunRecord]) -> int:
    """How many distinct grid points no run (of any state) covers yet."""
    axes = _axes(config)
    return math.prod(axis.distinct for axis in axes) - len(_covered(axes, config, runs))


def _decode(axes: Sequence[_Axis], index: int) -> list[int]:
    digits = [0] * len(axes)
    for k in range(len(axes) - 1, -1, -1):
        index, digits[k] = divmod(index, axes[k].length)
    return digits


def _covered(axes: Sequence[_Axis], config: SweepConfig, runs: Sequence[RunRecord]) -> set[tuple]:
    """The grid points runs cover, as tuples of first digits (a duplicate value in an axis is
    the same point); a run missing a value, or off the grid, covers nothing."""
    covered: set[tuple] = set()
    if all(len(p.path) == 1 for p in config.params):
        names = [p.path[0] for p in config.params]
        _covered_flat(axes, names, runs, covered)
        return covered
    paths = [param.path for param in config.params]
    for run in runs:
        digits = []
        for axis, path in zip(axes, paths, strict=True):
            value = value_at(run.params, path)
            i = None if value is MISSING else axis.index_of(value)
            if i is None:
                break
            digits.append(i)
        else:
            covered.add(tuple(digits))
    return covered


def _covered_flat(
    axes: Sequence[_Axis], names: Sequence[str], runs: Sequence[RunRecord], covered: set[tuple]
) -> None:
    """:func:`_covered` for parameters without nesting: the hot loop of a grid suggestion, run
    over every run on every call, so it works a column at a time in comprehensions (one dict
    probe per value) and falls back to :meth:`_Axis.index_of` only for values not seen yet."""
    all_params = [r.params if type(r.params) is dict else dict(r.params) for r in runs]
    columns = []
    for name, axis in zip(names, axes, strict=True):
        fast = axis._fast
        values = [params.get(name, MISSING) for params in all_params]
        try:
            column = [fast.get((type(v), v), MISSING) for v in values]
        except TypeError:  # an unhashable value (a list or dict): one by one
            column = [MISSING] * len(values)
        if MISSING in column:
            for k, i in enumerate(column):
                if i is MISSING:  # not seen yet, unhashable, or absent
                    v = values[k]
                    column[k] = None if v is MISSING else axis.index_of(v)
        columns.append(column)
    covered.update(key for key in zip(*columns, strict=True) if None not in key)


def _walk(axes: Sequence[_Axis], covered: set[tuple]) -> Iterator[tuple[int, ...]]:
    """Uncovered points in index order (the last axis fastest); O(len(covered) + points
    taken), not O(grid): itertools.product is lazy."""
    dedupe = any(axis.distinct != axis.length for axis in axes)
    for digits in itertools.product(*(range(axis.length) for axis in axes)):
        key = (
            tuple(axis.first(i) for axis, i in zip(axes, digits, strict=True)) if dedupe else digits
        )
        if key not in covered:
            covered.add(key)
            yield digits


def _grid_suggest(config: SweepConfig, runs: Sequence[RunRecord], n: int) -> list[dict[str, Any]]:
    axes = _axes(config)
    out: list[dict[str, Any]] = []
    for digits in _walk(axes, _covered(axes, config, runs)):
        out.append(
            nest(config.params, [_plain(a.value(i)) for a, i in zip(axes, digits, strict=True)])
        )
        if len(out) >= n:
            break
    return out


# ---- helpers ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Plain Python values: numpy scalars unwrapped, lists and dicts copied (never shared with
    the config)."""
    value = py_scalar(value)
    if isinstance(value, (list, dict, tuple)):
        return copy.deepcopy(value)
    return value
