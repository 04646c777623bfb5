"""Parameter values: the canonical key under which equal values meet (grid dedupe, lookups),
and a run's value at a parameter's key path."""

from __future__ import annotations

import sys
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

#: what :func:`value_at` returns for a path a run's params do not have
MISSING: Any = object()


def py_scalar(x: Any) -> Any:
    """numpy scalar -> Python scalar; anything else unchanged."""
    np = numpy_if_loaded()
    return x.item() if np is not None and isinstance(x, np.generic) else x


def numpy_if_loaded() -> Any:
    """numpy when something imported it, else None: no value can be a numpy scalar before,
    so grid and random sweeps never pay for importing it."""
    return sys.modules.get("numpy")


def value_at(run_params: Mapping[str, Any], path: Sequence[str]) -> Any:
    """The value at ``path`` in a run's nested params, ``MISSING`` when it has none."""
    node: Any = run_params
    for part in path:
        if type(node) is dict:  # the common case, without the ABC check's cost
            node = node.get(part, MISSING)
            if node is MISSING:
                return MISSING
            continue
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


def canonical(value: Any) -> Hashable:
    """A hashable key under which equal parameter values meet.

    Integral floats equal their ints (``3000000.0`` ~ ``3000000``, as W&B's grid dedupe does),
    but booleans stay apart from numbers (``True`` is not ``1``); lists and dicts compare by
    content, dict keys in any order.
    """
    np = numpy_if_loaded()
    if isinstance(value, bool) or (np is not None and isinstance(value, np.bool_)):
        return ("b", bool(value))
    if isinstance(value, (int, float)) or (
        np is not None and isinstance(value, (np.integer, np.floating))
    ):
        number = py_scalar(value)
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
