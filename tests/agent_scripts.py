"""Agent processes for the integration tests: a script around an AgentSession, started
through the ``procs`` fixture (which ends it), and a stand-in controller."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from redsweep.shared.records import SweepState
from redsweep.shared.store import Store

ROOT = Path(__file__).resolve().parents[1]
LONG = 120_000  # a lease that does not lapse during a test (ms)

AGENT = """\
import json, os, subprocess, sys, time
import redsweep.worker.api.functions as redsweep
from redsweep.worker.agent.session import AgentSession

HERE = os.path.dirname(os.path.abspath(__file__))

{objective}

session = AgentSession(os.environ["REDSWEEP_REDIS_URL"], sys.argv[1], {options})
result = session.run()
print(json.dumps({{"pid": os.getpid(), **result.as_dict()}}))
"""


class Agents:
    """Writes agent scripts and starts them as processes (through ``procs``)."""

    def __init__(self, procs: Any, tmp_path: Path, redis_url: str) -> None:
        self.procs = procs
        self.dir = tmp_path
        self.env = {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url}
        self.n = 0

    def start(
        self,
        sweep_id: str,
        objective: str = "",
        env: dict[str, str] | None = None,
        **options: Any,
    ) -> subprocess.Popen:
        """An agent process serving ``sweep_id``; ``objective`` is Python source defining it,
        ``options`` are AgentSession keywords written as source (function="objective"),
        ``env`` more environment for it."""
        self.n += 1
        script = self.dir / f"agent{self.n}.py"
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        script.write_text(AGENT.format(objective=textwrap.dedent(objective), options=opts))
        env = {**self.env, **(env or {})}
        return self.procs.spawn([sys.executable, str(script), sweep_id], env=env, cwd=self.dir)

    def result(self, proc: subprocess.Popen, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the agent to exit 0 and return its printed result."""
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            out, err = self.procs.output(proc)
            raise AssertionError(f"agent still running\nstdout:\n{out}\nstderr:\n{err}") from None
        out, err = self.procs.output(proc)
        assert code == 0, f"agent exited {code}\nstdout:\n{out}\nstderr:\n{err}"
        return json.loads(out.strip().splitlines()[-1])

    def stderr(self, proc: subprocess.Popen) -> str:
        return self.procs.output(proc)[1]


def short_trials(logged: str, *, marked_after: int) -> str:
    """The source of ``objective``: trials that log ``logged`` (Python source of a dict) at
    once; the ``marked_after``-th touches ``HERE/ran-N`` and from it on each takes 10 ms,
    still short enough to be pipelined, so that a test acts on the agent amid a stream."""
    return f"""
ran = 0
def objective():
    global ran
    ran += 1
    if ran == {marked_after}:
        open(os.path.join(HERE, "ran-{marked_after}"), "w").close()
    if ran >= {marked_after}:
        time.sleep(0.01)
    redsweep.log({logged})
"""


def hold_controller(store: Store, sweep_id: str) -> int:
    """Play controller: hold the lease (so no agent starts one) and mark the sweep running."""
    epoch = store.controllers.acquire(sweep_id, "test-controller", LONG)
    assert epoch is not None
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING])
    return epoch
