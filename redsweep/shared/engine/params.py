"""One class per parameter distribution of a W&B sweep config.

Each class knows its keys and defaults, how to ``sample`` from a seeded generator, its grid
values (``None`` for continuous distributions), and ``cdf``/``ppf`` to map values to and from
[0, 1] (bayes search works in that unit cube). Sampling follows W&B's ``sweeps`` package:
a value is ``ppf(u)`` of a uniform ``u``; ``q_*`` values are ``round(x / q) * q``, an int when
``q`` is an int. Values come back as plain Python numbers, never numpy scalars.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

from redsweep.shared.engine.params_base import (
    Draws,
    Param,
    _bucket,
    _clip_unit,
    _quantize,
    numpy,
)
from redsweep.shared.engine.values import canonical

if TYPE_CHECKING:
    import numpy as np

    from redsweep.shared.engine.params_scaled import (
        Beta,
        InvLogUniform,
        InvLogUniformValues,
        LogNormal,
        LogUniform,
        LogUniformValues,
        Normal,
        QBeta,
        QLogNormal,
        QLogUniform,
        QLogUniformValues,
        QNormal,
    )

__all__ = [
    "DISTRIBUTIONS",
    "Beta",
    "Categorical",
    "CategoricalProb",
    "Constant",
    "IntUniform",
    "InvLogUniform",
    "InvLogUniformValues",
    "LogNormal",
    "LogUniform",
    "LogUniformValues",
    "Normal",
    "Param",
    "QBeta",
    "QLogNormal",
    "QLogUniform",
    "QLogUniformValues",
    "QNormal",
    "QUniform",
    "Uniform",
    "param_keys",
]


@dataclass(frozen=True)
class Constant(Param):
    value: Any = None
    distribution: ClassVar[str] = "constant"
    continuous: ClassVar[bool] = False

    def sample(self, rng: Draws) -> Any:
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

    def sample(self, rng: Draws) -> Any:
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
        np = numpy()
        return np.clip((np.floor(values) - self.min + 1) / n, 0.0, 1.0)

    def ppf(self, u: float) -> int:
        return self.min + _bucket(u, self.max - self.min + 1)

    def sample(self, rng: Draws) -> int:
        return int(rng.integers(self.min, self.max + 1))


@dataclass(frozen=True)
class Uniform(Param):
    min: float = 0.0
    max: float = 1.0
    distribution: ClassVar[str] = "uniform"

    def cdf(self, value: Any) -> float:
        return _clip_unit((value - self.min) / (self.max - self.min))

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        return numpy().clip((values - self.min) / (self.max - self.min), 0.0, 1.0)

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
        return [self.grid_value(i) for i in range(self.grid_len())]

    def grid_len(self) -> int:
        """How many values np.arange(min, max, q) has: ceil((max - min) / q)."""
        return max(math.ceil((self.max - self.min) / self.q), 0)

    def grid_value(self, i: int) -> float | int:
        """Value ``i`` of np.arange(min, max, q), as numpy computes it (without numpy)."""
        if all(type(v) is int for v in (self.min, self.max, self.q)):
            return self.min + i * self.q
        start, step = float(self.min), float(self.q)
        if i == 1:
            return start + step
        # np.arange fills element i as start + i * ((start + step) - start)
        return start + i * ((start + step) - start)

    def cdf(self, value: Any) -> float:
        return _clip_unit((value - self.min) / (self.max - self.min))

    def cdf_array(self, values: np.ndarray) -> np.ndarray:
        return numpy().clip((values - self.min) / (self.max - self.min), 0.0, 1.0)

    def ppf(self, u: float) -> float | int:
        return _quantize(self.min + _clip_unit(u) * (self.max - self.min), self.q)


#: The scaled distributions (log, normal, beta: :mod:`.params_scaled`) by config name, loaded
#: on first use: their 12 dataclasses cost ~8 ms of every process's start, and most sweeps use
#: none of them.
_SCALED: Mapping[str, str] = {
    "log_uniform": "LogUniform",
    "log_uniform_values": "LogUniformValues",
    "q_log_uniform": "QLogUniform",
    "q_log_uniform_values": "QLogUniformValues",
    "inv_log_uniform": "InvLogUniform",
    "inv_log_uniform_values": "InvLogUniformValues",
    "normal": "Normal",
    "q_normal": "QNormal",
    "log_normal": "LogNormal",
    "q_log_normal": "QLogNormal",
    "beta": "Beta",
    "q_beta": "QBeta",
}


def __getattr__(name: str) -> type[Param]:
    """``params.LogUniform`` and the other scaled distributions, loaded on first use."""
    if name in _SCALED.values():
        from redsweep.shared.engine import params_scaled

        cls: type[Param] = getattr(params_scaled, name)
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _Distributions(Mapping[str, "type[Param]"]):
    """Every distribution by its config name; the scaled ones load when first looked up."""

    def __init__(self, *eager: type[Param]) -> None:
        self._eager = {cls.distribution: cls for cls in eager}

    def __getitem__(self, name: str) -> type[Param]:
        cls = self._eager.get(name)
        if cls is not None:
            return cls
        if name in _SCALED:
            return __getattr__(_SCALED[name])
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        yield from self._eager
        yield from _SCALED

    def __len__(self) -> int:
        return len(self._eager) + len(_SCALED)


#: every distribution by its config name
DISTRIBUTIONS: Mapping[str, type[Param]] = _Distributions(
    Constant, Categorical, CategoricalProb, IntUniform, Uniform, QUniform
)


def param_keys(cls: type[Param]) -> tuple[str, ...]:
    """The config keys a distribution takes besides ``distribution``."""
    return tuple(f.name for f in fields(cls) if f.name != "path")
