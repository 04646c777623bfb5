"""Random generators for :func:`~redsweep.shared.engine.search.suggest`: Python's for grid and
random sweeps (sampling draws one uniform or one integer per parameter, which needs no
numpy: agents and `import redsweep` stay light), numpy's for bayes (its arrays need one)."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from redsweep.shared.records import Method, SweepConfig

Seed = int | Sequence[int] | None


class PyRng:
    """The draws a parameter's ``sample`` asks for (``random()``, ``integers()``, as numpy's
    ``Generator`` has them), from :class:`random.Random`; seeded like numpy's (an int, a
    sequence of ints, or None for a fresh one)."""

    def __init__(self, seed: Seed = None) -> None:
        if seed is not None and not isinstance(seed, int):
            seed = ":".join(str(int(part)) for part in seed)  # a str seed is stable everywhere
        self._random = random.Random(seed)

    def random(self) -> float:
        """A float in [0, 1)."""
        return self._random.random()

    def integers(self, low: int, high: int | None = None) -> int:
        """An int in [low, high), or in [0, low) without ``high``, as numpy's."""
        if high is None:
            low, high = 0, low
        return self._random.randrange(int(low), int(high))


def new_rng(config: SweepConfig, seed: Seed = None) -> Any:
    """The generator ``suggest`` wants for ``config``'s method, seeded with ``seed``."""
    if Method(config.method) is Method.BAYES:
        import numpy as np

        return np.random.default_rng(seed)
    return PyRng(seed)
