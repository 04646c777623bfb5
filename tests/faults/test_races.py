"""Races and lies the store's compare-and-sets must hold against: duplicate queue entries,
agents racing for a small ``run_cap``, agents whose clocks are an hour off. Real processes,
lease 2 s."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from faults.kit import (
    LEASE_MS,
    agent,
    controller,
    finished_per_point,
    grid_sweep,
    lines,
    make_sweep,
    side_effects,
    side_env,
    states,
    sweep_finished,
)
from helpers import STARTUP_S, redsweep_cmd, wait_for

from redsweep.shared.store import Store, keys


def test_duplicate_queue_entries_run_each_point_once(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = grid_sweep(redis_url, tmp_path, 6)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    queue = keys.queue(sweep_id)
    wait_for(lambda: store.client.llen(queue) >= 2, STARTUP_S, "trials queued",
             procs=procs, watched=[ctl])  # fmt: skip
    entries = store.client.lrange(queue, 0, -1)
    store.client.rpush(queue, *entries, *entries)  # those points on the queue three times
    agents = [agent(procs, redis_url, sweep_id, tmp_path) for _ in range(3)]
    wait_for(lambda: sweep_finished(store, sweep_id), 90, "the sweep to finish",
             procs=procs, watched=[ctl, *agents])  # fmt: skip
    for proc in (ctl, *agents):
        assert proc.wait(timeout=60) == 0, procs.output(proc)
    assert states(store, sweep_id) == Counter({"finished": 6})
    assert finished_per_point(store, sweep_id) == Counter(dict.fromkeys(range(1, 7), 1))
    assert side_effects(tmp_path) == Counter(dict.fromkeys(range(1, 7), 1))


def test_agents_racing_for_a_small_run_cap_run_exactly_that_many(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """Four agents start at once on a random sweep with run_cap 5 and no controller of its
    own: their background controllers race for the lease, the agents for the trials."""
    config = {"method": "random", "run_cap": 5, "parameters": {"a": {"min": 1, "max": 99}}}
    sweep_id = make_sweep(redis_url, tmp_path, config)
    agents = [agent(procs, redis_url, sweep_id, tmp_path, WORK_S=0.05) for _ in range(4)]
    wait_for(lambda: sweep_finished(store, sweep_id), 90, "the sweep to finish",
             procs=procs, watched=agents)  # fmt: skip
    for proc in agents:
        assert proc.wait(timeout=60) == 0, procs.output(proc)
    info = store.sweeps.get(sweep_id)
    assert states(store, sweep_id) == Counter({"finished": 5})
    assert info.issued == 5
    assert sum(side_effects(tmp_path).values()) == 5


SKEW_DIR = Path(__file__).parent / "skew"  # its sitecustomize puts the wall clock off


def test_agents_whose_clocks_are_an_hour_off_lose_no_lease_and_run_each_point_once(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """Leases are kept in Redis's time, never a host's: an agent an hour ahead and one an
    hour behind (their trials too) run the grid without a lease seen as lapsed."""
    sweep_id = grid_sweep(redis_url, tmp_path, 6)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    skewed = []
    for hours in (1, -1):
        argv = redsweep_cmd(redis_url, "agent", sweep_id, "--lease-ms", str(LEASE_MS))
        env = side_env(tmp_path, WORK_S=1.0, API=1, PYTHONPATH=SKEW_DIR, CLOCK_SKEW_S=hours * 3600)
        skewed.append(procs.spawn(argv, cwd=tmp_path, env=env))
    wait_for(lambda: sweep_finished(store, sweep_id), 120, "the sweep to finish",
             procs=procs, watched=[ctl, *skewed])  # fmt: skip
    for proc in (ctl, *skewed):
        assert proc.wait(timeout=60) == 0, procs.output(proc)
    assert states(store, sweep_id) == Counter({"finished": 6})  # no lease seen as lapsed
    assert finished_per_point(store, sweep_id) == Counter(dict.fromkeys(range(1, 7), 1))
    offsets = {round((line.time - time.time()) / 3600) for line in lines(tmp_path)}
    assert offsets and offsets <= {1, -1}  # every trial's clock was off too
