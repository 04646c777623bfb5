"""Agent signals with W&B's meaning, and no orphans: the first Ctrl+C lets the trial finish,
the second terminates the trial's process group, the third kills it; a killed agent's trial
does not outlive it either. Real `redsweep agent` processes, command trials with children."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import yaml
from helpers import alive, redsweep_cmd, run_cli, wait_for, wait_for_output

from redsweep.shared.records import RunState
from redsweep.shared.store import Store

TRIAL = """\
import os, signal, subprocess, time
import redsweep

redsweep.init()
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen(["sleep", "300"])
if os.environ.get("IGNORE_TERM"):  # the child ignores SIGTERM (inherited); this notes it too
    signal.signal(signal.SIGTERM, lambda *_: open("term.txt", "a").close())
with open("pids.txt", "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
step = 0
while True:
    if not os.environ.get("IGNORE_TERM"):
        redsweep.log({"step": step})
    step += 1
    time.sleep(0.1)
"""


def start(
    store: Store, redis_url: str, tmp_path: Path, procs: Any, **env: str
) -> tuple[Any, str, list[int]]:
    """A sweep of one long command trial, an agent running it: (agent, sweep id, pids)."""
    (tmp_path / "trial.py").write_text(TRIAL)
    config = {"program": "trial.py", "method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    made = run_cli(redis_url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    sweep_id = made.stdout.strip().splitlines()[-1]
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path, env=env)
    pids_file = tmp_path / "pids.txt"
    wait_for(lambda: pids_file.exists() and pids_file.read_text(), 30, "the trial starts")
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    return agent, sweep_id, pids


def running_trial(store: Store, sweep_id: str) -> Any:
    (trial,) = [t for t in store.reads.trials(sweep_id) if t.claimed_ms is not None]
    return trial


def test_ctrl_c_twice_terminates_the_trial_and_leaves_no_orphan(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    agent, sweep_id, pids = start(store, redis_url, tmp_path, procs)
    os.kill(agent.pid, signal.SIGINT)
    # handled before the next is sent: POSIX merges a second SIGINT still pending
    wait_for_output(procs, agent, "SIGINT: finishing the current trial, then exiting")
    assert all(alive(p) for p in pids)  # the first lets the trial go on
    assert agent.poll() is None
    os.kill(agent.pid, signal.SIGINT)
    assert agent.wait(timeout=15) == 0, procs.output(agent)
    assert not any(alive(p) for p in pids)
    err = procs.output(agent)[1]
    assert "SIGINT: finishing the current trial, then exiting (again to stop the trial)" in err
    assert "SIGINT: stopping the current trial (again to kill it)" in err
    trial = running_trial(store, sweep_id)
    assert trial.state is RunState.KILLED
    assert store.sweeps.get(sweep_id).count(RunState.PENDING) == 1  # the next never started


def test_the_third_ctrl_c_kills_a_trial_that_ignores_sigterm_at_once(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    agent, sweep_id, pids = start(store, redis_url, tmp_path, procs, IGNORE_TERM="1")
    os.kill(agent.pid, signal.SIGINT)
    wait_for_output(procs, agent, "SIGINT: finishing the current trial")
    os.kill(agent.pid, signal.SIGINT)
    wait_for_output(procs, agent, "SIGINT: stopping the current trial")
    term = tmp_path / "term.txt"
    wait_for(term.exists, 15, "the trial gets SIGTERM", procs=procs, watched=[agent])
    assert all(alive(p) for p in pids)  # SIGTERM ignored; the grace period (10 s) runs
    began = time.monotonic()
    os.kill(agent.pid, signal.SIGINT)
    assert agent.wait(timeout=10) == 0, procs.output(agent)
    assert time.monotonic() - began < 5  # not the grace period: killed at once
    assert not any(alive(p) for p in pids)
    assert "SIGINT: killing the current trial" in procs.output(agent)[1]
    assert running_trial(store, sweep_id).state is RunState.KILLED


def test_sigterm_means_the_same_as_ctrl_c(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    agent, _, pids = start(store, redis_url, tmp_path, procs)
    os.kill(agent.pid, signal.SIGTERM)
    wait_for_output(procs, agent, "SIGTERM: finishing the current trial")
    assert all(alive(p) for p in pids) and agent.poll() is None
    os.kill(agent.pid, signal.SIGTERM)
    assert agent.wait(timeout=15) == 0, procs.output(agent)
    assert not any(alive(p) for p in pids)
    assert "SIGTERM: stopping the current trial" in procs.output(agent)[1]


def test_a_killed_agents_command_trial_ends_itself_and_its_children(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    agent, _, pids = start(store, redis_url, tmp_path, procs)
    os.kill(agent.pid, signal.SIGKILL)  # no chance to clean up: the trial must notice
    agent.wait(timeout=5)
    wait_for(lambda: not any(alive(p) for p in pids), 10, "the orphaned trial and its child end")
