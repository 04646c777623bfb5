"""Callback classes that subclass a framework's base class, built on first use (so that the
framework is imported only then)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def first_module(*names: str) -> Any:
    """The first of ``names`` that imports; ImportError naming them all."""
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"this callback needs one of: {', '.join(names)} (pip install it)")


def lazy_classes(builders: dict[str, Callable[[], type]], cache: dict[str, Any], name: str) -> Any:
    """A module ``__getattr__``: build the class ``name`` once."""
    if name not in builders:
        raise AttributeError(name)
    if name not in cache:
        cache[name] = builders[name]()
    return cache[name]


def log(row: dict[str, Any], **kwargs: Any) -> None:
    import redsweep

    redsweep.log(row, **kwargs)


def plain(value: Any) -> Any:
    """A framework scalar as a Python number (strings and others as they are)."""
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value
