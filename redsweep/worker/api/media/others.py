"""``Histogram`` (kept in the row, as W&B does), ``Audio`` (WAV), ``Video`` (a path, or frames
as an animated GIF), ``Html``, ``Object3D``, ``Molecule``, ``Plotly`` (its JSON)."""

from __future__ import annotations

import io
import json
import os
import shutil
import wave
from typing import Any

from redsweep.worker.api.media.base import Media


class Histogram(Media):
    """W&B's ``Histogram(sequence=None, np_histogram=None, num_bins=64)``: logged in the row
    itself as ``{"_type": "histogram", "bins": [...], "values": [...]}`` (no file)."""

    kind = "histogram"

    def __init__(self, sequence: Any = None, np_histogram: Any = None, num_bins: int = 64) -> None:
        import numpy as np

        if np_histogram is not None:
            values, bins = np_histogram
        else:
            data = np.asarray(sequence, dtype="float64").ravel()
            data = data[np.isfinite(data)]
            values, bins = np.histogram(data, bins=min(int(num_bins), 512))
        self.histogram = [float(v) for v in np.asarray(values).tolist()]
        self.bins = [float(b) for b in np.asarray(bins).tolist()]

    def save(self, files: Any, key: str, step: int | None = None, index: int | None = None) -> dict:
        return {"_type": "histogram", "values": self.histogram, "bins": self.bins}


class _FileMedia(Media):
    """A value that is a file already (a path), or bytes we write."""

    def __init__(self, path: str | None, data: bytes | None, ext: str, caption: str | None) -> None:
        self._path = path
        self._data = data
        self._ext = ext
        self.caption = caption

    @staticmethod
    def _existing(value: Any) -> str | None:
        if isinstance(value, (str, os.PathLike)) and os.path.isfile(value):
            return os.fspath(value)
        return None

    def extension(self) -> str:
        return self._ext

    def write(self, files: Any, name: str) -> None:
        if self._path is not None:
            shutil.copyfile(self._path, files.path(name))
        else:
            files.path(name).write_bytes(self._data or b"")

    def describe(self) -> dict[str, Any]:
        return {"caption": self.caption} if self.caption else {}


def _ext(path: str, default: str) -> str:
    return os.path.splitext(path)[1].lstrip(".").lower() or default


class Audio(_FileMedia):
    """W&B's ``Audio(data_or_path, sample_rate=None, caption=None)``: a path is copied; a
    numpy array of samples in [-1, 1] (mono, or samples x channels) is written as 16-bit WAV."""

    kind = "audio-file"
    folder = "audio"

    def __init__(self, data_or_path: Any, sample_rate: int | None = None, caption: Any = None):
        path = self._existing(data_or_path)
        if path is not None:
            super().__init__(path, None, _ext(path, "wav"), caption)
            return
        if sample_rate is None:
            raise ValueError("Audio(): give sample_rate with an array of samples")
        import numpy as np

        samples = np.asarray(data_or_path, dtype="float64")
        channels = 1 if samples.ndim == 1 else samples.shape[1]
        pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(channels)
            out.setsampwidth(2)
            out.setframerate(int(sample_rate))
            out.writeframes(pcm)
        super().__init__(None, buffer.getvalue(), "wav", caption)
        self.sample_rate = sample_rate


class Video(_FileMedia):
    """W&B's ``Video(data_or_path, caption=None, fps=4, format=None)``: a path is copied;
    frames (``time x channels x height x width``, uint8) become an animated GIF (Pillow)."""

    kind = "video-file"
    folder = "videos"

    def __init__(
        self, data_or_path: Any, caption: Any = None, fps: int = 4, format: str | None = None
    ):
        path = self._existing(data_or_path)
        if path is not None:
            super().__init__(path, None, _ext(path, "mp4"), caption)
            return
        import numpy as np
        from PIL import Image as PILImage

        frames = np.asarray(data_or_path)
        if frames.ndim == 5:  # batch x time x channels x height x width: the first one
            frames = frames[0]
        if frames.ndim != 4:
            raise ValueError(f"Video(): frames of shape {frames.shape}; want T x C x H x W")
        frames = np.moveaxis(frames, 1, -1).astype(np.uint8)
        if frames.shape[-1] == 1:
            frames = frames[..., 0]
        images = [PILImage.fromarray(f) for f in frames]
        buffer = io.BytesIO()
        images[0].save(
            buffer,
            format="GIF",
            save_all=True,
            append_images=images[1:],
            duration=int(1000 / max(1, fps)),
            loop=0,
        )
        super().__init__(None, buffer.getvalue(), "gif", caption)


class Html(_FileMedia):
    """W&B's ``Html(data, inject=True)``: a string of HTML, an open file or a path."""

    kind = "html-file"
    folder = "html"

    def __init__(self, data: Any, inject: bool = True, data_is_not_path: bool = False):
        path = None if data_is_not_path else self._existing(data)
        if path is not None:
            super().__init__(path, None, "html", None)
        else:
            text = data.read() if hasattr(data, "read") else str(data)
            super().__init__(None, text.encode("utf-8"), "html", None)


class Plotly(_FileMedia):
    """A plotly figure, saved as its JSON (``.plotly.json``: data and layout, what plotly.js
    draws), as W&B keeps it."""

    kind = "plotly-file"
    folder = "plotly"

    def __init__(self, figure: Any):
        super().__init__(None, figure.to_json().encode("utf-8"), "plotly.json", None)


class Object3D(_FileMedia):
    """W&B's ``Object3D(data_or_path)``: a file (.obj, .gltf, .glb, .babylon, .stl, .pts.json)
    is copied; a numpy point cloud (N x 3, 4 or 6) is saved as ``.pts.json``."""

    kind = "object3D-file"
    folder = "object3D"

    def __init__(self, data_or_path: Any, caption: Any = None, **ignored: Any):
        path = self._existing(data_or_path)
        if path is not None:
            ext = "pts.json" if path.endswith(".pts.json") else _ext(path, "obj")
            super().__init__(path, None, ext, caption)
            return
        if isinstance(data_or_path, dict):
            points = data_or_path
        else:
            import numpy as np

            points = np.asarray(data_or_path, dtype="float64").tolist()
        super().__init__(None, json.dumps(points).encode("utf-8"), "pts.json", caption)


class Molecule(_FileMedia):
    """W&B's ``Molecule(data_or_path)``: a structure file (.pdb, .sdf, ...) copied as is."""

    kind = "molecule-file"
    folder = "molecule"

    def __init__(self, data_or_path: Any, caption: Any = None, **ignored: Any):
        path = self._existing(data_or_path)
        if path is None:
            text = data_or_path.read() if hasattr(data_or_path, "read") else str(data_or_path)
            super().__init__(None, text.encode("utf-8"), "pdb", caption)
        else:
            super().__init__(path, None, _ext(path, "pdb"), caption)
