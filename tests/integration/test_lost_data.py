"""Redis losing its data under running processes (restarted without persistence, flushed, a
failover to an empty replica): each process that served the sweep says so in one line, ends,
and writes nothing into the emptied server. A sweep id that never existed is still a typo."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from helpers import STARTUP_S, alive, redsweep_cmd, run_cli, wait_for, wait_for_output

from redsweep.shared.store import Store

LONG = """\
import os, time
import redsweep

redsweep.init()
with open(f"pid-{redsweep.config.a}.txt", "w") as fh:
    fh.write(str(os.getpid()))
while True:
    time.sleep(0.2)
"""


def create(url: str, tmp_path: Path) -> str:
    (tmp_path / "train.py").write_text(LONG)
    config = {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2, 3]}},
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli(url, "sweep", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def lost_line(store: Store, sweep_id: str) -> str:
    return (
        f"Redis at {store.sweeps.url} no longer holds sweep {sweep_id}: "
        "was it restarted without persistence?"
    )


def wait_exit(procs: Any, proc: subprocess.Popen, timeout: float = 30.0) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{proc.args} did not exit: {procs.output(proc)}") from None


def assert_empty(store: Store) -> None:
    assert store.client.keys("*") == []
    assert store.client.dbsize() == 0


def test_an_agent_says_redis_lost_its_sweep_ends_its_trial_and_writes_nothing(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path)
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path)
    pid_file = tmp_path / "pid-1.txt"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), 30, "the trial starts",
             procs=procs, watched=[agent])  # fmt: skip
    store.client.flushall()

    assert wait_exit(procs, agent) == 1
    err = procs.output(agent)[1]
    lines = [line for line in err.splitlines() if sweep_id in line or "Redis" in line]
    assert lines[-1] == f"error: {lost_line(store, sweep_id)}", err
    assert "no sweep" not in err and "failed" not in err and "Traceback" not in err, err
    assert not alive(int(pid_file.read_text()))  # the trial was stopped, not left behind
    assert_empty(store)


def test_a_controller_says_redis_lost_its_sweep_and_writes_nothing(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path)
    ctl = procs.spawn(
        redsweep_cmd(redis_url, "controller", sweep_id, "--lease-ms", "1500"), cwd=tmp_path
    )
    wait_for(lambda: store.queue.length(sweep_id) == 3, 30, "the trials are queued",
             procs=procs, watched=[ctl])  # fmt: skip
    store.client.flushall()

    assert wait_exit(procs, ctl) == 1
    err = procs.output(ctl)[1]
    assert err.splitlines()[-1] == f"error: {lost_line(store, sweep_id)}", err
    assert "no sweep" not in err, err
    assert_empty(store)


def test_controller_all_says_redis_lost_its_sweep_and_exits_non_zero(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = create(redis_url, tmp_path)
    ctl = procs.spawn(
        redsweep_cmd(redis_url, "controller", "--all", "--lease-ms", "1500"), cwd=tmp_path
    )
    wait_for_output(procs, ctl, f"controlling sweep {sweep_id}")
    wait_for(lambda: store.queue.length(sweep_id) == 3, 30, "the trials are queued",
             procs=procs, watched=[ctl])  # fmt: skip
    store.client.flushall()

    assert wait_exit(procs, ctl) == 1
    err = procs.output(ctl)[1]
    assert f"redsweep controller: {lost_line(store, sweep_id)}" in err.splitlines(), err
    assert "failed" not in err and "Traceback" not in err, err
    assert_empty(store)


def test_a_daemon_session_says_redis_lost_its_sweep_and_writes_none_of_its_keys(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    worker = procs.spawn(redsweep_cmd(redis_url, "worker", "--slots", "1"), cwd=tmp_path)
    sweep_id = create(redis_url, tmp_path)
    assert run_cli(redis_url, "launch", sweep_id, cwd=tmp_path).returncode == 0
    pid_file = tmp_path / "pid-1.txt"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), STARTUP_S * 3,
             "the session's first trial starts", procs=procs, watched=[worker])  # fmt: skip
    store.client.flushall()

    line = f"redsweep: {lost_line(store, sweep_id)}"
    wait_for_output(procs, worker, line)
    wait_for(lambda: not alive(int(pid_file.read_text())), 15, "the trial stopped")
    assert procs.output(worker)[1].count(line) == 1
    assert worker.poll() is None  # the daemon serves on; only the session ended
    # RQ and the daemon's own registry come back; nothing of the sweep does
    assert store.client.keys(f"redsweep:{{{sweep_id}}}*") == []


def test_a_sweep_that_never_existed_is_still_no_sweep(store: Store, redis_url: str) -> None:
    for args in (("agent", "nosuch12"), ("controller", "nosuch12")):
        result = run_cli(redis_url, *args)
        assert (result.returncode, result.stderr) == (1, "error: no sweep 'nosuch12'\n")
    assert_empty(store)
