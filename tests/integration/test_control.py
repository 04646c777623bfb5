"""Controlling sweeps as users do, from the command line: pause, resume, stop, cancel and
update, with a real controller and real agent processes on the suite's private Redis."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from helpers import alive, redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """\
import os, time
import redsweep

redsweep.init()
c = redsweep.config
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0.3")))
redsweep.log({"score": c.a * 10 + c.b})
"""

LONG = """\
import os, signal, subprocess, time
import redsweep

redsweep.init()
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "300"])
with open(f"pids-{redsweep.config.a}.txt", "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
while True:
    time.sleep(0.2)
"""


def spawn(procs: Any, url: str, *args: str, cwd: Path, env: dict | None = None) -> Any:
    return procs.spawn(redsweep_cmd(url, *args), cwd=cwd, env=env)


def create(url: str, tmp_path: Path, config: dict) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli(url, "sweep", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def wait_exit(procs: Any, proc: Any, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{proc.args} did not exit: {procs.output(proc)}") from None


def grid(tmp_path: Path, a: list, b: list, program: str = TRAIN) -> dict:
    (tmp_path / "train.py").write_text(program)
    return {
        "program": "train.py",
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": a}, "b": {"values": b}},
    }


def started(store: Store, sweep_id: str) -> list[Any]:
    return [t for t in store.reads.trials(sweep_id) if t.claimed_ms is not None]


def test_pause_stops_new_trials_within_a_second_and_resume_carries_on(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path, grid(tmp_path, [1, 2, 3], [0, 1, 2, 3]))
    ctl = spawn(procs, redis_url, "controller", sweep_id, cwd=tmp_path)
    agents = [spawn(procs, redis_url, "agent", sweep_id, cwd=tmp_path) for _ in range(2)]
    wait_for(lambda: len(started(store, sweep_id)) >= 3, 60, "three trials start")

    paused = run_cli(redis_url, "pause", sweep_id)
    assert paused.returncode == 0, paused.stderr
    assert f"sweep {sweep_id} paused" in paused.stdout
    pause_ms = store.sweeps.get(sweep_id).updated_ms
    # the window watched: 3 s from the pause, in which nothing may start after its first second
    time.sleep(max(0.0, pause_ms / 1000 + 3.0 - time.time()))
    wait_for(
        lambda: store.sweeps.get(sweep_id).count(RunState.RUNNING) == 0,
        30,
        "what ran when paused to finish",
    )
    assert all(t.claimed_ms <= pause_ms + 1000 for t in started(store, sweep_id))
    during = store.sweeps.get(sweep_id)
    assert during.state is SweepState.PAUSED
    assert during.count(RunState.RUNNING) == 0
    assert during.count(RunState.PENDING) >= 1  # queued trials wait, unclaimed
    assert all(a.poll() is None for a in [ctl, *agents])  # nobody left for good

    again = run_cli(redis_url, "pause", sweep_id)
    assert again.returncode == 1
    assert again.stderr.strip() == f"error: sweep {sweep_id} is paused already"

    resumed = run_cli(redis_url, "resume", sweep_id)
    assert resumed.returncode == 0, resumed.stderr
    assert "running again (it was paused)" in resumed.stdout
    for proc in [*agents, ctl]:
        assert wait_exit(procs, proc, 90) == 0, procs.output(proc)
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.FINISHED, "grid_exhausted")
    points = Counter((t.params["a"], t.params["b"]) for t in store.reads.trials(sweep_id))
    assert points == Counter({(a, b): 1 for a in (1, 2, 3) for b in range(4)})
    assert {t.state for t in store.reads.trials(sweep_id)} == {RunState.FINISHED}


def test_cancel_kills_a_long_command_trial_and_leaves_no_process(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path, grid(tmp_path, [1, 2], [0], program=LONG))
    agent = spawn(procs, redis_url, "agent", sweep_id, cwd=tmp_path)
    pids_file = tmp_path / "pids-1.txt"
    wait_for(lambda: pids_file.exists() and pids_file.read_text(), 30, "the trial starts")
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    (trial,) = [t for t in store.reads.trials(sweep_id) if t.state is RunState.RUNNING]

    canceled = run_cli(redis_url, "sweep", "--cancel", sweep_id)  # the W&B-style flag
    assert canceled.returncode == 0, canceled.stderr
    assert f"sweep {sweep_id} canceled" in canceled.stdout
    assert f"killed 1 running run ({trial.id})" in canceled.stdout
    wait_for(lambda: not any(alive(p) for p in pids), 5, "the command and its child gone")
    assert wait_exit(procs, agent, 20) == 0
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.CANCELED, "canceled")
    assert store.reads.trial(sweep_id, trial.id).state is RunState.KILLED
    assert not (tmp_path / "pids-2.txt").exists()  # the other grid point never started
    assert f"run {trial.id} killed" in procs.output(agent)[1]

    # canceled is not the end: resume runs what is left (the killed run stays killed)
    refused = run_cli(redis_url, "stop", sweep_id)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"error: sweep {sweep_id} is canceled; cannot stop it (resume it first)"
    )
    assert run_cli(redis_url, "resume", sweep_id).returncode == 0
    assert store.sweeps.get(sweep_id).state is SweepState.RUNNING


def test_cancel_kills_a_trial_that_ignores_sigterm_after_the_grace_period(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path, grid(tmp_path, [1], [0], program=LONG))
    script = tmp_path / "agent.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys
            from redsweep.worker.agent.session import AgentSession
            result = AgentSession(os.environ["REDSWEEP_REDIS_URL"], sys.argv[1], grace_s=1.0).run()
            print(result.killed, result.why)
            """
        )
    )
    env = {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url, "IGNORE_TERM": "1"}
    agent = procs.spawn([sys.executable, str(script), sweep_id], env=env, cwd=tmp_path)
    pids_file = tmp_path / "pids-1.txt"
    wait_for(lambda: pids_file.exists() and pids_file.read_text(), 30, "the trial starts")
    pids = [int(p) for p in pids_file.read_text().split()]
    wait_for(
        lambda: [t for t in started(store, sweep_id) if t.state is RunState.RUNNING],
        10,
        "the trial to be running (what cancel kills)",
    )
    began = time.monotonic()
    assert run_cli(redis_url, "cancel", sweep_id).returncode == 0
    wait_for(lambda: not any(alive(p) for p in pids), 8, "the trial's processes killed")
    took = time.monotonic() - began
    assert 1.0 <= took < 6.0  # SIGTERM was ignored: SIGKILL came after the 1 s grace
    assert wait_exit(procs, agent, 20) == 0
    assert procs.output(agent)[0].split()[:3] == ["1", "sweep", "canceled:"]


def test_a_function_trial_of_a_canceled_sweep_ends_killed_at_its_next_log(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = store.sweeps.create(
        {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}, grid_size=2
    )
    script = tmp_path / "agent.py"
    script.write_text(
        textwrap.dedent(
            """
            import os, sys, time
            import redsweep

            def main():
                redsweep.init()
                try:
                    for step in range(100_000):
                        redsweep.log({"step": step})
                        time.sleep(0.05)
                except redsweep.StopTrial:
                    open("stopped-in-log", "w").close()
                    raise

            result = redsweep.agent(sys.argv[1], function=main)
            print(result.ran, result.killed, result.why)
            """
        )
    )
    env = {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url}
    agent = procs.spawn([sys.executable, str(script), sweep_id], env=env, cwd=tmp_path)
    wait_for(
        lambda: any(store.reads.history(sweep_id, t.id) for t in started(store, sweep_id)),
        30,
        "log",
    )
    assert run_cli(redis_url, "cancel", sweep_id).returncode == 0
    assert wait_exit(procs, agent, 20) == 0
    assert procs.output(agent)[0].split()[:3] == ["1", "1", "sweep"]
    assert (tmp_path / "stopped-in-log").exists()
    states = Counter(t.state for t in store.reads.trials(sweep_id))
    assert states[RunState.KILLED] == 1 and states[RunState.FINISHED] == 0


def test_stop_lets_the_running_trial_finish_and_a_finished_grid_resumes_to_finish_again(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path, grid(tmp_path, [1, 2, 3], [0]))
    env = {"TRIAL_SLEEP": "2"}
    agent = spawn(procs, redis_url, "agent", sweep_id, cwd=tmp_path, env=env)
    wait_for(lambda: started(store, sweep_id), 30, "the first trial starts")
    stopped = run_cli(redis_url, "stop", sweep_id)
    assert stopped.returncode == 0, stopped.stderr
    assert "running runs finish" in stopped.stdout
    assert wait_exit(procs, agent, 30) == 0
    trials = store.reads.trials(sweep_id)
    assert [t.state for t in trials if t.claimed_ms] == [RunState.FINISHED]  # it finished
    assert store.sweeps.get(sweep_id).done_reason == "stopped"

    # resume: the rest of the grid runs, then the sweep finishes again by itself
    assert run_cli(redis_url, "sweep", "--resume", sweep_id).returncode == 0
    agent = spawn(procs, redis_url, "agent", sweep_id, cwd=tmp_path, env={"TRIAL_SLEEP": "0"})
    assert wait_exit(procs, agent, 60) == 0, procs.output(agent)
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.FINISHED, "grid_exhausted")
    assert sorted(t.params["a"] for t in store.reads.trials(sweep_id)) == [1, 2, 3]

    # a finished grid resumes with nothing left to run, and finishes again
    assert run_cli(redis_url, "resume", sweep_id).returncode == 0
    ctl = spawn(procs, redis_url, "controller", sweep_id, cwd=tmp_path)
    assert wait_exit(procs, ctl, 30) == 0
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.FINISHED, "grid_exhausted")
    assert len(store.reads.trials(sweep_id)) == 3


def test_illegal_changes_get_one_line_errors(store: Store, redis_url: str) -> None:
    sweep_id = store.sweeps.create({"method": "grid", "parameters": {"x": {"value": 1}}})
    cases = [
        ("resume", f"sweep {sweep_id} is pending; there is nothing to resume"),
        ("pause", None),
        ("pause", f"sweep {sweep_id} is paused already"),
        ("stop", None),
        ("pause", f"sweep {sweep_id} is finished; cannot pause it (resume it first)"),
        ("stop", f"sweep {sweep_id} is finished already"),
        ("cancel", None),
        ("cancel", f"sweep {sweep_id} is canceled already"),
        ("resume", None),
        ("resume", f"sweep {sweep_id} is running; there is nothing to resume"),
    ]
    for verb, error in cases:
        result = run_cli(redis_url, verb, sweep_id)
        if error is None:
            assert result.returncode == 0, (verb, result.stderr)
        else:
            assert (result.returncode, result.stderr) == (1, f"error: {error}\n"), verb
    missing = run_cli(redis_url, "pause", "nosuch12")
    assert (missing.returncode, missing.stderr) == (1, "error: no sweep 'nosuch12'\n")


def test_update_replaces_the_config_until_a_run_has_started(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path, grid(tmp_path, [1, 2], [0]))
    new = tmp_path / "new.yaml"
    new.write_text(yaml.safe_dump(grid(tmp_path, [5, 6, 7], [0])))
    updated = run_cli(redis_url, "sweep", "--update", sweep_id, str(new))
    assert updated.returncode == 0, updated.stderr
    assert updated.stdout.strip() == f"Updated sweep {sweep_id}"
    info = store.sweeps.get(sweep_id)
    assert (info.grid_size, info.config["parameters"]["a"]) == (3, {"values": [5, 6, 7]})

    agent = spawn(procs, redis_url, "agent", sweep_id, cwd=tmp_path, env={"TRIAL_SLEEP": "0"})
    assert wait_exit(procs, agent, 60) == 0, procs.output(agent)
    assert sorted(t.params["a"] for t in store.reads.trials(sweep_id)) == [5, 6, 7]

    refused = run_cli(redis_url, "sweep", "--update", sweep_id, str(new))
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"error: sweep {sweep_id} cannot be updated: its run ")
    assert len(refused.stderr.strip().splitlines()) == 1
