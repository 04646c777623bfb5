"""The files and media a run saved, in the one place the pages list and serve them from.

A run records its files on its summary (the ``wandbapi`` work: ``wandb.save``, media and
tables go to the run's files folder): ``_files``, their paths relative to the folder, and
``_files_dir``, the folder (``.../.redsweep/runs/SWEEP/RUN/files`` on the machine that ran
it). The dashboard lists them all and serves those that exist on its own machine, only from
inside that folder and only when listed; images are shown inline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

FILES_KEY = "_files"
FILES_DIR_KEY = "_files_dir"
IMAGES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
          ".webp": "image/webp"}  # fmt: skip


def _listed(run: Any) -> tuple[Path | None, list[str]]:
    summary = run.summary or {}
    folder = summary.get(FILES_DIR_KEY)
    names = summary.get(FILES_KEY)
    names = [str(n) for n in names] if isinstance(names, (list, tuple)) else []
    return (Path(folder) if isinstance(folder, str) and folder else None), names


def _kind(name: str) -> str:
    if Path(name).suffix.lower() in IMAGES:
        return "image"
    return "table" if name.endswith(".table.json") else "file"


def run_files(run: Any) -> list[dict[str, Any]]:
    """``[{"name", "type", "size", "here"}]`` for each file the run recorded, by name:
    ``type`` image, table or file; ``size`` in bytes and ``here`` True when the file is on
    this machine (the dashboard can serve it)."""
    out = []
    for name in sorted(set(_listed(run)[1])):
        path = file_path(run, name)
        out.append(
            {
                "name": name,
                "type": _kind(name),
                "size": path.stat().st_size if path else None,
                "here": path is not None,
            }
        )
    return out


def file_path(run: Any, name: str) -> Path | None:
    """The file ``name`` of the run on this machine: only a listed one, inside the run's files
    folder (no ``..`` or link out of it), that exists; else None."""
    folder, names = _listed(run)
    if folder is None or name not in names:
        return None
    try:
        root = folder.resolve(strict=True)
        path = (root / name).resolve(strict=True)
    except OSError:
        return None
    return path if path.is_file() and path.is_relative_to(root) else None


def media_type(path: Path) -> str:
    """What to serve ``path`` as: an image type for images, else a download."""
    return IMAGES.get(path.suffix.lower(), "application/octet-stream")
