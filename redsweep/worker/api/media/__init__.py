"""Media and tables for ``log()``: ``Image``, ``Table``, ``Histogram``, ``Audio``, ``Video``,
``Html``, ``Object3D``, ``Plotly`` and ``redsweep.plot``'s charts.

A logged media value is saved as a file of the run (``files/media/<kind>/<key>_<step>.<ext>``:
images as PNG, tables and charts as JSON) and the row holds a small reference to it,
``{"_type": "image-file", "path": "media/images/...", ...}``, as W&B's history does; the row's
other values are kept. A matplotlib figure (or ``matplotlib.pyplot`` itself: its current
figure) logged directly is saved as a PNG, a plotly figure as its JSON. numpy, Pillow and
matplotlib are imported only when such a value is logged.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = {
    "Media": "base",
    "Image": "image",
    "Table": "table",
    "Histogram": "others",
    "Audio": "others",
    "Video": "others",
    "Html": "others",
    "Object3D": "others",
    "Molecule": "others",
    "Plotly": "others",
}

__all__ = [*_NAMES, "encode"]


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_NAMES[name]}"), name)
    globals()[name] = value
    return value


def encode(value: Any, files: Any, key: str, step: int) -> Any:
    """What the row holds for ``value``: a reference to the file it was saved as when it is
    a media value (or a figure), the value itself otherwise."""
    from redsweep.worker.api.media.base import Media, as_media

    if isinstance(value, (list, tuple)) and value and all(isinstance(v, Media) for v in value):
        return [v.save(files, key, step, index=i) for i, v in enumerate(value)]
    media = value if isinstance(value, Media) else as_media(value)
    if media is None:
        return value
    return media.save(files, key, step)
