"""Redis going away under a running sweep: shut down and restarted on its append-only file
(longer than a lease) and restarted empty. Nothing is lost, nothing is recorded twice, an
outage alone never runs a point's work twice. Real processes, a real redis-server of the
test's own, lease 2 s. (An agent's host cut off from Redis and healed, in network namespaces,
is tests/integration/test_fencing.py.)"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from agent_scripts import Agents
from faults.conftest import OwnRedis
from faults.kit import (
    LEASE_MS,
    LEASE_S,
    agent,
    controller,
    finished_per_point,
    grid_sweep,
    side_effects,
    started,
    states,
    sweep_finished,
)
from helpers import STARTUP_S, alive, wait_for

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


def test_an_outage_amid_short_pipelined_trials_loses_nothing_and_runs_no_point_twice(
    aof_redis: OwnRedis, tmp_path: Path, procs: Any
) -> None:
    """Short trials are pipelined: a finish's answer is read while the next trial runs, and
    that finish claimed the one after. Redis shut down and restarted on its AOF meanwhile:
    the finishes without an answer are sent again alone, what their takes claimed lapses and
    runs again; every point is finished once and its work done once."""
    url = aof_redis.url
    store = Store.from_url(url)
    sweep_id = grid_sweep(url, tmp_path, 300)
    ctl = controller(procs, url, sweep_id, tmp_path)
    work = tmp_path / "side" / "work.log"
    objective = f"""
        def objective():
            a = redsweep.config.a
            with open({str(work)!r}, "a") as fh:
                fh.write(f"{{a}}\\n")
            time.sleep(0.01)
            redsweep.log({{"score": a}})
        """
    agents = Agents(procs, tmp_path, url)
    workers = [
        agents.start(sweep_id, objective, function="objective", lease_ms=LEASE_MS) for _ in range(2)
    ]
    watched = [ctl, *workers]
    wait_for(lambda: work.exists() and len(work.read_text().split()) >= 30, STARTUP_S * 3,
             "30 trials run", procs=procs, watched=watched)  # fmt: skip
    aof_redis.stop()
    time.sleep(3 * LEASE_S)  # the fault's length, not a wait for an event
    aof_redis.start()
    wait_for(lambda: sweep_finished(store, sweep_id), 120, "the sweep to finish",
             procs=procs, watched=watched)  # fmt: skip
    for proc in watched:
        assert proc.wait(timeout=60) == 0, procs.output(proc)
    assert "failed" not in states(store, sweep_id), states(store, sweep_id)
    assert finished_per_point(store, sweep_id) == Counter(range(1, 301))
    assert Counter(int(a) for a in work.read_text().split()) == Counter(range(1, 301))
    store.close()


def controller_holds(store: Store, sweep_id: str) -> bool:
    """A dedicated controller (not an agent's) holds the sweep's lease."""
    return (store.controllers.holder(sweep_id) or "").startswith("ctl:")


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
    # the agent queues the first trial itself, so the controller may not have read the sweep
    # yet (one that never saw it rightly says "no sweep"): wait for it to hold the lease
    wait_for(lambda: controller_holds(store, sweep_id), STARTUP_S * 2,
             "the controller takes the lease", procs=procs, watched=[ctl, ran])  # fmt: skip
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
