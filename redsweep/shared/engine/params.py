"""One class per parameter distribution of a W&B sweep config.

Each class knows its keys and defaults, how to ``sample`` from a seeded generator, its grid
values (``None`` for continuous distributions), and ``cdf``/``ppf`` to map values to and from
[0, 1] (bayes search works in that unit cube). Sampling follows W&B's ``sweeps`` package:
a value is ``ppf(u)`` of a uniform ``u``; ``q_*`` values are ``round(x / q) * q``, an int when
``q`` is an int. Values come back as plain Python numbers, never numpy scalars.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from redsweep.shared.engine.values import canonical, py_scalar


def _quantize(x: float, q: float) -> float | int:
    # numpy's round is round-half-to-even, as in W&B's np.round(r / q) * q
    value = float(np.round(x / q) * q)
    return int(value) if isinstance(q, int) else value


def _clip_unit(u: float) -> float:
    return min(max(float(u), 0.0), 1.0)


def _open_unit(u: float) -> float:
    """u clipped into (0, 1): the normal family's ppf is infinite at 0 and 1."""
    return min(max(float(u), 1e-12), 1.0 - 1e-12)


_STANDARD_NORMAL = statistics.NormalDist()


def _ndtr(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _ndtri(u: float) -> float:
    """The standard normal quantile, finite at 0 and 1."""
    return _STANDARD_NORMAL.inv_cdf(_open_unit(u))


def _special() -> Any:
    # scipy.special costs ~0.5 s to import; only beta parameters and bayes need it, so agents
    # and the CLI of other sweeps do not pay for it
    from scipy import special

    return special


def _bucket(u: float, n: int) -> int:
    """Which of n equal buckets of [0, 1] holds u (bucket i is (i/n, (i+1)/n]), so that
    ppf(cdf(value)) is value again despite rounding in (i + 1) / n * n."""
    return min(max(math.ceil(_clip_unit(u) * n - 1e-9) - 1, 0), n - 1)


@dataclass(frozen=True)
class Param:
    """A leaf parameter. ``path`` is its key path (nested parameters flattened)."""

    path: tuple[str, ...]

    distribution: ClassVar[str] = ""
    #: deprecated v1 spelling: the name of the ``*_values`` distribution to use instead
    replaced_by: ClassVar[str | None] = None
    continuous: ClassVar[bool] = True

    @property
    def name(self) -> str:
        """The dotted key path, for messages (``optimizer.lr``)."""
        return ".".join(self.path)

    def sample(self, rng: np.random.Generator) -> Any:
        """Draw one value, as W&B does: ``ppf`` of a uniform draw."""
        return self.ppf(rng.random())

    def grid_values(self) -> list[Any] | None:
        """The values a grid search walks, in order; ``None`` when the parameter is continuous."""
        return None

    def cdf(self, value: Any) -> float:
        """The probability of drawing a value <= ``value`` (categoricals: by position)."""
        raise NotImplementedError

    def ppf(self, u: float) -> Any:
        """The value at quantile ``u`` in [0, 1]: the inverse of :meth:`cdf`."""
        raise NotImplementedError

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        """:meth:`cdf` of many numbers at once (bayes maps every run with it); NaN stays NaN."""
        return np.array([math.nan if math.isnan(v) else self.cdf(v) for v in values.tolist()])

    def to_dict(self) -> dict[str, Any]:
        """The parameter's config with its distribution and every default filled in."""
        out: dict[str, Any] = {"distribution": self.distribution}
        for f in fields(self):
            if f.name != "path":
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


@dataclass(frozen=True)
class Constant(Param):
    value: Any = None
    distribution: ClassVar[str] = "constant"
    continuous: ClassVar[bool] = False

    def sample(self, rng: np.random.Generator) -> Any:
        return self.value

    def grid_values(self) -> list[Any]:
        return [self.value]

    def cdf(self, value: Any) -> float:
        return 0.0

    def ppf(self, u: float) -> Any:
        return self.value


@dataclass(frozen=True)
class Categorical(Param):
    values: tuple[Any, ...] = ()
    distribution: ClassVar[str] = "categorical"
    continuous: ClassVar[bool] = False

    def grid_values(self) -> list[Any]:
        return list(self.values)

    def index(self, value: Any) -> int:
        key = canonical(value)
        for i, candidate in enumerate(self.values):
            if canonical(candidate) == key:
                return i
        raise ValueError(f"{value!r} is not one of the values of parameter {self.name}")

    def cdf(self, value: Any) -> float:
        return (self.index(value) + 1) / len(self.values)

    def ppf(self, u: float) -> Any:
        n = len(self.values)
        return self.values[_bucket(u, n)]

    def sample(self, rng: np.random.Generator) -> Any:
        return self.values[int(rng.integers(len(self.values)))]


@dataclass(frozen=True)
class CategoricalProb(Param):
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] = ()
    distribution: ClassVar[str] = "categorical_w_probabilities"
    continuous: ClassVar[bool] = False

    def index(self, value: Any) -> int:
        return Categorical(self.path, self.values).index(value)

    def cdf(self, value: Any) -> float:
        return float(sum(self.probabilities[: self.index(value) + 1]))

    def ppf(self, u: float) -> Any:
        total = 0.0
        for value, p in zip(self.values, self.probabilities, strict=True):
            total += p
            if u < total:
                return value
        return self.values[-1]


@dataclass(frozen=True)
class IntUniform(Param):
    min: int = 0
    max: int = 0
    distribution: ClassVar[str] = "int_uniform"
    continuous: ClassVar[bool] = False

    def grid_values(self) -> list[int]:
        return list(range(self.min, self.max + 1))

    def grid_len(self) -> int:
        return self.max - self.min + 1

    def cdf(self, value: Any) -> float:
        n = self.max - self.min + 1
        return min(max((math.floor(value) - self.min + 1) / n, 0.0), 1.0)

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        n = self.max - self.min + 1
        return np.clip((np.floor(values) - self.min + 1) / n, 0.0, 1.0)

    def ppf(self, u: float) -> int:
        return self.min + _bucket(u, self.max - self.min + 1)

    def sample(self, rng: np.random.Generator) -> int:
        return int(rng.integers(self.min, self.max + 1))


@dataclass(frozen=True)
class Uniform(Param):
    min: float = 0.0
    max: float = 1.0
    distribution: ClassVar[str] = "uniform"

    def cdf(self, value: Any) -> float:
        return _clip_unit((value - self.min) / (self.max - self.min))

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        return np.clip((values - self.min) / (self.max - self.min), 0.0, 1.0)

    def ppf(self, u: float) -> float:
        return self.min + _clip_unit(u) * (self.max - self.min)


@dataclass(frozen=True)
class QUniform(Param):
    min: float = 0.0
    max: float = 1.0
    q: float = 1.0
    distribution: ClassVar[str] = "q_uniform"
    continuous: ClassVar[bool] = False

    def grid_values(self) -> list[Any]:
        # W&B: np.arange(min, max, q) -- every step from min, strictly below max
        return [py_scalar(v) for v in np.arange(self.min, self.max, self.q)]

    def cdf(self, value: Any) -> float:
        return _clip_unit((value - self.min) / (self.max - self.min))

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        return np.clip((values - self.min) / (self.max - self.min), 0.0, 1.0)

    def ppf(self, u: float) -> float | int:
        return _quantize(self.min + _clip_unit(u) * (self.max - self.min), self.q)


@dataclass(frozen=True)
class LogUniform(Param):
    """v1: ``min``/``max`` are natural-log exponents; the value is ``exp(uniform(min, max))``."""

    min: float = 0.0
    max: float = 1.0
    distribution: ClassVar[str] = "log_uniform"
    replaced_by: ClassVar[str | None] = "log_uniform_values"

    def _bounds(self) -> tuple[float, float]:
        return self.min, self.max

    def cdf(self, value: Any) -> float:
        lo, hi = self._bounds()
        if value <= 0:
            return 0.0
        return _clip_unit((math.log(value) - lo) / (hi - lo))

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        lo, hi = self._bounds()
        with np.errstate(divide="ignore", invalid="ignore"):
            u = np.clip((np.log(values) - lo) / (hi - lo), 0.0, 1.0)
        return np.where(values <= 0, 0.0, u)

    def ppf(self, u: float) -> float:
        lo, hi = self._bounds()
        return math.exp(lo + _clip_unit(u) * (hi - lo))


@dataclass(frozen=True)
class LogUniformValues(LogUniform):
    """``min``/``max`` are the values themselves (> 0); uniform in their logs."""

    distribution: ClassVar[str] = "log_uniform_values"
    replaced_by: ClassVar[str | None] = None

    def _bounds(self) -> tuple[float, float]:
        return math.log(self.min), math.log(self.max)


@dataclass(frozen=True)
class QLogUniform(LogUniform):
    q: float = 1.0
    distribution: ClassVar[str] = "q_log_uniform"
    replaced_by: ClassVar[str | None] = "q_log_uniform_values"

    def ppf(self, u: float) -> float | int:
        return _quantize(super().ppf(u), self.q)


@dataclass(frozen=True)
class QLogUniformValues(QLogUniform):
    distribution: ClassVar[str] = "q_log_uniform_values"
    replaced_by: ClassVar[str | None] = None

    def _bounds(self) -> tuple[float, float]:
        return math.log(self.min), math.log(self.max)


@dataclass(frozen=True)
class InvLogUniform(Param):
    """v1: the value is ``exp(-x)`` with ``x`` uniform in [min, max] (exponents)."""

    min: float = 0.0
    max: float = 1.0
    distribution: ClassVar[str] = "inv_log_uniform"
    replaced_by: ClassVar[str | None] = "inv_log_uniform_values"

    def _bounds(self) -> tuple[float, float]:
        return self.min, self.max

    def cdf(self, value: Any) -> float:
        lo, hi = self._bounds()
        if value <= 0:
            return 0.0
        return 1.0 - _clip_unit((math.log(1.0 / value) - lo) / (hi - lo))

    def ppf(self, u: float) -> float:
        lo, hi = self._bounds()
        return math.exp(-(lo + (1.0 - _clip_unit(u)) * (hi - lo)))


@dataclass(frozen=True)
class InvLogUniformValues(InvLogUniform):
    """``min``/``max`` are the values themselves (> 0)."""

    distribution: ClassVar[str] = "inv_log_uniform_values"
    replaced_by: ClassVar[str | None] = None

    def _bounds(self) -> tuple[float, float]:
        return -math.log(self.max), -math.log(self.min)


@dataclass(frozen=True)
class Normal(Param):
    mu: float = 0.0
    sigma: float = 1.0
    distribution: ClassVar[str] = "normal"

    def cdf(self, value: Any) -> float:
        return _ndtr((value - self.mu) / self.sigma)

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        return _special().ndtr((values - self.mu) / self.sigma)

    def ppf(self, u: float) -> float:
        return self.mu + self.sigma * _ndtri(u)


@dataclass(frozen=True)
class QNormal(Normal):
    q: float = 1.0
    distribution: ClassVar[str] = "q_normal"

    def ppf(self, u: float) -> float | int:
        return _quantize(super().ppf(u), self.q)


@dataclass(frozen=True)
class LogNormal(Param):
    mu: float = 0.0
    sigma: float = 1.0
    distribution: ClassVar[str] = "log_normal"

    def cdf(self, value: Any) -> float:
        if value <= 0:
            return 0.0
        return _ndtr((math.log(value) - self.mu) / self.sigma)

    def ppf(self, u: float) -> float:
        return math.exp(self.mu + self.sigma * _ndtri(u))


@dataclass(frozen=True)
class QLogNormal(LogNormal):
    q: float = 1.0
    distribution: ClassVar[str] = "q_log_normal"

    def ppf(self, u: float) -> float | int:
        return _quantize(super().ppf(u), self.q)


@dataclass(frozen=True)
class Beta(Param):
    a: float = 1.0
    b: float = 1.0
    distribution: ClassVar[str] = "beta"

    def cdf(self, value: Any) -> float:
        return float(_special().betainc(self.a, self.b, min(max(value, 0.0), 1.0)))

    def ppf(self, u: float) -> float:
        return float(_special().betaincinv(self.a, self.b, _clip_unit(u)))


@dataclass(frozen=True)
class QBeta(Beta):
    q: float = 1.0
    distribution: ClassVar[str] = "q_beta"

    def ppf(self, u: float) -> float | int:
        return _quantize(super().ppf(u), self.q)


#: every distribution by its config name
DISTRIBUTIONS: Mapping[str, type[Param]] = {
    cls.distribution: cls
    for cls in (
        Constant, Categorical, CategoricalProb, IntUniform, Uniform, QUniform,
        LogUniform, LogUniformValues, QLogUniform, QLogUniformValues,
        InvLogUniform, InvLogUniformValues, Normal, QNormal, LogNormal, QLogNormal,
        Beta, QBeta,
    )
}  # fmt: skip


def param_keys(cls: type[Param]) -> tuple[str, ...]:
    """The config keys a distribution takes besides ``distribution``."""
    return tuple(f.name for f in fields(cls) if f.name != "path")
