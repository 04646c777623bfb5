"""The distributed sweep end to end: a controller process and agent processes, as a user runs
them from the command line, against the suite's private Redis over TCP with a password."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import yaml
from helpers import redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

TRAIN = """\
import os, sys, time
import redsweep

run = redsweep.init()
c = redsweep.config
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
if os.environ.get("SLOW_FIRST") and os.path.exists(os.environ["SLOW_FIRST"]) is False:
    open(os.environ["SLOW_FIRST"], "w").close()
    time.sleep(60)
for step in range(3):
    redsweep.log({"score": c.a * 10 + c.b + step, "epoch": step})
print("trained", c.a, c.b)
"""


def create(url: str, tmp_path: Path, config: dict, name: str = "sweep.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    result = run_cli(url, "sweep", str(path), cwd=tmp_path, check=True)
    assert "redsweep agent" in result.stdout
    assert "redsweep-test-pw" not in result.stdout + result.stderr  # the password never shows
    return result.stdout.strip().splitlines()[-1]


def wait_exit(proc: subprocess.Popen, timeout: float, procs) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = procs.output(proc)
        raise AssertionError(f"{proc.args} did not exit:\n{out}\n{err}") from None


def grid_config(tmp_path: Path, a: list, b: list, **extra) -> dict:
    (tmp_path / "train.py").write_text(TRAIN)
    return {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": a}, "b": {"values": b}},
        **extra,
    }


def points(store: Store, sweep_id: str, state: RunState = RunState.FINISHED) -> Counter:
    return Counter(
        (t.params["a"], t.params["b"]) for t in store.reads.trials(sweep_id) if t.state is state
    )


def test_a_3x4_grid_runs_each_point_once_and_finishes(store, redis_url, tmp_path, procs):
    sweep_id = create(redis_url, tmp_path, grid_config(tmp_path, [1, 2, 3], [0, 1, 2, 3]))
    ctl = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id), cwd=tmp_path)
    agents = [
        procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path) for _ in range(2)
    ]
    for proc in [*agents, ctl]:
        assert wait_exit(proc, 90, procs) == 0, procs.output(proc)
    info = store.sweeps.get(sweep_id)
    assert info.state is SweepState.FINISHED
    assert info.done_reason == "grid_exhausted"
    trials = store.reads.trials(sweep_id)
    assert len(trials) == 12
    assert points(store, sweep_id) == Counter({(a, b): 1 for a in (1, 2, 3) for b in range(4)})
    # the metrics the script logged are on each run; both agents did work
    for t in trials:
        assert (
            store.reads.summary(sweep_id, t.id)["score"] == t.params["a"] * 10 + t.params["b"] + 2
        )
    assert len({t.worker for t in trials}) == 2
    out, err = procs.output(ctl)
    assert "finished" in out + err


def test_random_with_run_cap_7_and_three_agents_runs_exactly_7(store, redis_url, tmp_path, procs):
    (tmp_path / "train.py").write_text(TRAIN)
    config = {
        "program": str(tmp_path / "train.py"),
        "method": "random",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"min": 0.0, "max": 1.0}, "b": {"values": [1, 2, 3]}},
        "run_cap": 7,
    }
    sweep_id = create(redis_url, tmp_path, config)
    ctl = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id), cwd=tmp_path)
    agents = [
        procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path) for _ in range(3)
    ]
    for proc in [*agents, ctl]:
        assert wait_exit(proc, 90, procs) == 0, procs.output(proc)
    trials = store.reads.trials(sweep_id)
    assert len(trials) == 7
    assert all(t.state is RunState.FINISHED for t in trials)
    info = store.sweeps.get(sweep_id)
    assert info.state is SweepState.FINISHED and info.done_reason == "run_cap"


def test_command_trials_log_metrics_and_a_failing_script_fails_with_its_output(
    store, redis_url, tmp_path, procs
):
    (tmp_path / "flaky.py").write_text(
        "import sys, redsweep\n"
        "redsweep.init()\n"
        "redsweep.log({'loss': 0.5, 'acc': 0.9})\n"
        "if redsweep.config.mode == 'bad':\n"
        "    print('about to fail', flush=True)\n"
        "    print('boom: the data is missing', file=sys.stderr)\n"
        "    sys.exit(3)\n"
    )
    config = {
        "program": "flaky.py",
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"mode": {"values": ["good", "bad"]}},
    }
    sweep_id = create(redis_url, tmp_path, config)
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path)
    assert wait_exit(agent, 60, procs) == 0, procs.output(agent)
    by_mode = {t.params["mode"]: t for t in store.reads.trials(sweep_id)}
    good, bad = by_mode["good"], by_mode["bad"]
    assert good.state is RunState.FINISHED
    assert store.reads.summary(sweep_id, good.id) == {"loss": 0.5, "acc": 0.9}
    assert bad.state is RunState.FAILED
    assert "boom: the data is missing" in (bad.log_tail or "")
    assert "about to fail" in (bad.log_tail or "")
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED


def test_an_agent_killed_mid_trial_gets_the_trial_crashed_and_run_again(
    store, redis_url, tmp_path, procs
):
    marker = tmp_path / "first-trial-started"
    sweep_id = create(redis_url, tmp_path, grid_config(tmp_path, [1, 2], [0, 1]))
    lease = ["--lease-ms", "1000"]
    ctl = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id, *lease), cwd=tmp_path)
    victim = procs.spawn(
        redsweep_cmd(redis_url, "agent", sweep_id, *lease),
        cwd=tmp_path,
        env={"SLOW_FIRST": str(marker)},
    )
    wait_for(marker.exists, 30, "the first trial to start")
    running = wait_for(
        lambda: [t for t in store.reads.trials(sweep_id) if t.state is RunState.RUNNING],
        10,
        "a running trial",
    )
    os.killpg(victim.pid, signal.SIGKILL)  # the agent and its trial's process group
    victim.wait()
    survivor = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id, *lease), cwd=tmp_path)
    assert wait_exit(survivor, 60, procs) == 0, procs.output(survivor)
    assert wait_exit(ctl, 30, procs) == 0, procs.output(ctl)
    crashed = store.reads.trial(sweep_id, running[0].id)
    assert crashed.state is RunState.CRASHED
    retry = [t for t in store.reads.trials(sweep_id) if t.retry_of == crashed.id]
    assert len(retry) == 1 and retry[0].attempt == 2
    assert retry[0].state is RunState.FINISHED and retry[0].params == crashed.params
    assert points(store, sweep_id) == Counter({(a, b): 1 for a in (1, 2) for b in (0, 1)})
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED


def test_a_controller_killed_and_restarted_skips_and_repeats_no_grid_point(
    store, redis_url, tmp_path, procs
):
    sweep_id = create(redis_url, tmp_path, grid_config(tmp_path, [1, 2, 3], [0, 1, 2, 3]))
    env = {"TRIAL_SLEEP": "0.3"}
    lease = ["--lease-ms", "1000"]
    first = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id, *lease), cwd=tmp_path)
    agents = [
        procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id, *lease), cwd=tmp_path, env=env)
        for _ in range(2)
    ]
    wait_for(lambda: sum(points(store, sweep_id).values()) >= 3, 60, "3 finished runs")
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    second = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id, *lease), cwd=tmp_path)
    for proc in agents:
        assert wait_exit(proc, 90, procs) == 0, procs.output(proc)
    wait_exit(second, 30, procs)
    assert points(store, sweep_id) == Counter({(a, b): 1 for a in (1, 2, 3) for b in range(4)})
    assert len(store.reads.trials(sweep_id)) == 12
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED


def test_a_second_controller_names_the_holder_and_takes_over_when_it_dies(
    store, redis_url, tmp_path, procs
):
    sweep_id = create(redis_url, tmp_path, grid_config(tmp_path, [1], [0]))
    lease = ["--lease-ms", "1000"]
    first = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id, *lease), cwd=tmp_path)
    holder = wait_for(lambda: store.controllers.holder(sweep_id), 30, "the first controller")
    started = time.monotonic()
    # its own lease: the default 10 s
    second = run_cli(redis_url, "controller", sweep_id, timeout=30)
    assert second.returncode != 0
    assert holder in second.stderr
    assert "Traceback" not in second.stderr
    # it saw the holder renew its lease, so it did not sit out its own 10 s lease waiting for
    # a lapse that would not come
    assert time.monotonic() - started < 8
    assert store.controllers.holder(sweep_id) == holder
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    third = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id, *lease), cwd=tmp_path)
    # the dead holder's lease lapses within its lease time; the third controller then runs
    new_holder = wait_for(
        lambda: (h := store.controllers.holder(sweep_id)) and h != holder and h, 30, "takeover"
    )
    assert new_holder.startswith("ctl:")
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path)
    assert wait_exit(agent, 60, procs) == 0
    assert wait_exit(third, 30, procs) == 0
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED


def test_an_agent_and_its_background_controller_ride_out_a_redis_restart(tmp_path, procs):
    from redsweep.shared.server.local import LocalServer, free_port

    port = free_port()

    def start_redis() -> LocalServer:
        return LocalServer().start(
            tmp_path / "redis", unixsocket=False, port=port, password="pw", appendonly=True
        )

    server = start_redis()
    try:
        url = server.tcp_url
        store = Store.from_url(url)
        sweep_id = create(url, tmp_path, grid_config(tmp_path, [1, 2, 3], [0, 1]))
        # no dedicated controller: the agent's background thread is the only one
        agent = procs.spawn(
            redsweep_cmd(url, "agent", sweep_id), cwd=tmp_path, env={"TRIAL_SLEEP": "0.4"}
        )
        wait_for(lambda: sum(points(store, sweep_id).values()) >= 2, 60, "2 finished runs")
        server.stop()
        time.sleep(6.0)  # longer than one call's own retries (about 3 s of back-off)
        server = start_redis()
        assert wait_exit(agent, 90, procs) == 0, procs.output(agent)
        # the controller came back and issued the rest: every point finished once, the sweep
        # ended; a trial caught by the outage ended crashed (and ran again), never failed
        trials = store.reads.trials(sweep_id)
        assert points(store, sweep_id) == Counter({(a, b): 1 for a in (1, 2, 3) for b in (0, 1)})
        assert store.sweeps.get(sweep_id).state is SweepState.FINISHED
        for trial in trials:
            assert trial.state in (RunState.FINISHED, RunState.CRASHED), trial
            assert ":pw@" not in (trial.error or "") + (trial.log_tail or "")
        store.close()
    finally:
        server.stop()
