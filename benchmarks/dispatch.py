"""Dispatch throughput of redsweep beside Optuna, with a trivial objective, on one Redis.

Both systems run the same random search over ``x`` in [0, 1] minimising ``x ** 2`` with two
(``--agents``) worker processes against the same private redis-server (TCP on 127.0.0.1, with
a password), started for the benchmark and stopped at the end; nothing touches a Redis on port
6379.

- redsweep: ``redsweep.sweep(...)`` with ``run_cap: N``, then two agent processes, each
  ``redsweep.agent(sweep_id, function=f)``. By default the controller runs as the background
  thread of one agent, as in the quickstart (two processes, like Optuna's two); with
  ``--controller process`` a dedicated ``redsweep controller`` process runs it (a third
  process); ``both`` measures the two setups.
- Optuna: ``JournalStorage(JournalRedisBackend(url))``, ``RandomSampler``, two processes each
  ``study.optimize(objective, n_trials=N // 2)``.

Two figures per system. **Active window**: trials over the time from the first trial's start
to the last trial's end, as each system records them (redsweep: server times ``claimed_ms``
and ``finished_ms`` of its trials; Optuna: ``datetime_start`` and ``datetime_complete``);
process start-up (imports, connecting) and shut-down are outside it. **End to end** (what the
user waits for): the wall time from spawning the workers until they all exited, split into
its three parts: from the spawn to the first trial's start, the window, and from the last
trial's end until every worker exited (the same host's clock: the Redis server is local). Systems
alternate order between repeats; the table shows medians, and the median of per-repeat ratios
against Optuna's run of the same repeat. ``--trials`` and ``--agents`` take several values:
every combination is measured. Run by hand (the ``bench`` extra installs ``optuna``)::

    pip install '.[bench]'
    python benchmarks/dispatch.py            # --trials 400 --agents 2 --repeats 5
    python benchmarks/dispatch.py --trials 1000 5000 --agents 2 8 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

# The worker processes run this file too: its top imports only the standard library, and the
# harness's own imports (redis-py for its client, _procs) wait for the functions that need
# them, so that a worker imports what a user's script would (before, every worker imported
# redis-py itself first, and with it OpenTelemetry, which redsweep's own import of it skips).
URL_ENV = "DISPATCH_BENCH_URL"  # the worker processes' Redis URL (kept out of argv)
REPO = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT_S = 600.0

SWEEP = {
    "method": "random",
    "metric": {"name": "y", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


@dataclass(frozen=True)
class Measure:
    """One run of one system: trials done, active-window seconds, wall seconds."""

    trials: int
    seconds: float
    wall: float
    to_first: float  # from the spawn to the first trial's start
    after_last: float  # from the last trial's end until every worker exited


# ---- the worker processes --------------------------------------------------------------------


def redsweep_worker(sweep_id: str) -> None:
    """One redsweep agent process: run trials until the sweep is over."""
    import redsweep

    def objective() -> None:
        redsweep.init()
        redsweep.log({"y": redsweep.config.x**2})

    result = redsweep.agent(sweep_id, function=objective, redis=os.environ[URL_ENV])
    print(f"agent ran {result.ran} trials: {result.why}", file=sys.stderr)


def optuna_worker(study_name: str, n_trials: int) -> None:
    """One Optuna process: ``n_trials`` trials of the shared study."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalRedisBackend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    storage = JournalStorage(JournalRedisBackend(os.environ[URL_ENV]))
    study = optuna.load_study(
        study_name=study_name, storage=storage, sampler=optuna.samplers.RandomSampler()
    )
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) ** 2, n_trials=n_trials)


# ---- one measured run per system -------------------------------------------------------------


def _spawn(args: list[str], url: str, workdir: Path, log_name: str) -> subprocess.Popen[bytes]:
    from _procs import spawn

    return spawn(args, {URL_ENV: url, "REDSWEEP_REDIS_URL": url}, workdir, log_name)


def _wait_all(procs: list[subprocess.Popen[bytes]], workdir: Path) -> None:
    from _procs import wait_all

    wait_all(procs, workdir, WORKER_TIMEOUT_S)


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_worker", *args]


def run_redsweep(url: str, trials: int, workdir: Path, controller: str, workers: int) -> Measure:
    """Create a sweep with ``run_cap`` trials and serve it with ``workers`` agents (and maybe
    a dedicated controller process)."""
    import redsweep
    from redsweep.shared.store import Store

    with contextlib.redirect_stderr(io.StringIO()):  # its "Created sweep" lines
        sweep_id = redsweep.sweep({**SWEEP, "run_cap": trials}, redis=url)
    procs = []
    start, spawned = time.perf_counter(), time.time()
    if controller == "process":
        argv = [sys.executable, "-m", "redsweep", "controller", sweep_id]
        procs.append(_spawn(argv, url, workdir, f"controller-{sweep_id}.log"))
    procs += [
        _spawn(_worker_argv("redsweep", sweep_id), url, workdir, f"agent-{sweep_id}-{i}.log")
        for i in range(workers)
    ]
    _wait_all(procs, workdir)
    wall, exited = time.perf_counter() - start, time.time()
    with Store.from_url(url) as store:
        done = [t for t in store.reads.trials(sweep_id) if t.finished_ms and t.claimed_ms]
    first = min(t.claimed_ms for t in done) / 1000  # type: ignore[type-var]
    last = max(t.finished_ms for t in done) / 1000  # type: ignore[type-var]
    return Measure(len(done), last - first, wall, first - spawned, exited - last)


def run_optuna(url: str, trials: int, workdir: Path, workers: int) -> Measure:
    """Create a study on the Redis journal and run it with ``workers`` processes."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalRedisBackend

    name = f"dispatch-{uuid.uuid4().hex[:8]}"
    storage = JournalStorage(JournalRedisBackend(url))
    optuna.create_study(storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler())
    share = trials // workers
    start, spawned = time.perf_counter(), time.time()
    procs = [
        _spawn(_worker_argv("optuna", name, str(share)), url, workdir, f"optuna-{name}-{i}.log")
        for i in range(workers)
    ]
    _wait_all(procs, workdir)
    wall, exited = time.perf_counter() - start, time.time()
    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalRedisBackend(url)))
    done = [t for t in study.get_trials(deepcopy=False) if t.datetime_start and t.datetime_complete]
    first = min(t.datetime_start for t in done).timestamp()  # type: ignore[union-attr]
    last = max(t.datetime_complete for t in done).timestamp()  # type: ignore[union-attr]
    return Measure(len(done), last - first, wall, first - spawned, exited - last)


# ---- the benchmark ---------------------------------------------------------------------------


def benchmark(
    trials: int, repeats: int, controllers: list[str], workers: int = 2
) -> dict[str, list[Measure]]:
    """Run every system ``repeats`` times with ``workers`` worker processes, alternating the
    order; measures by system name."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    systems = ["optuna", *(f"redsweep ({c})" for c in controllers)]
    results: dict[str, list[Measure]] = {s: [] for s in systems}
    import redis
    from _procs import start_private_redis, warm_bytecode

    with tempfile.TemporaryDirectory(prefix="rs-dispatch-") as tmp:
        warm_bytecode()
        server, url = start_private_redis(Path(tmp))
        try:
            client = redis.Redis.from_url(url)
            for rep in range(repeats):
                order = systems if rep % 2 == 0 else systems[::-1]
                for system in order:
                    client.flushdb()
                    workdir = Path(tmp) / f"{rep}-{system.split()[0]}"
                    workdir.mkdir(exist_ok=True)
                    if system == "optuna":
                        m = run_optuna(url, trials, workdir, workers)
                    else:
                        ctl = system[system.index("(") + 1 : -1]
                        m = run_redsweep(url, trials, workdir, ctl, workers)
                    results[system].append(m)
                    if m.trials != trials:
                        print(f"warning: {system} finished {m.trials} trials", file=sys.stderr)
                    print(
                        f"{workers} agents, repeat {rep + 1}/{repeats} {system:<20} {m.trials:>5}"
                        " trials "
                        f"{m.seconds:7.2f} s  {m.trials / m.seconds:8.1f} trials/s  "
                        f"(wall {m.wall:.2f} s: {m.to_first:.2f} s to the first trial, "
                        f"{m.after_last:.2f} s after the last)",
                        file=sys.stderr,
                        flush=True,
                    )
            client.close()
        finally:
            server.stop()
    return results


def table(results: dict[str, list[Measure]], workers: int = 2) -> str:
    """Medians per system. Active window: ``vs optuna`` divides the median rates, ``paired``
    is the median of the per-repeat ratios (each against Optuna's run of the same repeat: less
    drift). End to end: the wall time and its rate, ``paired`` as for the window; then its
    parts outside the window: to the first trial, after the last."""
    optuna_rates = [m.trials / m.seconds for m in results["optuna"]]
    optuna_walls = [m.trials / m.wall for m in results["optuna"]]
    lines = [
        f"{'system':<20} {'agents':>6} {'trials':>6} {'seconds':>8} {'trials/s':>9}"
        f" {'vs optuna':>9} {'paired':>7} {'wall s':>7} {'wall trials/s':>13} {'paired':>7}"
        f" {'to first s':>10} {'after last s':>12}",
    ]
    for system, measures in results.items():
        rates = [m.trials / m.seconds for m in measures]
        walls = [m.trials / m.wall for m in measures]
        ratio = statistics.median(rates) / statistics.median(optuna_rates)
        paired = statistics.median(a / b for a, b in zip(rates, optuna_rates, strict=True))
        wall_paired = statistics.median(a / b for a, b in zip(walls, optuna_walls, strict=True))
        lines.append(
            f"{system:<20} {workers:>6} {statistics.median(m.trials for m in measures):>6g}"
            f" {statistics.median(m.seconds for m in measures):>8.2f}"
            f" {statistics.median(rates):>9.1f} {ratio:>8.2f}x {paired:>6.2f}x"
            f" {statistics.median(m.wall for m in measures):>7.2f}"
            f" {statistics.median(walls):>13.1f} {wall_paired:>6.2f}x"
            f" {statistics.median(m.to_first for m in measures):>10.2f}"
            f" {statistics.median(m.after_last for m in measures):>12.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:  # a worker process spawned by the benchmark
        if argv[1] == "redsweep":
            redsweep_worker(argv[2])
        else:
            optuna_worker(argv[2], int(argv[3]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--trials", type=int, nargs="+", default=[400], help="trials per system and repeat"
    )
    parser.add_argument(
        "--agents", type=int, nargs="+", default=[2], help="worker processes per system"
    )
    parser.add_argument("--repeats", type=int, default=5, help="runs of each system")
    parser.add_argument(
        "--controller",
        choices=["thread", "process", "both"],
        default="thread",
        help="redsweep's controller: an agent's thread (default), a third process, or both",
    )
    args = parser.parse_args(argv)
    if min(args.agents) < 1 or min(args.trials) < max(args.agents) or args.repeats < 1:
        parser.error("--agents and --repeats must be at least 1, --trials at least --agents")
    controllers = ["thread", "process"] if args.controller == "both" else [args.controller]
    tables = []
    for asked in args.trials:
        for workers in args.agents:
            trials = asked - asked % workers  # Optuna's processes share them evenly
            print(
                f"{trials} trials per run, {args.repeats} repeats, {workers} worker processes, "
                f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
            )
            tables.append(table(benchmark(trials, args.repeats, controllers, workers), workers))
            print(tables[-1], flush=True)
    if len(tables) > 1:
        print("\n" + "\n\n".join(tables))
    return 0


if __name__ == "__main__":
    sys.exit(main())
