"""``Image``: a numpy array, a PIL image, a matplotlib figure, a tensor or a path, saved as
PNG (Pillow writes it; matplotlib draws its own figures)."""

from __future__ import annotations

import io
import os
import shutil
from typing import Any

from redsweep.worker.api.media.base import Media


class Image(Media):
    """W&B's ``Image(data_or_path, mode=None, caption=None)``. Arrays: ``H x W`` (grey),
    ``H x W x 3|4``, or channels first (``3 x H x W``); floats in [0, 1] are scaled to 0-255.
    ``boxes`` and ``masks`` are kept in the reference as given."""

    kind = "image-file"
    folder = "images"

    def __init__(
        self,
        data_or_path: Any,
        mode: str | None = None,
        caption: str | None = None,
        grouping: int | None = None,
        classes: Any = None,
        boxes: Any = None,
        masks: Any = None,
        file_type: str | None = None,
        **ignored: Any,
    ) -> None:
        self.caption = caption
        self._mode = mode
        self._path: str | None = None
        self._png: bytes | None = None
        self._size: tuple[int, int] | None = None
        self._ext = "png"
        self._extra = {k: v for k, v in (("boxes", boxes), ("masks", masks)) if v is not None}
        if isinstance(data_or_path, (str, os.PathLike)):
            self._path = os.fspath(data_or_path)
            if not os.path.isfile(self._path):
                raise FileNotFoundError(f"Image({self._path!r}): no such file")
            self._ext = os.path.splitext(self._path)[1].lstrip(".").lower() or "png"
        elif hasattr(data_or_path, "savefig"):
            self._png = _figure_png(data_or_path)
        else:
            self._png = _array_png(data_or_path, mode)

    def extension(self) -> str:
        return self._ext

    def write(self, files: Any, name: str) -> None:
        if self._path is not None:
            shutil.copyfile(self._path, files.path(name))
        else:
            assert self._png is not None
            files.path(name).write_bytes(self._png)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": self._ext}
        if self._png is not None:
            width, height = _png_size(self._png)
            out.update(width=width, height=height)
        if self.caption:
            out["caption"] = self.caption
        if self._extra:
            from redsweep.worker.api.values import storable

            out.update(storable(self._extra))
        return out


def _figure_png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _array_png(data: Any, mode: str | None) -> bytes:
    from PIL import Image as PILImage

    if not isinstance(data, PILImage.Image):
        import numpy as np

        if hasattr(data, "detach"):  # a torch tensor
            data = data.detach().cpu().numpy()
        array = np.asarray(data)
        if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = np.moveaxis(array, 0, -1)  # channels first, as torch has them
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.ndim not in (2, 3):
            raise ValueError(f"Image(): an array of shape {array.shape} is not an image")
        if array.dtype != np.uint8:
            array = np.nan_to_num(array.astype("float64"))
            if array.size and array.min() >= 0 and array.max() <= 1:
                array = array * 255
            array = np.clip(array, 0, 255).astype(np.uint8)
        data = PILImage.fromarray(array)
    if mode and data.mode != mode:
        data = data.convert(mode)
    buffer = io.BytesIO()
    data.save(buffer, format="PNG")
    return buffer.getvalue()


def _png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's header."""
    return int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
