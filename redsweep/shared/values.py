"""Canonical parameter values: the key under which equal values meet (grid dedupe, lookups)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

import numpy as np


def _py(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def canonical(value: Any) -> Hashable:
    """A hashable key under which equal parameter values meet.

    Integral floats equal their ints (``3000000.0`` ~ ``3000000``, as W&B's grid dedupe does),
    but booleans stay apart from numbers (``True`` is not ``1``); lists and dicts compare by
    content, dict keys in any order.
    """
    if isinstance(value, (bool, np.bool_)):
        return ("b", bool(value))
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = _py(value)
        if isinstance(number, float) and number.is_integer():
            number = int(number)
        return ("n", number)
    if isinstance(value, str):
        return ("s", value)
    if value is None:
        return ("z",)
    if isinstance(value, (list, tuple)):
        return ("l", tuple(canonical(v) for v in value))
    if isinstance(value, Mapping):
        return ("d", tuple(sorted((str(k), canonical(v)) for k, v in value.items())))
    return ("r", repr(value))
