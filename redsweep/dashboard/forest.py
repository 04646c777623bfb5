"""The importance forest in a process of its own, so that the dashboard's process never
imports scikit-learn (seconds of work holding the GIL, beside the first page's reading) and
fits beside it, on another core.

The dashboard starts it as it starts (``python -m redsweep.dashboard.forest``: it imports
scikit-learn at once) and sends it one JSON line per fit, ``{"configs": [...], "values":
[...]}``, to which it answers one JSON line, the importances
(:func:`redsweep.dashboard.importance.parameter_importance`). It ends when its stdin closes.
When it cannot answer (gone, or a broken line), the fit runs in the dashboard's process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from typing import IO, Any

from redsweep.dashboard.importance import parameter_importance


class Forest:
    """The fitting process; :meth:`fit` as :func:`parameter_importance`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = subprocess.Popen(
            [sys.executable, "-m", "redsweep.dashboard.forest"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    @property
    def pid(self) -> int | None:
        """The fitting process's id (None once it is gone)."""
        return self._proc.pid if self._proc is not None else None

    def fit(self, configs: Sequence[Mapping[str, Any]], values: Sequence[float]) -> list:
        """The importances of the ``configs``' parameters against ``values``."""
        line = json.dumps({"configs": list(configs), "values": list(values)}, default=str)
        with self._lock:
            proc = self._proc
            if proc is not None and proc.stdin is not None and proc.stdout is not None:
                try:
                    proc.stdin.write(line + "\n")
                    proc.stdin.flush()
                    answer = proc.stdout.readline()
                    if answer:
                        return json.loads(answer)
                except (OSError, ValueError):
                    pass
                self._stop()
        return parameter_importance(configs, values)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        for pipe in (proc.stdin, proc.stdout):
            if pipe is not None:
                pipe.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def close(self) -> None:
        """End the process (it exits as its stdin closes)."""
        with self._lock:
            self._stop()


def serve(lines: IO[str], out: IO[str]) -> None:
    """Answer each request line of ``lines`` on ``out`` until ``lines`` ends."""
    import sklearn.ensemble  # noqa: F401  (now, before the first request)

    for line in lines:
        request = json.loads(line)
        found = parameter_importance(request["configs"], request["values"])
        out.write(json.dumps(found) + "\n")
        out.flush()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
