"""The randomized schedule checker: a grid sweep run by real agents and a dedicated controller
on a real redis-server (append-only), while a seeded random schedule kills agents, trials and
the controller (SIGKILL), stops agents longer than their lease (SIGSTOP, then SIGCONT) and
restarts Redis on its AOF. After each round it checks the invariants (:mod:`invariants`):

- every grid point finished exactly once in the store;
- no trial (attempt) with two terminal records;
- no side effect twice, unless a trial was killed (or its agent killed or stopped) after its
  side effect and before its finish reached Redis (at-least-once execution);
- no process left of those the round started, nor of their descendants;
- no agent or controller exited on its own before its sweep was over (a fault is waited out).

Every round gets all its faults, however fast or slow the machine: trials of even grid points
wait, before their work, while the checker still has faults to inject (the odd ones run through,
so faults hit trials before, during and after their work).

By hand: ``python -m tests.faults.schedule --rounds 20 --seed 12``; ``--help`` for the rest.
It prints each round's faults and figures, then PASS or FAIL, and exits 0 only on PASS.
"""

from __future__ import annotations

import argparse
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

try:  # run as ``python -m tests.faults.schedule`` or imported by pytest (pythonpath tests/)
    from .fleet import Fleet, alive, running_trials
    from .invariants import (
        TRIAL,
        EventWatch,
        Fault,
        Figures,
        check_side_effects,
        check_store,
        trial_pids,
    )
except ImportError:  # pragma: no cover
    from fleet import Fleet, alive, running_trials  # type: ignore[no-redef]
    from invariants import (  # type: ignore[no-redef]
        TRIAL,
        EventWatch,
        Fault,
        Figures,
        check_side_effects,
        check_store,
        trial_pids,
    )

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.server.local import LocalServer, free_port
from redsweep.shared.store import Store

PASSWORD = "faults-pw"
MARKER_VAR = "REDSWEEP_FAULTS_RUN"

KINDS = ("kill-agent", "kill-trial", "kill-controller", "stop-agent", "restart-redis")


@dataclass
class Options:
    rounds: int = 2
    seed: int = 1
    points: int = 12
    agents: int = 3
    faults: int = 4
    lease_ms: int = 2000
    work_s: float = 1.0
    retries: int = 2
    round_timeout: float = 180.0
    workdir: Path | None = None
    out: TextIO = sys.stdout


@dataclass
class Round:
    number: int
    sweep_id: str = ""
    faults: list[Fault] = field(default_factory=list)
    figures: Figures = field(default_factory=Figures)


class Run:
    """One checker run: its Redis, its directory, the processes it started."""

    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.lease_s = opts.lease_ms / 1000
        self.root = Path(opts.workdir or tempfile.mkdtemp(prefix="redsweep-faults-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.marker = f"{MARKER_VAR}={uuid.uuid4().hex}"
        self.server = LocalServer()
        self.port = free_port()
        self.url = ""
        self.store: Store | None = None
        self.fleet = Fleet(self.url, self.marker, self.root, {}, opts.lease_ms)  # per round

    # ---- Redis -------------------------------------------------------------------------------

    def start_redis(self) -> None:
        self._start_server()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"
        self.store = Store.from_url(self.url)

    def _start_server(self) -> None:
        self.server.start(
            self.root / "redis",
            unixsocket=False,
            port=self.port,
            password=PASSWORD,
            appendonly=True,
        )

    def restart_redis(self, down_s: float) -> None:
        """Shut Redis down (its AOF is flushed), wait ``down_s``, start it on the same AOF."""
        self.server.stop()
        time.sleep(down_s)
        self._start_server()

    # ---- one round ---------------------------------------------------------------------------

    def round(self, number: int, rng: random.Random) -> Round:
        result = Round(number)
        self.round_dir = self.root / f"round-{number:02d}"
        self.side = self.round_dir / "side"
        self.side.mkdir(parents=True)
        (self.round_dir / "trial.py").write_text(TRIAL)
        hold = self.side / "hold"
        hold.touch()  # even points wait while faults are left to inject
        points = list(range(1, self.opts.points + 1))
        config = {
            "program": "trial.py",
            "method": "grid",
            "metric": {"name": "score", "goal": "maximize"},
            "parameters": {"a": {"values": points}},
            "redsweep": {"retries": self.opts.retries},
        }
        (self.round_dir / "sweep.yaml").write_text(yaml.safe_dump(config))
        made = subprocess.run(
            [sys.executable, "-m", "redsweep", "--redis", self.url, "sweep", "sweep.yaml"],
            cwd=self.round_dir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if made.returncode != 0:
            raise RuntimeError(f"cannot create the sweep: {made.stderr}")
        sweep_id = result.sweep_id = made.stdout.strip().splitlines()[-1]
        events = EventWatch(self.url, sweep_id)
        events.start()
        fleet = self.fleet = Fleet(
            self.url,
            self.marker,
            self.round_dir,
            {"FAULTS_SIDE": str(self.side), "FAULTS_WORK_S": str(self.opts.work_s)},
            self.opts.lease_ms,
        )
        fleet.start_controller(sweep_id)
        for _ in range(self.opts.agents):
            fleet.start_agent(sweep_id)

        self.used = dict.fromkeys(KINDS, 0)
        crashes: dict[int, int] = {}  # point -> faults that may have crashed one of its trials
        attempts = 0
        while len(result.faults) < self.opts.faults and attempts < 3 * self.opts.faults:
            attempts += 1  # an attempt finds no target when every kind waits (rare)
            time.sleep(rng.uniform(0.3, 1.5 * self.lease_s))
            if self._over(sweep_id):
                break
            fault = self.inject(rng, sweep_id, crashes)
            if fault is not None:
                self.used[fault.kind] += 1
                result.faults.append(fault)
                print(f"  round {number}: {fault.describe()}", file=self.opts.out, flush=True)
        hold.unlink()
        self.wait_over(sweep_id, result)
        self.retry_killed(sweep_id, points, result)
        self.check(sweep_id, points, events, result)
        return result

    def retry_killed(self, sweep_id: str, points: list[int], result: Round) -> None:
        """A trial killed by a signal fails (the objective's exit says so) and is not retried
        by itself: when such kills alone left points without a result, run them again as a
        user would (``redsweep retry --failed``, then a controller and agents)."""
        fleet = self.fleet
        assert self.store is not None
        trials = self.store.reads.trials(sweep_id)
        done = {t.params["a"] for t in trials if t.state is RunState.FINISHED}
        missing = [p for p in points if p not in done]
        pids = trial_pids(self.side)
        killed = {pids.get(f.trial_pid or -1) for f in result.faults if f.kind == "kill-trial"}
        explained = {t.params["a"] for t in trials if t.state is RunState.FAILED and t.id in killed}
        if not missing or not set(missing) <= explained or result.figures.problems:
            return  # nothing to do, or not (only) the kills: check() says what is wrong
        retried = subprocess.run(
            [sys.executable, "-m", "redsweep", "--redis", self.url, "retry", sweep_id, "--failed"],
            cwd=self.round_dir,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if retried.returncode != 0:
            result.figures.problems.append(f"redsweep retry --failed: {retried.stderr.strip()}")
            return
        result.figures.retried = len(missing)
        fleet.start_controller(sweep_id)
        for _ in range(self.opts.agents):
            fleet.start_agent(sweep_id)
        self.wait_over(sweep_id, result)

    def inject(self, rng: random.Random, sweep_id: str, crashes: dict[int, int]) -> Fault | None:
        fleet = self.fleet
        kinds = list(KINDS)
        rng.shuffle(kinds)
        kinds.sort(key=lambda k: self.used[k])  # the least used first: a round mixes them
        for kind in kinds:
            if kind in ("kill-agent", "kill-trial", "stop-agent"):
                # a point's trial may crash as often as it is retried, never once more
                targets = self.targets(crashes)
                if not targets:
                    continue
                point, trial_pid, agent_pid = rng.choice(targets)
                crashes[point] = crashes.get(point, 0) + 1
                now = time.time()
                if kind == "kill-agent":
                    fleet.kill(agent_pid)
                    fleet.expected_exit.add(agent_pid)
                    fleet.start_agent(sweep_id)  # a machine comes back
                    return Fault(kind, now, now, agent_pid=agent_pid, point=point)
                if kind == "kill-trial":
                    fleet.kill(trial_pid)
                    return Fault(kind, now, now, trial_pid=trial_pid, point=point)
                stop_s = rng.uniform(1.2, 2.0) * self.lease_s
                fleet.kill(agent_pid, signal.SIGSTOP)
                time.sleep(stop_s)
                fleet.kill(agent_pid, signal.SIGCONT)
                return Fault(kind, now, time.time(), agent_pid=agent_pid, point=point)
            if kind == "kill-controller":
                ctls = fleet.live("controller")
                if not ctls:
                    continue
                now = time.time()
                fleet.kill(ctls[0])
                fleet.expected_exit.add(ctls[0])
                time.sleep(rng.uniform(0.0, self.lease_s))
                fleet.start_controller(sweep_id)
                return Fault(kind, now, time.time())
            if kind == "restart-redis":
                # an outage past the fence crashes every running trial (self-fencing): it
                # counts against each running point's retries, and waits while one is at its
                # last attempt
                running = {t[0] for t in running_trials(self.side)}
                if any(crashes.get(p, 0) >= self.opts.retries for p in running):
                    continue
                now = time.time()
                self.restart_redis(rng.uniform(0.3, 3.0) * self.lease_s)  # often past a lease
                for point in running | {t[0] for t in running_trials(self.side)}:
                    crashes[point] = crashes.get(point, 0) + 1
                return Fault(kind, now, time.time())
        return None

    def targets(self, crashes: dict[int, int]) -> list[tuple[int, int, int]]:
        """Running trials (point, trial pid, agent pid) whose point may crash once more,
        waiting up to a lease for one (between two trials an agent runs none)."""
        deadline = time.monotonic() + self.lease_s
        limit = self.opts.retries
        while True:
            found = [t for t in running_trials(self.side) if crashes.get(t[0], 0) < limit]
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    def _over(self, sweep_id: str) -> bool:
        assert self.store is not None
        try:
            return self.store.sweeps.get(sweep_id).state is SweepState.FINISHED
        except Exception:  # Redis restarting: not over yet
            return False

    def wait_over(self, sweep_id: str, result: Round) -> None:
        """Until the sweep is finished and every process it started has exited; a process
        that exits non-zero on its own, or outlives the round, is a problem."""
        fleet = self.fleet
        deadline = time.monotonic() + self.opts.round_timeout
        problems = result.figures.problems
        seen_exit: set[int] = set()
        while time.monotonic() < deadline:
            for pid, proc in list(fleet.procs.items()):
                code = proc.poll()
                if code is None or pid in seen_exit or pid in fleet.expected_exit:
                    continue
                seen_exit.add(pid)
                if code != 0:
                    err = fleet.errs[pid].read_text(errors="replace")
                    last = err.strip().splitlines()[-1:] or ["(nothing on stderr)"]
                    problems.append(f"{fleet.roles[pid]} {pid} exited {code}: {last[0]}")
            if self._over(sweep_id) and not fleet.any_live():
                break
            if not fleet.any_live():
                problems.append("every agent and controller exited, the sweep is not over")
                break
            time.sleep(0.1)
        else:
            problems.append(f"the round did not end within {self.opts.round_timeout:g} s")

    def check(self, sweep_id: str, points: list[int], events: EventWatch, result: Round) -> None:
        fleet = self.fleet
        figures = result.figures
        assert self.store is not None
        trials_started = trial_pids(self.side)
        left = fleet.end_all()
        left += [f"trial pid {p}" for p in trials_started if alive(p)]
        figures.processes_left = len(left)
        if left:
            figures.problems.append(f"processes left: {left}")
        check_store(self.store, sweep_id, points, events, figures)
        records = {t.id: t for t in self.store.reads.trials(sweep_id)}
        check_side_effects(self.side, result.faults, records, figures)

    def close(self) -> None:
        fleet = self.fleet
        fleet.end_all()
        if self.store is not None:
            self.store.close()
        self.server.stop()


def run(opts: Options) -> list[Round]:
    """Run ``opts.rounds`` rounds; print each one's faults and figures, then PASS or FAIL."""
    out = opts.out
    run_ = Run(opts)
    rounds = []
    print(
        f"schedule checker: seed {opts.seed}, {opts.rounds} rounds, {opts.points} grid points, "
        f"{opts.agents} agents, up to {opts.faults} faults a round, lease {opts.lease_ms} ms; "
        f"files in {run_.root}",
        file=out,
        flush=True,
    )
    try:
        run_.start_redis()
        for number in range(1, opts.rounds + 1):
            rng = random.Random(f"{opts.seed}-{number}")
            try:
                result = run_.round(number, rng)
            except Exception as exc:  # the checker's own failure: say it, end the run
                print(f"round {number}: the checker failed: {exc!r}", file=out, flush=True)
                break
            rounds.append(result)
            verdict = "ok" if not result.figures.problems else "FAILED"
            print(
                f"round {number} ({result.sweep_id}): {len(result.faults)} faults; "
                f"{result.figures.line()}: {verdict}",
                file=out,
                flush=True,
            )
            for problem in result.figures.problems:
                print(f"  problem: {problem}", file=out, flush=True)
    finally:
        run_.close()
    failed = [r for r in rounds if r.figures.problems]
    kinds = {k: sum(f.kind == k for r in rounds for f in r.faults) for k in KINDS}
    print(
        f"{'FAIL' if failed or len(rounds) < opts.rounds else 'PASS'}: "
        f"{len(rounds) - len(failed)}/{opts.rounds} rounds held every invariant (seed "
        f"{opts.seed}); faults: " + ", ".join(f"{n} {k}" for k, n in kinds.items()),
        file=out,
        flush=True,
    )
    if not failed and opts.workdir is None:
        shutil.rmtree(run_.root, ignore_errors=True)
    return rounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.faults.schedule", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--points", type=int, default=16, help="grid points per round")
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--faults", type=int, default=5, help="faults per round, at most")
    parser.add_argument("--lease-ms", type=int, default=2000)
    parser.add_argument("--work-s", type=float, default=1.0, help="each trial's work (sleep)")
    parser.add_argument("--retries", type=int, default=2, help="the sweep's retries per point")
    parser.add_argument("--workdir", type=Path, help="keep the run's files here")
    args = parser.parse_args(argv)
    opts = Options(
        rounds=args.rounds,
        seed=args.seed,
        points=args.points,
        agents=args.agents,
        faults=args.faults,
        lease_ms=args.lease_ms,
        work_s=args.work_s,
        retries=args.retries,
        workdir=args.workdir,
    )
    rounds = run(opts)
    ok = len(rounds) == opts.rounds and not any(r.figures.problems for r in rounds)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
