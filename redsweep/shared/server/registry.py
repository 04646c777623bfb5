"""The registry of local servers this user started: one small JSON file per server, so that
``redsweep server list`` can show every local server running, in any project.

It lives in ``$REDSWEEP_RUNTIME_DIR`` (tests point it at a temp dir), else
``$XDG_RUNTIME_DIR/redsweep``, else ``~/.cache/redsweep/servers``. An entry is written by the
process that starts a server and removed when it stops (by ``server stop``, its idle watcher,
or by ``server list`` when the server no longer answers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ENV_RUNTIME = "REDSWEEP_RUNTIME_DIR"


@dataclass(frozen=True)
class Entry:
    """A local server: its data dir, socket, pid and when it started (Unix time)."""

    dir: str
    socket: str
    pid: int | None
    started: float


def registry_dir() -> Path:
    explicit = os.environ.get(ENV_RUNTIME)
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "redsweep"
    return Path.home() / ".cache" / "redsweep" / "servers"


def _path(server_dir: str | os.PathLike[str]) -> Path:
    digest = hashlib.sha1(os.fsencode(os.fspath(server_dir))).hexdigest()[:16]
    return registry_dir() / f"{digest}.json"


def register(server_dir: Path, socket: str, pid: int | None) -> None:
    """Note a server that was just started (best effort: the registry is only a listing)."""
    entry = Entry(str(server_dir), socket, pid, time.time())
    path = _path(server_dir)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(entry)))
        os.replace(tmp, path)


def unregister(server_dir: str | os.PathLike[str]) -> None:
    with contextlib.suppress(OSError):
        _path(server_dir).unlink()


def entries() -> list[Entry]:
    """Every registered server, oldest first (unreadable entries are skipped)."""
    out = []
    with contextlib.suppress(OSError):
        for path in registry_dir().glob("*.json"):
            try:
                out.append(Entry(**json.loads(path.read_text())))
            except (OSError, ValueError, TypeError):
                continue
    return sorted(out, key=lambda e: e.started)
