"""What the fault tests share: a grid sweep of command trials that write their side effects
to files, and reading those back. Leases are short (``LEASE_MS``) so a lapse comes quickly."""

from __future__ import annotations

import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helpers import redsweep_cmd, run_cli

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

LEASE_MS = 2000
LEASE_S = LEASE_MS / 1000

# A command trial. It writes "A TRIAL PID HOST start TIME" to side/point-A.log, works
# WORK_S seconds (WORK_<A> for point A), writing an "alive" line every 0.1 s, then writes its
# side effect, the "end" line, last. With API=1 it calls redsweep.init() first (after
# INIT_DELAY_S) and logs its score after the work, before the side effect; without, it never
# imports redsweep.
TRIAL = """\
import os, sys, time

a = int(next(arg for arg in sys.argv[1:] if arg.startswith("--a="))[4:])
env = os.environ
side = os.path.join(env["SIDE_DIR"], f"point-{a}.log")

def note(what):
    with open(side, "a") as fh:
        fh.write(f"{a} {env.get('REDSWEEP_RUN_ID')} {os.getpid()} {env.get('HOST_TAG', '-')} "
                 f"{what} {time.time():.3f}\\n")

note("start")
if env.get("API") == "1":
    time.sleep(float(env.get("INIT_DELAY_S", "0")))
    import redsweep
    redsweep.init()
deadline = time.time() + float(env.get(f"WORK_{a}", env.get("WORK_S", "0.2")))
while time.time() < deadline:
    time.sleep(0.1)
    note("alive")
if env.get("API") == "1":
    redsweep.log({"score": a})
note("end")
"""


def make_sweep(url: str, tmp_path: Path, config: dict[str, Any]) -> str:
    """A sweep of :data:`TRIAL` (``config`` gives the method and parameters), created with
    the CLI; its id."""
    (tmp_path / "trial.py").write_text(TRIAL)
    (tmp_path / "side").mkdir(exist_ok=True)
    config = {"program": str(tmp_path / "trial.py"), **config}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    made = run_cli(url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    return made.stdout.strip().splitlines()[-1]


def grid_sweep(url: str, tmp_path: Path, points: int) -> str:
    """A grid sweep over ``a`` = 1..points of :data:`TRIAL`; its id."""
    config = {
        "method": "grid",
        "metric": {"name": "score", "goal": "maximize"},
        "parameters": {"a": {"values": list(range(1, points + 1))}},
    }
    return make_sweep(url, tmp_path, config)


def side_env(tmp_path: Path, **more: Any) -> dict[str, str]:
    return {"SIDE_DIR": str(tmp_path / "side"), **{k: str(v) for k, v in more.items()}}


def agent(procs: Any, url: str, sweep_id: str, tmp_path: Path, *args: str, **env: Any):
    """``redsweep agent SWEEP --lease-ms LEASE_MS`` (``env`` for its trials, see TRIAL)."""
    argv = redsweep_cmd(url, "agent", sweep_id, "--lease-ms", str(LEASE_MS), *args)
    return procs.spawn(argv, cwd=tmp_path, env=side_env(tmp_path, **env))


def controller(procs: Any, url: str, sweep_id: str, tmp_path: Path) -> subprocess.Popen:
    argv = redsweep_cmd(url, "controller", sweep_id, "--lease-ms", str(LEASE_MS))
    return procs.spawn(argv, cwd=tmp_path)


@dataclass(frozen=True)
class Line:
    point: int
    trial_id: str
    pid: int
    host: str
    what: str
    time: float


def lines(tmp_path: Path, point: int | None = None) -> list[Line]:
    """The lines the trials wrote (of one point, or of all)."""
    found = []
    for path in sorted((tmp_path / "side").glob("point-*.log")):
        for raw in path.read_text().splitlines():
            parts = raw.split()
            if len(parts) != 6:
                continue  # a line cut short by a kill
            line = Line(int(parts[0]), parts[1], int(parts[2]), parts[3], parts[4], float(parts[5]))
            if point is None or line.point == point:
                found.append(line)
    return found


def side_effects(tmp_path: Path) -> Counter[int]:
    """How many times each point's work was done (its ``end`` lines)."""
    return Counter(line.point for line in lines(tmp_path) if line.what == "end")


def started(tmp_path: Path, point: int) -> Line | None:
    """The latest start of ``point``, if any."""
    starts = [line for line in lines(tmp_path, point) if line.what == "start"]
    return starts[-1] if starts else None


def sweep_finished(store: Store, sweep_id: str) -> bool:
    try:
        return store.sweeps.get(sweep_id).state is SweepState.FINISHED
    except Exception:  # Redis away for a moment
        return False


def finished_per_point(store: Store, sweep_id: str) -> Counter[int]:
    """How many finished runs each point has in the store."""
    return Counter(
        t.params["a"] for t in store.reads.trials(sweep_id) if t.state is RunState.FINISHED
    )


def states(store: Store, sweep_id: str) -> Counter[str]:
    return Counter(t.state.value for t in store.reads.trials(sweep_id))
