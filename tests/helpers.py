"""Small helpers the tests share (on sys.path through pytest's ``pythonpath``)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

#: how long one CLI command may take (a whole `redsweep agent` run in some tests)
CLI_TIMEOUT_S = 60.0
#: how long one Python process (a daemon, an agent, a controller) may take to start up on a
#: loaded machine; waits on N of them starting allow N times this (they return at once anyway)
STARTUP_S = 20.0


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def _logs(procs: Any, watched: Sequence[subprocess.Popen]) -> str:
    if procs is None:
        return ""
    parts = []
    for proc in watched:
        out, err = procs.output(proc)
        parts.append(f"\n--- {proc.args} (pid {proc.pid}):\nstdout:\n{out}\nstderr:\n{err}")
    return "".join(parts)


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 15.0,
    what: str = "the condition",
    *,
    procs: Any = None,
    watched: Sequence[subprocess.Popen] = (),
    interval: float = 0.05,
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds naming ``what`` was awaited.

    It returns as soon as the event happens, so ``timeout`` can be generous. ``watched``
    processes (started by the ``procs`` fixture) must stay alive meanwhile: when one exits
    first this fails at once, and every failure shows what the watched processes wrote.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        dead = [p for p in watched if p.poll() is not None]
        if dead:
            value = predicate()  # it may have done what was awaited just before it exited
            if value:
                return value
            exits = ", ".join(f"{p.args} exited {p.returncode}" for p in dead)
            raise AssertionError(f"{exits} while waiting for {what}{_logs(procs, watched)}")
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout} s waiting for {what}{_logs(procs, watched)}"
            )
        time.sleep(interval)


def wait_for_output(
    procs: Any, proc: subprocess.Popen, text: str, timeout: float = 30.0, stream: str = "stderr"
) -> str:
    """Wait until ``proc`` (started by ``procs``) has written ``text`` to ``stream``
    ("stdout" or "stderr"); fail at once if it exits first. Returns all it wrote there."""
    index = {"stdout": 0, "stderr": 1}[stream]

    def written() -> str | None:
        out = procs.output(proc)[index]
        return out if text in out else None

    return wait_for(written, timeout, f"{text!r} on its {stream}", procs=procs, watched=[proc])


def redsweep_cmd(url: str | None, *args: str) -> list[str]:
    """The argv of ``redsweep [--redis URL] ARGS...`` run by this interpreter."""
    return [sys.executable, "-m", "redsweep", *(["--redis", url] if url else []), *args]


def run_cli(
    url: str | None,
    *args: str,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = CLI_TIMEOUT_S,
    check: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``redsweep [--redis URL] ARGS...`` to its end, output captured as text.

    ``url`` None gives no ``--redis`` (the command finds its server itself); ``env`` is the
    whole environment (None: this process's). ``check`` asserts it exited 0 (showing stderr).
    Its stdout is no terminal, so it must hold no colour codes (asserted for every command).
    """
    result = subprocess.run(
        redsweep_cmd(url, *args),
        capture_output=True,
        text=True,
        cwd=cwd,
        env=None if env is None else dict(env),
        timeout=timeout,
    )
    if check:
        assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stderr}"
    assert "\x1b[" not in result.stdout, f"colour codes from {result.args}: {result.stdout!r}"
    return result
