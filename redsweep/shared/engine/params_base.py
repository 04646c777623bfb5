"""The base of every parameter distribution (:class:`Param`) and the unit-cube helpers
they share: quantizing, clipping, the normal cdf and its inverse, scipy on demand.

Part of :mod:`redsweep.shared.engine.params`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    import numpy as np


class Draws(Protocol):
    """What sampling needs of a random generator (``random()``, ``integers()``): numpy's
    ``Generator`` or :class:`~redsweep.shared.engine.rng.PyRng`."""

    def random(self) -> float: ...
    def integers(self, low: int, high: int | None = None) -> Any: ...


def numpy() -> Any:
    """numpy, imported on first use: only bayes maps values to arrays (grid and random
    sweeps, and agents, never import it)."""
    import numpy

    return numpy


def _quantize(x: float, q: float) -> float | int:
    # round-half-to-even like W&B's np.round(r / q) * q (Python's round is too); NaN and
    # infinities pass through as numpy's do
    r = x / q
    value = float((float(round(r)) if math.isfinite(r) else r) * q)
    return int(value) if isinstance(q, int) else value


def _clip_unit(u: float) -> float:
    return min(max(float(u), 0.0), 1.0)


def _open_unit(u: float) -> float:
    """u clipped into (0, 1): the normal family's ppf is infinite at 0 and 1."""
    return min(max(float(u), 1e-12), 1.0 - 1e-12)


@functools.cache
def _standard_normal() -> Any:
    # statistics (with fractions and decimal) is imported only once a normal family is sampled
    import statistics

    return statistics.NormalDist()


def _ndtr(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _ndtri(u: float) -> float:
    """The standard normal quantile, finite at 0 and 1."""
    return _standard_normal().inv_cdf(_open_unit(u))


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

    def sample(self, rng: Draws) -> Any:
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
        return numpy().array([math.nan if math.isnan(v) else self.cdf(v) for v in values.tolist()])

    def to_dict(self) -> dict[str, Any]:
        """The parameter's config with its distribution and every default filled in."""
        out: dict[str, Any] = {"distribution": self.distribution}
        for f in fields(self):
            if f.name != "path":
                value = getattr(self, f.name)
                out[f.name] = list(value) if isinstance(value, tuple) else value
        return out
