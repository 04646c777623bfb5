"""Command-mode throughput: trials/s of a ``program:`` sweep with two agents, against the
bare-process floor measured in the same run.

- redsweep: a random search with ``run_cap: N`` whose program is a script doing
  ``import redsweep; run = redsweep.init(); redsweep.log({"loss": ...})``, served by two
  ``redsweep agent`` processes (the controller runs as one agent's background thread) against
  a private redis-server (TCP on 127.0.0.1, a password; never port 6379), started for the
  benchmark and stopped at the end. Throughput is trials over the active window: the first
  trial's claim to the last trial's finish (the server's times of the trials).
- floor: the same number of ``python -c pass`` starts (this Python), two at a time.

Each repeat measures both, alternating which goes first; the table shows medians and the
median of the per-repeat ratios. It also splits a trial's time: from its claim to the
script's first line (the agent's request, the launcher's spawn, the interpreter's start), the
script's ``import redsweep; redsweep.init()``, and from its ``log()`` to its finish; and it
counts the CPU per trial of the agents and everything they started.

Every process gets a bytecode cache of its own in the benchmark's temporary directory
(``PYTHONPYCACHEPREFIX``), as an installed package has its ``.pyc`` files: with
``PYTHONDONTWRITEBYTECODE`` set (and an editable install) each trial would compile redsweep's
modules anew. ``--no-pyc`` measures that case. Run by hand::

    python benchmarks/command.py            # --trials 60 --repeats 5
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from _procs import start_private_redis, wait_all

AGENTS = 2
REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600.0

TRIAL = """\
import time

FIRST_LINE = time.time()
import redsweep

run = redsweep.init()
INIT_MS = (time.time() - FIRST_LINE) * 1000
row = {"loss": run.config.x ** 2, "first_line": FIRST_LINE, "init_ms": INIT_MS}
redsweep.log({**row, "logged": time.time()})
"""


@dataclass(frozen=True)
class Measure:
    """One redsweep run: trials done, active-window seconds, and per trial (medians, ms) the
    time from its claim to its script's first line, the script's init(), and from its log()
    (its last line) to its finish in the store."""

    trials: int
    seconds: float
    cpu_ms: float  # CPU per trial of the agents and their children (launchers, scripts)
    before_ms: float
    init_ms: float
    after_ms: float


def _children_cpu() -> float:
    """CPU seconds of this process's waited-for children (and theirs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def floor(n: int, env: dict[str, str]) -> tuple[float, float]:
    """Seconds for ``n`` starts of ``python -c pass``, two at a time, and CPU ms per start."""

    def starts(k: int) -> None:
        for _ in range(k):
            subprocess.run([sys.executable, "-c", "pass"], check=True, env=env)

    cpu = _children_cpu()
    start = time.perf_counter()
    threads = [threading.Thread(target=starts, args=(n // 2 + n % 2 * (i == 0),)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start, (_children_cpu() - cpu) * 1000 / n


def run_redsweep(url: str, trials: int, workdir: Path, env: dict[str, str]) -> Measure:
    """A program sweep of ``trials`` trials served by two agent processes."""
    import redsweep
    from redsweep.shared.store import Store

    (workdir / "trial.py").write_text(TRIAL)
    config = {
        "method": "random",
        "program": "trial.py",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "run_cap": trials,
    }
    with contextlib.redirect_stderr(io.StringIO()):  # its "Created sweep" lines
        sweep_id = redsweep.sweep(config, redis=url)
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**env, "REDSWEEP_REDIS_URL": url, "PYTHONPATH": path}
    procs = []
    cpu = _children_cpu()
    for i in range(AGENTS):
        with open(workdir / f"agent-{i}.log", "ab") as log:
            argv = [sys.executable, "-m", "redsweep", "agent", sweep_id]
            procs.append(
                subprocess.Popen(
                    argv, cwd=workdir, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
                )
            )
    wait_all(procs, workdir, TIMEOUT_S)
    cpu_ms = (_children_cpu() - cpu) * 1000
    with Store.from_url(url) as store:
        done = [t for t in store.reads.trials(sweep_id) if t.finished_ms and t.claimed_ms]
        before, init, after = [], [], []
        for trial in done:
            rows = store.reads.history(sweep_id, trial.id)
            if rows and trial.claimed_ms and trial.finished_ms:
                before.append((rows[0]["first_line"] - trial.claimed_ms / 1000) * 1000)
                init.append(rows[0]["init_ms"])
                after.append(trial.finished_ms - rows[0]["logged"] * 1000)
    first = min(t.claimed_ms for t in done)  # type: ignore[type-var]
    last = max(t.finished_ms for t in done)  # type: ignore[type-var]
    return Measure(
        len(done),
        (last - first) / 1000,
        cpu_ms / max(1, len(done)),
        statistics.median(before) if before else float("nan"),
        statistics.median(init) if init else float("nan"),
        statistics.median(after) if after else float("nan"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60, help="trials (and starts) per run")
    parser.add_argument("--repeats", type=int, default=5, help="paired runs")
    parser.add_argument(
        "--no-pyc", action="store_true", help="no bytecode cache: every process compiles"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.trials < AGENTS or args.repeats < 1:
        parser.error(f"--trials must be at least {AGENTS} and --repeats at least 1")
    print(
        f"{args.trials} trials per run, {args.repeats} repeats, {AGENTS} agents, "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
        f"{', no bytecode cache' if args.no_pyc else ''}",
        file=sys.stderr,
    )
    floors: list[float] = []
    floor_cpu: list[float] = []
    runs: list[Measure] = []
    with tempfile.TemporaryDirectory(prefix="rs-command-") as tmp:
        server, url = start_private_redis(Path(tmp))
        try:
            env = dict(os.environ)
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
            if args.no_pyc:
                env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
                env.pop("PYTHONPYCACHEPREFIX", None)
            for rep in range(args.repeats):
                workdir = Path(tmp) / f"run-{rep}"
                workdir.mkdir()
                for which in ("floor", "redsweep") if rep % 2 == 0 else ("redsweep", "floor"):
                    if which == "floor":
                        seconds, cpu_ms = floor(args.trials, env)
                        floors.append(args.trials / seconds)
                        floor_cpu.append(cpu_ms)
                    else:
                        runs.append(run_redsweep(url, args.trials, workdir, env))
                m = runs[-1]
                print(
                    f"repeat {rep + 1}/{args.repeats}: redsweep {m.trials} trials in "
                    f"{m.seconds:.2f} s = {m.trials / m.seconds:.1f}/s; floor {floors[-1]:.1f}/s; "
                    f"ratio {m.trials / m.seconds / floors[-1]:.3f}x",
                    file=sys.stderr,
                    flush=True,
                )
        finally:
            server.stop()
    rates = [m.trials / m.seconds for m in runs]
    paired = statistics.median(r / f for r, f in zip(rates, floors, strict=True))
    print(f"{'':<26} {'per s':>8} {'vs floor':>9} {'paired':>7}")
    print(f"{'python -c pass, 2 at once':<26} {statistics.median(floors):>8.1f}")
    print(
        f"{'redsweep command trials':<26} {statistics.median(rates):>8.1f}"
        f" {statistics.median(rates) / statistics.median(floors):>8.3f}x {paired:>6.3f}x"
    )
    print(
        f"per trial (median ms): claim -> script's first line "
        f"{statistics.median(m.before_ms for m in runs):.0f}, "
        f"import redsweep + init() {statistics.median(m.init_ms for m in runs):.0f}, "
        f"log() -> finished {statistics.median(m.after_ms for m in runs):.0f}; "
        f"python -c pass {2000 / statistics.median(floors):.0f} (2 at once)"
    )
    print(
        f"CPU per trial (median ms, agents with their launchers and scripts, controller "
        f"thread included): {statistics.median(m.cpu_ms for m in runs):.0f}; "
        f"per python -c pass: {statistics.median(floor_cpu):.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
