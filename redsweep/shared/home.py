"""Where a project's ``.redsweep/`` folder is, found the way git finds ``.git``.

Standard library only, and no pathlib: a command trial finds its run folder through here
(:mod:`redsweep.worker.api.files`), and pathlib costs a trial's start ~10 ms.
"""

from __future__ import annotations

import os

ENV_HOME = "REDSWEEP_HOME"
DEFAULT_HOME = ".redsweep"


def project_home(start: str | None = None) -> str:
    """``$REDSWEEP_HOME``, else the nearest ``.redsweep/`` from ``start`` (the current
    directory) upward, else ``start/.redsweep``; absolute."""
    explicit = os.environ.get(ENV_HOME)
    if explicit:
        return os.path.abspath(explicit)
    return discover(start or os.getcwd())


def discover(start: str) -> str:
    """The nearest ``.redsweep/`` directory at ``start`` or above it; ``start/.redsweep`` when
    there is none (absolute)."""
    start = os.path.abspath(start)
    folder = start
    while True:
        candidate = os.path.join(folder, DEFAULT_HOME)
        if os.path.isdir(candidate):
            return candidate
        parent = os.path.dirname(folder)
        if parent == folder:
            return os.path.join(start, DEFAULT_HOME)
        folder = parent
