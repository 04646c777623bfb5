"""The log-scaled, normal and beta distributions of a W&B sweep config.

Part of :mod:`redsweep.shared.engine.params` (which every caller imports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from redsweep.shared.engine.params_base import (
    Param,
    _clip_unit,
    _ndtr,
    _ndtri,
    _quantize,
    _special,
    numpy,
)

if TYPE_CHECKING:
    import numpy as np


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
        np = numpy()
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
