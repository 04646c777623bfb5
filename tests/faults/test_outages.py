"""Redis going away under a running sweep: shut down and restarted on its append-only file
(longer than a lease), restarted empty, and an agent's host cut off from it and healed.
Nothing is lost, nothing is recorded twice, an outage alone never runs a point's work twice.
Real processes, a real redis-server of the test's own, lease 2 s."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from faults.conftest import OwnRedis
from faults.kit import (
    LEASE_S,
    agent,
    controller,
    finished_per_point,
    grid_sweep,
    lines,
    side_effects,
    started,
    states,
    sweep_finished,
)
from helpers import STARTUP_S, alive, redsweep_cmd, wait_for

from redsweep.shared.records import RunState
from redsweep.shared.store import Store

OUTAGE_S = 12.0  # longer than a lease (2 s) and than redis-py's own retries: the issue saw 14 s


def test_an_outage_longer_than_a_lease_loses_nothing_and_runs_no_point_twice(
    aof_redis: OwnRedis, tmp_path: Path, procs: Any
) -> None:
    """Redis shut down and restarted on its AOF while trials run, and while some are between
    their start and their ``redsweep.init()``: the controller and the agents wait it out,
    no trial fails for it, every point is finished once and its work done once."""
    url = aof_redis.url
    store = Store.from_url(url)
    sweep_id = grid_sweep(url, tmp_path, 6)
    ctl = controller(procs, url, sweep_id, tmp_path)
    agents = [
        agent(procs, url, sweep_id, tmp_path, API=1, INIT_DELAY_S=1.0, WORK_S=1.0) for _ in range(2)
    ]
    watched = [ctl, *agents]
    wait_for(lambda: started(tmp_path, 2), STARTUP_S * 3, "two trials start",
             procs=procs, watched=watched)  # fmt: skip
    aof_redis.stop()
    time.sleep(OUTAGE_S)  # the fault's length, not a wait for an event
    for proc in watched:
        assert proc.poll() is None, (proc.args, procs.output(proc))  # none gave up
    aof_redis.start()
    wait_for(lambda: sweep_finished(store, sweep_id), 120, "the sweep to finish",
             procs=procs, watched=watched)  # fmt: skip
    for proc in watched:
        assert proc.wait(timeout=60) == 0, procs.output(proc)
    assert "failed" not in states(store, sweep_id), store.reads.trials(sweep_id)
    assert finished_per_point(store, sweep_id) == Counter(dict.fromkeys(range(1, 7), 1))
    assert side_effects(tmp_path) == Counter(dict.fromkeys(range(1, 7), 1))
    for proc in watched:  # each said what it was waiting for
        assert "unreachable" in procs.output(proc)[1], procs.output(proc)
    store.close()


def test_redis_restarted_empty_every_process_says_so_and_writes_nothing(
    bare_redis: OwnRedis, tmp_path: Path, procs: Any
) -> None:
    url = bare_redis.url
    store = Store.from_url(url)
    sweep_id = grid_sweep(url, tmp_path, 3)
    ctl = controller(procs, url, sweep_id, tmp_path)
    ran = agent(procs, url, sweep_id, tmp_path, API=1, WORK_S=60)
    first = wait_for(lambda: started(tmp_path, 1), STARTUP_S * 2, "a trial starts",
                     procs=procs, watched=[ctl, ran])  # fmt: skip
    bare_redis.stop()
    bare_redis.start()  # no persistence: empty
    line = (
        f"Redis at {store.sweeps.url} no longer holds sweep {sweep_id}: "
        "was it restarted without persistence?"
    )
    for proc in (ctl, ran):
        code = proc.wait(timeout=60)
        err = procs.output(proc)[1]
        assert code != 0 and f"error: {line}" in err.splitlines(), err
        assert "Traceback" not in err and "no sweep" not in err, err
    wait_for(lambda: not alive(first.pid), 15, "the trial to be stopped")
    assert store.client.keys("*") == []
    store.close()


def test_a_cut_off_agent_stops_its_trial_before_the_point_runs_elsewhere_and_heals_quietly(
    hosts: Any, tmp_path: Path, procs: Any
) -> None:
    """An agent on a host cut off from Redis fences itself on time: its trial is stopped
    before its lease can lapse, so the copy run on the other host never overlaps it; healed,
    the agent records nothing for that point."""
    password = "faults-netns-pw"
    argv, local_url = hosts.redis_argv(tmp_path, password)
    redis_proc = procs.spawn(argv)
    store = Store.from_url(local_url)
    wait_for(store.ping, STARTUP_S, "the Redis host", procs=procs, watched=[redis_proc])
    sweep_id = grid_sweep(local_url, tmp_path, 3)
    ctl = controller(procs, local_url, sweep_id, tmp_path)  # on the Redis host

    def agent_on(host: str, **env: Any):
        argv = redsweep_cmd(hosts.url(host, password), "agent", sweep_id, "--lease-ms",
                            str(int(LEASE_S * 1000)))  # fmt: skip
        env = {"SIDE_DIR": str(tmp_path / "side"), "HOST_TAG": host, **env}
        return procs.spawn(hosts.exec_argv(hosts.worker_ns[host], argv), cwd=tmp_path, env=env)

    cut = agent_on("w1", WORK_1="60", API="1")

    def working():  # past its redsweep.init(), in its work
        return next((x for x in lines(tmp_path, 1) if x.what == "alive"), None)

    first = wait_for(working, STARTUP_S * 2, "point 1 works on w1",
                     procs=procs, watched=[redis_proc, ctl, cut])  # fmt: skip
    hosts.cut("w1")
    other = agent_on("w2", WORK_1="1", API="1")

    def retry_started():
        line = started(tmp_path, 1)
        return line if line is not None and line.host == "w2" else None

    retry = wait_for(retry_started, STARTUP_S + 6 * LEASE_S, "point 1 runs again on w2",
                     procs=procs, watched=[redis_proc, ctl, other])  # fmt: skip
    wait_for(lambda: not alive(first.pid), 30, "w1's trial to be stopped")
    cut_lines = [x for x in lines(tmp_path, 1) if x.trial_id == first.trial_id]
    assert cut_lines[-1].time < retry.time, (
        f"two copies of point 1 overlapped: w1's ran until {cut_lines[-1].time:.2f}, "
        f"w2's started at {retry.time:.2f} ({retry.time - cut_lines[-1].time:+.2f} s)"
    )
    hosts.heal("w1")
    wait_for(lambda: sweep_finished(store, sweep_id), 90, "the sweep to finish",
             procs=procs, watched=[redis_proc, ctl, other])  # fmt: skip
    assert cut.wait(timeout=60) == 0, procs.output(cut)  # it rode the partition out
    assert store.reads.trial(sweep_id, first.trial_id).state is RunState.CRASHED
    assert finished_per_point(store, sweep_id) == Counter({1: 1, 2: 1, 3: 1})
    assert side_effects(tmp_path) == Counter({1: 1, 2: 1, 3: 1})
    store.close()
