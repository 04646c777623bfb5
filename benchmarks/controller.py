"""The controller's cost per trial and idle agents' cost, with many agents, against ``main``.

On a private redis-server (TCP on 127.0.0.1 with a password, started for the benchmark and
stopped at the end; never port 6379) each run creates a random-search sweep with a run_cap too
large to reach, starts a dedicated ``redsweep controller`` process and N agent processes
(``redsweep.agent(sweep, function=f)``, a trivial objective), and measures:

- steady state (after a warm-up, over ``--window`` seconds): the controller process's CPU per
  trial (``/proc/PID/stat``), Redis's CPU per trial (``INFO cpu``), trials per second;
- the gap between one trial's end and the same agent's next start (p50, p99), from the
  trials' server times in Redis, for trials of the window;
- idle agents: the controller is stopped (SIGSTOP, its lease still held), the queue drains,
  and after 2.5 s the agents' CPU is summed over ``--idle`` seconds, per agent and second
  (``/proc`` counts CPU in 10 ms ticks: a few agents for a few seconds is coarse).

Each run is made for this checkout and for a reference checkout (``--reference``, by default
``main``, checked out in a temporary git worktree), alternating the order; the table shows
medians of ``--repeats`` and the ratio reference / this checkout. The machine may have few
cores: with 64 agent processes on 2 cores everything is CPU-bound and trials/s and the gaps
say more about the scheduler than about redsweep; the controller's CPU per trial still holds.

    python benchmarks/controller.py          # --agents 16,32,64 --repeats 3
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from _procs import start_private_redis

URL_ENV = "CONTROLLER_BENCH_URL"
REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")
START_TIMEOUT_S = 180.0
IDLE_SETTLE_S = 2.5  # then --idle seconds: within the stopped controller's lease (10 s)

SWEEP = {
    "method": "random",
    "metric": {"name": "y", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "run_cap": 10_000_000,
}


@dataclass(frozen=True)
class Measure:
    """One run: controller and Redis CPU ms per trial, trials/s, idle agent CPU ms per s,
    end-to-next-start gap p50 and p99 in ms."""

    ctl_ms: float
    redis_ms: float
    rate: float
    idle_ms: float
    gap50: float
    gap99: float


# ---- the processes -----------------------------------------------------------------------


def agent_main(sweep_id: str) -> None:
    """One agent process (of whichever checkout is first on PYTHONPATH)."""
    import redsweep

    def objective() -> None:
        redsweep.init()
        redsweep.log({"y": redsweep.config.x**2})

    redsweep.agent(sweep_id, function=objective, redis=os.environ[URL_ENV])


def create_main() -> None:
    import json

    import redsweep

    print(redsweep.sweep(json.loads(sys.argv[2]), redis=os.environ[URL_ENV]))


def _env(tree: Path, url: str) -> dict[str, str]:
    return {**os.environ, URL_ENV: url, "REDSWEEP_REDIS_URL": url, "PYTHONPATH": str(tree)}


def _spawn(args: list[str], tree: Path, url: str, workdir: Path) -> subprocess.Popen[bytes]:
    log = open(workdir / "processes.log", "ab")  # noqa: SIM115 - the child keeps it
    with log:
        return subprocess.Popen(
            args,
            cwd=workdir,
            env=_env(tree, url),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def _redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _wait(what: str, ready: object, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.1)


# ---- one run -----------------------------------------------------------------------------


def run_once(
    tree: Path, url: str, agents: int, workdir: Path, window: float, idle: float
) -> Measure:
    """One sweep served by a controller process and ``agents`` agent processes of ``tree``."""
    import json

    from redsweep.shared.store import Store

    client = redis.Redis.from_url(url)
    client.flushdb()
    me = str(Path(__file__).resolve())
    made = subprocess.run(
        [sys.executable, me, "_create", json.dumps(SWEEP)],
        env=_env(tree, url),
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    sweep_id = made.stdout.split()[-1]
    profile = os.environ.get("CONTROLLER_BENCH_PROFILE")  # a file: cProfile the controller
    ctl_argv = [sys.executable, "-m", "redsweep", "controller", sweep_id]
    if profile:
        ctl_argv = [sys.executable, me, "_profile", profile, sweep_id]
    ctl = _spawn(ctl_argv, tree, url, workdir)
    procs = [_spawn([sys.executable, me, "_agent", sweep_id], tree, url, workdir)]
    procs += [
        _spawn([sys.executable, me, "_agent", sweep_id], tree, url, workdir)
        for _ in range(agents - 1)
    ]
    store = Store.from_url(url)
    try:
        _wait("the agents", lambda: len(store.agents.live(sweep_id)) >= agents)
        time.sleep(window / 2)  # warm-up: every agent has run trials
        done0 = store.sweeps.get(sweep_id).count("finished")
        t0, c0, r0 = time.monotonic(), _cpu_s(ctl.pid), _redis_cpu_s(client)
        ms0 = int(client.time()[0]) * 1000
        time.sleep(window)
        done1 = store.sweeps.get(sweep_id).count("finished")
        t1, c1, r1 = time.monotonic(), _cpu_s(ctl.pid), _redis_cpu_s(client)
        ms1 = int(client.time()[0]) * 1000
        trials = max(1, done1 - done0)
        # idle agents: the controller stands still holding its lease; the queue drains
        os.kill(ctl.pid, signal.SIGSTOP)
        _wait(
            "the queue to drain",
            lambda: (
                store.queue.length(sweep_id) == 0
                and store.sweeps.get(sweep_id).count("running", "pending") == 0
            ),
            timeout=5.0,
        )
        time.sleep(IDLE_SETTLE_S)  # the agents' waits on the empty queue settle
        a0, i0 = time.monotonic(), sum(_cpu_s(p.pid) for p in procs)
        time.sleep(idle)
        a1, i1 = time.monotonic(), sum(_cpu_s(p.pid) for p in procs)
        if store.controllers.holder(sweep_id) is None:
            print("warning: the lease lapsed during the idle window", file=sys.stderr)
        gaps = _gaps(store.reads.trials(sweep_id), ms0, ms1)
        if profile:
            os.kill(ctl.pid, signal.SIGCONT)
            os.kill(ctl.pid, signal.SIGINT)
            ctl.wait(30)
    finally:
        for proc in [ctl, *procs]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        store.close()
        client.close()
    gaps.sort()
    return Measure(
        ctl_ms=(c1 - c0) * 1000 / trials,
        redis_ms=(r1 - r0) * 1000 / trials,
        rate=trials / (t1 - t0),
        idle_ms=(i1 - i0) * 1000 / (a1 - a0) / agents,
        gap50=gaps[len(gaps) // 2] if gaps else float("nan"),
        gap99=gaps[min(len(gaps) - 1, int(len(gaps) * 0.99))] if gaps else float("nan"),
    )


def _gaps(trials: list, start_ms: int, end_ms: int) -> list[float]:
    """Per agent, from each trial's end to its next trial's start (both in the window)."""
    by_agent: dict[str, list] = {}
    for t in trials:
        if t.worker and t.claimed_ms and t.finished_ms and start_ms <= t.claimed_ms <= end_ms:
            by_agent.setdefault(t.worker, []).append(t)
    out = []
    for runs in by_agent.values():
        runs.sort(key=lambda t: t.claimed_ms)
        out += [float(b.claimed_ms - a.finished_ms) for a, b in itertools.pairwise(runs)]
    return out


# ---- the benchmark -----------------------------------------------------------------------


def _reference_tree(rev: str, tmp: Path) -> Path:
    tree = tmp / "reference"
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), rev],
        check=True,
        capture_output=True,
    )
    return tree


COLUMNS = [
    ("ctl_ms", "ctl ms/trial", "{:.3f}"),
    ("redis_ms", "redis ms/trial", "{:.3f}"),
    ("rate", "trials/s", "{:.0f}"),
    ("idle_ms", "idle agent ms/s", "{:.2f}"),
    ("gap50", "gap p50 ms", "{:.1f}"),
    ("gap99", "gap p99 ms", "{:.1f}"),
]


def table(results: dict[tuple[str, int], list[Measure]], agent_counts: list[int]) -> str:
    """Medians per checkout and agent count; ``x`` rows: reference / this checkout (for
    trials/s: this / reference), so above 1 is better."""
    head = f"{'agents':>6} {'checkout':<10}" + "".join(f" {c[1]:>15}" for c in COLUMNS)
    lines = [head]
    for n in agent_counts:
        med = {}
        for tree in ("reference", "this"):
            ms = results[(tree, n)]
            med[tree] = {k: statistics.median(getattr(m, k) for m in ms) for k, _, _ in COLUMNS}
            cells = "".join(f" {fmt.format(med[tree][k]):>15}" for k, _, fmt in COLUMNS)
            lines.append(f"{n:>6} {tree:<10}{cells}")
        ratio = []
        for key, _, _ in COLUMNS:
            a, b = med["reference"][key], med["this"][key]
            r = (b / a if key == "rate" else a / b) if a and b else float("nan")
            ratio.append(f" {r:>14.2f}x")
        lines.append(f"{n:>6} {'better by':<10}" + "".join(ratio))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_agent"]:
        agent_main(argv[1])
        return 0
    if argv[:1] == ["_profile"]:  # the controller under cProfile, timed by CPU
        import cProfile

        from redsweep.cli import main as cli

        prof = cProfile.Profile(time.process_time)
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            prof.runcall(cli, ["controller", argv[2]])
        prof.dump_stats(argv[1])
        return 0
    if argv[:1] == ["_create"]:
        create_main()
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="16,32,64", help="agent counts, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--window", type=float, default=6.0, help="steady-state seconds")
    parser.add_argument("--idle", type=float, default=4.0, help="idle-agent seconds")
    parser.add_argument("--reference", default="main", help="git revision to compare with")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.agents.split(",")]
    print(
        f"agents {counts}, {args.repeats} repeats, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}; reference {args.reference}",
        file=sys.stderr,
    )
    results: dict[tuple[str, int], list[Measure]] = {}
    with tempfile.TemporaryDirectory(prefix="rs-ctlbench-") as tmp_name:
        tmp = Path(tmp_name)
        ref = _reference_tree(args.reference, tmp)
        server, url = start_private_redis(tmp)
        try:
            for rep in range(args.repeats):
                for n in counts:
                    trees = [("reference", ref), ("this", REPO)]
                    for name, tree in trees if rep % 2 == 0 else trees[::-1]:
                        workdir = tmp / f"{name}-{n}-{rep}"
                        workdir.mkdir()
                        m = run_once(tree, url, n, workdir, args.window, args.idle)
                        results.setdefault((name, n), []).append(m)
                        print(
                            f"repeat {rep + 1} {n:>3} agents {name:<9} ctl {m.ctl_ms:.3f} ms/t"
                            f"  redis {m.redis_ms:.3f} ms/t  {m.rate:.0f} t/s  idle "
                            f"{m.idle_ms:.2f} ms/s  gap {m.gap50:.0f}/{m.gap99:.0f} ms"
                            f"  load {os.getloadavg()[0]:.1f}",
                            file=sys.stderr,
                            flush=True,
                        )
        finally:
            server.stop()
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(ref)],
                check=False,
                capture_output=True,
            )
    print(table(results, counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
