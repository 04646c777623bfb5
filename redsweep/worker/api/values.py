"""Logged values as the store takes them: numpy arrays and framework scalars become plain
Python values (:func:`loggable`), and anything else its ``str()`` where a plain value is
needed (:func:`storable`)."""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def loggable(value: Any) -> Any:
    """Plain values pass; numpy arrays become lists; framework scalars their ``item()``."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    tolist = getattr(value, "tolist", None)
    if callable(tolist) and getattr(value, "ndim", 0) > 0:
        return tolist()
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    if isinstance(value, Mapping):
        return {str(k): loggable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [loggable(v) for v in value]
    return value  # the reporter drops rows the wire format refuses, with a warning


def storable(value: Any) -> Any:
    """A plain value for the store: unknown objects become their str()."""
    value = loggable(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [storable(v) for v in value]
    return str(value)
