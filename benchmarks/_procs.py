"""What the benchmarks share: a private redis-server, and worker processes spawned and waited
for (imported by the benchmark scripts, which run with this folder first on their path)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from redsweep.shared.server.local import LocalServer, free_port

REPO = Path(__file__).resolve().parents[1]
#: Where worker processes cache bytecode. An installed package has its .pyc files, and Optuna's
#: have theirs; without a cache (this checkout has none, and the shell may set
#: PYTHONDONTWRITEBYTECODE) every redsweep worker would compile its modules anew at start.
PYCACHE = Path(tempfile.gettempdir()) / f"redsweep-bench-pycache-{os.getuid()}"


def _bytecode_env(env: dict[str, str]) -> dict[str, str]:
    env = {**env, "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_bytecode() -> None:
    """Fill :data:`PYCACHE` with this checkout's bytecode: called once by the benchmark's own
    process before it measures (not at import: the worker processes import this module too)."""
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(REPO / "redsweep")],
        env=_bytecode_env(dict(os.environ)),
        stdout=subprocess.DEVNULL,
        check=False,
    )


def start_private_redis(folder: Path) -> tuple[LocalServer, str]:
    """A redis-server of the benchmark's own under ``folder`` (TCP on 127.0.0.1, a free port,
    a random password; never 6379) and its URL; the caller stops it."""
    server = LocalServer()
    password = secrets.token_hex(16)
    port = free_port()
    server.start(folder / "redis", unixsocket=False, port=port, password=password)
    return server, f"redis://:{password}@127.0.0.1:{port}/0"


def spawn(
    args: list[str], env: dict[str, str], workdir: Path, log_name: str
) -> subprocess.Popen[bytes]:
    """A worker process in ``workdir`` (its output in ``log_name``) with ``env`` added; it
    imports this checkout even uninstalled, its bytecode cached in :data:`PYCACHE` (see
    :func:`warm_bytecode`)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = _bytecode_env({**os.environ, **env, "PYTHONPATH": path})
    with open(workdir / log_name, "ab") as log:
        return subprocess.Popen(
            args,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
        )


def wait_all(procs: list[subprocess.Popen[bytes]], workdir: Path, timeout_s: float) -> None:
    """Wait for the worker processes; on failure or timeout kill them all and raise, with the
    end of each log in ``workdir``."""
    deadline = time.monotonic() + timeout_s
    try:
        for proc in procs:
            code = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            if code != 0:
                logs = "".join(
                    f"\n--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:])
                    for log in sorted(workdir.glob("*.log"))
                )
                raise RuntimeError(f"a worker exited with code {code}:{logs}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
