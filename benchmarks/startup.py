"""Time to first trial: redsweep's quickstart shape beside Optuna in memory, fresh processes.

Each run is a fresh Python process, timed from just before it is spawned to the first call of
its objective (the child writes ``time.monotonic()``, one clock for every process on Linux,
into a file), and to its exit:

- redsweep: ``import redsweep as wandb``; ``wandb.sweep(config)`` (random search, the
  quickstart's config); ``wandb.agent(sweep_id, function=main, count=N)`` whose ``main`` calls
  ``wandb.init()`` and ``wandb.log()``, on the project's embedded server (in a scratch
  directory: a unix socket, no TCP port). **cold**: no server runs when the process starts (it
  starts one, as a first quickstart does; the benchmark stops it after each run); **warm**:
  the server already runs.
- Optuna: ``import optuna``; ``optuna.create_study()`` (in memory);
  ``study.optimize(objective, n_trials=N)``.

Python caches compiled modules as it does for a user (``__pycache__``; an installed package has
them from its install): ``PYTHONDONTWRITEBYTECODE`` is dropped and the cache goes to a scratch
``PYTHONPYCACHEPREFIX``, filled by a first unmeasured run of each system (``--no-pyc``
measures with no cache at all). The systems alternate order within each pair of runs; the
table shows medians, and the median of the per-pair ratios (each redsweep run against the
Optuna run beside it: less drift on a shared machine). Run by hand (the ``bench`` extra
installs ``optuna``)::

    pip install '.[bench]'
    python benchmarks/startup.py                  # --repeats 15 --trials 10
    python benchmarks/startup.py --python /path/to/venv/bin/python   # another environment
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120.0

REDSWEEP = """
import sys, time
import redsweep as wandb

wandb.login()
first = []


def main():
    wandb.init(project="startup-bench")
    if not first:
        first.append(time.monotonic())
        with open(sys.argv[1], "w") as out:
            out.write(repr(first[0]))
    wandb.log({"score": wandb.config.x ** 3 + wandb.config.y})


config = {
    "method": "random",
    "metric": {"goal": "minimize", "name": "score"},
    "parameters": {"x": {"max": 0.1, "min": 0.01}, "y": {"values": [1, 3, 7]}},
}
sweep_id = wandb.sweep(sweep=config, project="startup-bench")
wandb.agent(sweep_id, function=main, count=int(sys.argv[2]))
"""

OPTUNA = """
import sys, time
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
first = []


def objective(trial):
    x = trial.suggest_float("x", 0.01, 0.1)
    y = trial.suggest_categorical("y", [1, 3, 7])
    if not first:
        first.append(time.monotonic())
        with open(sys.argv[1], "w") as out:
            out.write(repr(first[0]))
    return x ** 3 + y


study = optuna.create_study()
study.optimize(objective, n_trials=int(sys.argv[2]))
"""


@dataclass(frozen=True)
class Run:
    """One process: seconds to its first objective call, and to its exit."""

    first: float
    exit: float


PYC = True  # whether the runs cache bytecode (main() sets it)


def child_env(workdir: Path) -> dict[str, str]:
    """This checkout first on the path; bytecode cached in the scratch dir unless --no-pyc."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    env.pop("REDSWEEP_REDIS_URL", None)  # the embedded server of the scratch project
    if PYC:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_once(python: str, code: str, workdir: Path, trials: int) -> Run:
    """Spawn ``python -c code`` in ``workdir``; when its objective first ran, when it exited."""
    mark = workdir / "first.txt"
    mark.unlink(missing_ok=True)
    env = child_env(workdir)
    start = time.monotonic()
    proc = subprocess.run(
        [python, "-c", code, str(mark), str(trials)],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        timeout=TIMEOUT_S,
        check=False,
    )
    end = time.monotonic()
    if proc.returncode != 0 or not mark.exists():
        raise RuntimeError(f"the run failed ({proc.returncode}):\n{proc.stderr.decode()[-2000:]}")
    return Run(float(mark.read_text()) - start, end - start)


def stop_server(python: str, workdir: Path) -> bool:
    """Stop the scratch project's embedded server (its idle watcher then leaves by itself);
    whether one was running."""
    code = (
        "import sys; from redsweep.shared.server import embedded; "
        "sys.exit(0 if embedded.stop(sys.argv[1]) else 3)"
    )
    done = subprocess.run(
        [python, "-c", code, str(workdir / ".redsweep")],
        env=child_env(workdir),
        check=False,
        timeout=TIMEOUT_S,
    )
    if done.returncode not in (0, 3):
        raise RuntimeError(f"stopping the embedded server failed ({done.returncode})")
    return done.returncode == 0


def benchmark(python: str, repeats: int, trials: int, modes: list[str]) -> dict[str, list[Run]]:
    """``repeats`` pairs per mode, alternating which system goes first."""
    results: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="rs-startup-") as tmp:
        workdir = Path(tmp)
        try:
            run_once(python, OPTUNA, workdir, 1)  # fills the bytecode cache: unmeasured
            run_once(python, REDSWEEP, workdir, 1)
            if not stop_server(python, workdir):
                raise RuntimeError("the first run left no embedded server running")
            for mode in modes:
                name = f"redsweep ({mode})"
                results[name], results[f"optuna ({mode})"] = [], []
                if mode == "warm":  # the server runs before the measured runs
                    run_once(python, REDSWEEP, workdir, 1)
                for rep in range(repeats):
                    order = ["redsweep", "optuna"] if rep % 2 == 0 else ["optuna", "redsweep"]
                    for system in order:
                        if system == "optuna":
                            run = run_once(python, OPTUNA, workdir, trials)
                        else:
                            run = run_once(python, REDSWEEP, workdir, trials)
                            if mode == "cold" and not stop_server(python, workdir):
                                raise RuntimeError("the run left no embedded server running")
                        results[f"{system} ({mode})"].append(run)
                        print(
                            f"{mode} {rep + 1}/{repeats} {system:<9} first trial {run.first:6.3f}"
                            f" s  exit {run.exit:6.3f} s",
                            file=sys.stderr,
                            flush=True,
                        )
                if mode == "warm":
                    stop_server(python, workdir)
        finally:
            stop_server(python, workdir)
    return results


def table(results: dict[str, list[Run]]) -> str:
    """Medians; ``paired`` is the median of each run's ratio against the Optuna run beside it
    (the target: redsweep's first trial at most 0.75x Optuna's)."""
    lines = [
        f"{'system':<18} {'first trial s':>13} {'paired':>7} {'exit s':>7} {'paired':>7}",
    ]
    for name, runs in results.items():
        mode = name[name.index("(") :]
        ref = results[f"optuna {mode}"]
        first = statistics.median(a.first / b.first for a, b in zip(runs, ref, strict=True))
        exit_ = statistics.median(a.exit / b.exit for a, b in zip(runs, ref, strict=True))
        lines.append(
            f"{name:<18} {statistics.median(r.first for r in runs):>13.3f} {first:>6.2f}x"
            f" {statistics.median(r.exit for r in runs):>7.3f} {exit_:>6.2f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="pairs of runs per mode")
    parser.add_argument("--trials", type=int, default=10, help="trials per run (count)")
    parser.add_argument(
        "--mode", choices=["cold", "warm", "both"], default="both", help="the embedded server"
    )
    parser.add_argument(
        "--python", default=sys.executable, help="the interpreter to run (another venv)"
    )
    parser.add_argument(
        "--no-pyc", action="store_true", help="no bytecode cache: every import compiles"
    )
    args = parser.parse_args(argv)
    global PYC
    PYC = not args.no_pyc
    if args.repeats < 1 or args.trials < 1:
        parser.error("--repeats and --trials must be at least 1")
    modes = ["cold", "warm"] if args.mode == "both" else [args.mode]
    load = os.getloadavg()[0]
    print(
        f"{args.repeats} pairs per mode, {args.trials} trials per run, {os.cpu_count()} CPUs, "
        f"load {load:.1f}, {args.python}{'' if PYC else ', no bytecode cache'}",
        file=sys.stderr,
    )
    print(table(benchmark(args.python, args.repeats, args.trials, modes)))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
