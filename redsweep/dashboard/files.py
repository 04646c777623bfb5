"""The files and media a run saved, in the one place the pages list them from.

Until runs keep a files folder of their own, a run's files are what its summary names the way
W&B's media do: a value that is a mapping with a ``_type`` (``image-file``, ``table-file``, ...)
and a ``path``. When :class:`~redsweep.results.RunResult` grows a ``files`` list, it is listed
here too, and nothing else in the dashboard changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def run_files(run: Any) -> list[dict[str, Any]]:
    """``[{"name", "path", "type", "size"}]`` for each file the run saved (size None when it
    was not recorded), by name."""
    found: dict[str, dict[str, Any]] = {}
    for name, value in (run.summary or {}).items():
        if isinstance(value, Mapping) and value.get("_type") and value.get("path"):
            found[str(value["path"])] = {
                "name": name,
                "path": str(value["path"]),
                "type": str(value["_type"]),
                "size": value.get("size"),
            }
    for entry in getattr(run, "files", None) or ():
        if isinstance(entry, Mapping):
            path = str(entry.get("path") or entry.get("name") or "")
            name, kind, size = entry.get("name", path), entry.get("type", "file"), entry.get("size")
        else:
            path, name, kind, size = str(entry), str(entry), "file", None
        found.setdefault(path, {"name": str(name), "path": path, "type": str(kind), "size": size})
    return sorted(found.values(), key=lambda f: f["name"])
