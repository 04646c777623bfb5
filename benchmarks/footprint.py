"""What a finished trial costs Redis: bytes, commands and CPU, beside Optuna's Redis journal.

N trials (default 1,000) of a random search with a trivial function objective that logs one
row each run on two agent processes against a private redis-server (TCP on 127.0.0.1, with a
password, started for the benchmark and stopped at the end; nothing touches port 6379). For
each run it reads, before and after, ``INFO memory`` ``used_memory``, ``INFO commandstats``
and ``INFO cpu`` (``used_cpu_sys`` + ``used_cpu_user``), and prints per finished trial: Redis
bytes, Redis commands (calls, commands run inside Lua scripts included, and the top ones) and
Redis CPU. Runs with 10 and 100 rows per trial give the bytes per extra row. Optuna's
``JournalStorage(JournalRedisBackend)`` runs the same trials (one ``trial.report`` per row, the
value returned) on the same server, in alternating order; the table shows medians of
``--repeats`` paired runs and redsweep / Optuna ratios. Run by hand::

    pip install '.[bench]'
    python benchmarks/footprint.py           # --trials 1000 --repeats 3 --row-trials 300

To measure another checkout (``main``, say) with this script: copy it into that checkout's
``benchmarks/`` and run it there with ``PYTHONPATH=<checkout>``.
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
import uuid
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from _procs import spawn, start_private_redis, wait_all, warm_bytecode

URL_ENV = "FOOTPRINT_BENCH_URL"  # the worker processes' Redis URL (kept out of argv)
WORKERS = 2
REPO = Path(__file__).resolve().parents[1]
WORKER_TIMEOUT_S = 900.0

SWEEP = {
    "method": "random",
    "metric": {"name": "y", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


@dataclass
class Measure:
    """One run: trials finished, and the server's deltas over the run."""

    trials: int
    bytes: int
    calls: int
    cpu_s: float
    top: Counter[str] = field(default_factory=Counter)

    def per_trial(self) -> tuple[float, float, float]:
        """Bytes, commands and CPU microseconds per finished trial."""
        n = max(1, self.trials)
        return self.bytes / n, self.calls / n, self.cpu_s * 1e6 / n


# ---- the worker processes --------------------------------------------------------------------


def redsweep_worker(sweep_id: str, rows: int) -> None:
    """One redsweep agent process: run trials until the sweep is over."""
    import redsweep

    def objective() -> None:
        redsweep.init()
        x = redsweep.config.x
        for i in range(rows):
            redsweep.log({"y": x**2 + i})

    redsweep.agent(sweep_id, function=objective, redis=os.environ[URL_ENV])


def optuna_worker(study_name: str, n_trials: int, rows: int) -> None:
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

    def objective(trial: Any) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for i in range(rows):
            trial.report(x**2 + i, i)
        return float(x**2)

    study.optimize(objective, n_trials=n_trials)


# ---- the server's counters -------------------------------------------------------------------


def snapshot(client: redis.Redis) -> tuple[int, Counter[str], float]:
    """used_memory, calls per command and CPU seconds of the server now."""
    mem = int(client.info("memory")["used_memory"])
    stats = client.info("commandstats")
    calls = Counter({name[len("cmdstat_") :]: int(v["calls"]) for name, v in stats.items()})
    cpu = client.info("cpu")
    return mem, calls, float(cpu["used_cpu_sys"]) + float(cpu["used_cpu_user"])


def _spawn(args: list[str], url: str, workdir: Path, log_name: str) -> subprocess.Popen[bytes]:
    return spawn(args, {URL_ENV: url, "REDSWEEP_REDIS_URL": url}, workdir, log_name)


def _worker_argv(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "_worker", *args]


def _measure(client: redis.Redis, before: tuple[int, Counter[str], float], trials: int) -> Measure:
    mem, calls, cpu = snapshot(client)
    delta = calls - before[1]
    delta.pop("info", None)  # the snapshots' own
    return Measure(trials, mem - before[0], sum(delta.values()), cpu - before[2], delta)


def run_redsweep(client: redis.Redis, url: str, trials: int, rows: int, workdir: Path) -> Measure:
    """A sweep of ``trials`` trials served by two agents (the controller an agent's thread)."""
    import redsweep
    from redsweep.shared.store import Store

    before = snapshot(client)
    with contextlib.redirect_stderr(io.StringIO()):  # its "Created sweep" lines
        sweep_id = redsweep.sweep({**SWEEP, "run_cap": trials}, redis=url)
    procs = [
        _spawn(_worker_argv("redsweep", sweep_id, str(rows)), url, workdir, f"agent-{i}.log")
        for i in range(WORKERS)
    ]
    wait_all(procs, workdir, WORKER_TIMEOUT_S)
    measure = _measure(client, before, 0)
    with Store.from_url(url) as store:
        measure.trials = sum(1 for t in store.reads.trials(sweep_id) if t.finished_ms)
        runs = store.reads.runs(sweep_id, history=True, summary=False)
    short = [t.id for t, run in runs if len(run.history) != rows]
    if short:
        raise RuntimeError(f"{len(short)} trials do not read back {rows} rows: {short[:3]}")
    return measure


def run_optuna(client: redis.Redis, url: str, trials: int, rows: int, workdir: Path) -> Measure:
    """An Optuna study of ``trials`` trials run by two processes on the Redis journal."""
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalRedisBackend

    name = f"footprint-{uuid.uuid4().hex[:8]}"
    before = snapshot(client)
    storage = JournalStorage(JournalRedisBackend(url))
    optuna.create_study(storage=storage, study_name=name, sampler=optuna.samplers.RandomSampler())
    share = trials // WORKERS
    procs = [
        _spawn(_worker_argv("optuna", name, str(share), str(rows)), url, workdir, f"o-{i}.log")
        for i in range(WORKERS)
    ]
    wait_all(procs, workdir, WORKER_TIMEOUT_S)
    measure = _measure(client, before, 0)
    study = optuna.load_study(study_name=name, storage=JournalStorage(JournalRedisBackend(url)))
    measure.trials = sum(1 for t in study.get_trials(deepcopy=False) if t.datetime_complete)
    return measure


# ---- the benchmark ---------------------------------------------------------------------------


def benchmark(
    trials: int, repeats: int, row_trials: int, row_counts: list[int]
) -> dict[tuple[str, int], list[Measure]]:
    """Every (system, rows) run ``repeats`` times, alternating the systems' order; each run
    on a flushed server."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
    plan = [(s, 1, trials) for s in ("redsweep", "optuna")]
    plan += [(s, r, row_trials) for r in row_counts for s in ("redsweep", "optuna")]
    results: dict[tuple[str, int], list[Measure]] = {(s, r): [] for s, r, _ in plan}
    with tempfile.TemporaryDirectory(prefix="rs-footprint-") as tmp:
        warm_bytecode()
        server, url = start_private_redis(Path(tmp))
        try:
            client = redis.Redis.from_url(url)
            for system in ("redsweep", "optuna"):  # warm-up: scripts loaded, caches grown
                client.flushdb()
                run = run_redsweep if system == "redsweep" else run_optuna
                run(client, url, 20, 1, _workdir(tmp, "warm", system))
            for rep in range(repeats):
                order = plan if rep % 2 == 0 else plan[::-1]
                for system, rows, n in order:
                    client.flushdb()
                    workdir = _workdir(tmp, str(rep), f"{system}-{rows}")
                    run = run_redsweep if system == "redsweep" else run_optuna
                    m = run(client, url, n, rows, workdir)
                    results[(system, rows)].append(m)
                    b, c, u = m.per_trial()
                    print(
                        f"repeat {rep + 1}/{repeats} {system:<9} {rows:>3} rows {m.trials:>5} "
                        f"trials: {b:8.0f} B {c:6.1f} commands {u:7.1f} us CPU per trial",
                        file=sys.stderr,
                        flush=True,
                    )
            client.close()
        finally:
            server.stop()
    return results


def _workdir(tmp: str, *parts: str) -> Path:
    path = Path(tmp).joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _median(measures: list[Measure], i: int) -> float:
    return statistics.median(m.per_trial()[i] for m in measures)


def _paired(a: list[Measure], b: list[Measure], i: int) -> float:
    return statistics.median(
        x.per_trial()[i] / max(1e-9, y.per_trial()[i]) for x, y in zip(a, b, strict=True)
    )


def table(results: dict[tuple[str, int], list[Measure]], row_counts: list[int]) -> str:
    """Medians per finished trial; ``x optuna`` is the median of the paired ratios."""
    lines = [
        f"{'system':<9} {'rows':>4} {'bytes/trial':>11} {'x optuna':>8} {'cmds/trial':>10}"
        f" {'x optuna':>8} {'CPU us/trial':>12} {'x optuna':>8}"
    ]
    for (system, rows), measures in results.items():
        ref = results[("optuna", rows)]
        b, c, u = (_median(measures, i) for i in range(3))
        rb, rc, ru = (_paired(measures, ref, i) for i in range(3))
        lines.append(
            f"{system:<9} {rows:>4} {b:>11.0f} {rb:>7.2f}x {c:>10.1f} {rc:>7.2f}x"
            f" {u:>12.1f} {ru:>7.2f}x"
        )
    lines.append("")
    for system in ("redsweep", "optuna"):
        one = _median(results[(system, 1)], 0)
        for rows in row_counts:
            extra = (_median(results[(system, rows)], 0) - one) / (rows - 1)
            lines.append(f"{system:<9} bytes per extra row ({rows} rows): {extra:.0f}")
    lines.append("")
    for system in ("redsweep", "optuna"):
        top = Counter[str]()
        for m in results[(system, 1)]:
            for name, n in m.top.items():
                top[name] += n
        n_trials = sum(m.trials for m in results[(system, 1)])
        tops = ", ".join(f"{name} {n / n_trials:.1f}" for name, n in top.most_common(8))
        lines.append(f"{system:<9} top commands per trial (1 row): {tops}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:  # a worker process spawned by the benchmark
        if argv[1] == "redsweep":
            redsweep_worker(argv[2], int(argv[3]))
        else:
            optuna_worker(argv[2], int(argv[3]), int(argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000, help="trials of the 1-row runs")
    parser.add_argument("--row-trials", type=int, default=300, help="trials of the row runs")
    parser.add_argument("--rows", default="10,100", help="rows per trial of the row runs")
    parser.add_argument("--repeats", type=int, default=3, help="paired runs of each")
    args = parser.parse_args(argv)
    try:
        row_counts = [int(r) for r in args.rows.split(",") if r]
    except ValueError:
        parser.error("--rows takes comma-separated counts, like 10,100")
    if args.trials < WORKERS or args.row_trials < WORKERS or args.repeats < 1:
        parser.error(f"--trials and --row-trials must be at least {WORKERS}, --repeats 1")
    if any(r < 2 for r in row_counts):
        parser.error("--rows counts must be at least 2")
    trials = args.trials - args.trials % WORKERS  # Optuna's processes share them evenly
    row_trials = args.row_trials - args.row_trials % WORKERS
    print(
        f"{trials} trials (row runs: {row_trials}), {args.repeats} repeats, {WORKERS} worker "
        f"processes, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    print(table(benchmark(trials, args.repeats, row_trials, row_counts), row_counts))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
