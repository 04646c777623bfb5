"""What every media value shares: it saves itself as a file of the run and gives the row a
reference to it."""

from __future__ import annotations

import re
import sys
from typing import Any

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class Media:
    """A value saved as a file of the run when logged (:meth:`save`)."""

    #: the reference's ``_type`` and the folder under ``media/``
    kind = "file"
    folder = "files"

    def save(self, files: Any, key: str, step: int | None = None, index: int | None = None) -> dict:
        """Write the file(s) under ``files`` (a :class:`~redsweep.worker.api.files.RunFiles`)
        and return the row's reference to them."""
        name = file_name(self.folder, key, step, index, self.extension())
        self.write(files, name)
        files.add(name)
        return {"_type": self.kind, "path": name, **self.describe()}

    def extension(self) -> str:
        raise NotImplementedError

    def write(self, files: Any, name: str) -> None:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Extra fields of the reference (sizes, captions)."""
        return {}


def file_name(folder: str, key: str, step: int | None, index: int | None, ext: str) -> str:
    """``media/<folder>/<key>_<step>[_<index>].<ext>``, the key made safe for a file name."""
    stem = _UNSAFE.sub("_", key).strip("_") or "value"
    parts = (
        [stem]
        + ([str(step)] if step is not None else [])
        + ([str(index)] if index is not None else [])
    )
    return f"media/{folder}/{'_'.join(parts)}.{ext}"


def as_media(value: Any) -> Media | None:
    """A figure logged as itself: matplotlib (a Figure, or ``pyplot``: its current figure),
    plotly, a PIL image. None for anything else."""
    module = type(value).__module__ or ""
    if getattr(value, "__name__", None) == "matplotlib.pyplot" and "matplotlib" in sys.modules:
        from redsweep.worker.api.media.image import Image

        return Image(value.gcf())
    if module.startswith("matplotlib") and hasattr(value, "savefig"):
        from redsweep.worker.api.media.image import Image

        return Image(value)
    if module.startswith("plotly") and hasattr(value, "to_html"):
        from redsweep.worker.api.media.others import Plotly

        return Plotly(value)
    if module.startswith("PIL"):
        from redsweep.worker.api.media.image import Image

        return Image(value)
    return None
