"""Processes dying or freezing under a running grid sweep: an agent killed outright, the
controller killed mid-grid, two controllers at once, an agent stopped (SIGSTOP) for longer than
its lease. Every grid point ends up finished exactly once. Real processes, lease 2 s."""

from __future__ import annotations

import os
import signal
from collections import Counter
from pathlib import Path
from typing import Any

from agent_scripts import short_trials
from faults.kit import (
    LEASE_MS,
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
from helpers import STARTUP_S, alive, wait_for

from redsweep.shared.records import RunState
from redsweep.shared.store import Store


def wait_finished(store: Store, sweep_id: str, procs: Any, watched: list, timeout: float = 90):
    wait_for(
        lambda: sweep_finished(store, sweep_id),
        timeout,
        f"sweep {sweep_id} to finish",
        procs=procs,
        watched=watched,
    )


def wait_exit_0(procs: Any, *ps: Any) -> None:
    for p in ps:
        assert p.wait(timeout=60) == 0, procs.output(p)


def test_a_killed_agents_trial_dies_with_it_and_its_point_runs_once_more(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """The trial never imports redsweep: it still ends with its agent, so its work is not
    done while a retry does it too; the point is recorded once."""
    sweep_id = grid_sweep(redis_url, tmp_path, 3)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    first = agent(procs, redis_url, sweep_id, tmp_path, WORK_1=30)
    doomed = wait_for(lambda: started(tmp_path, 1), STARTUP_S * 2, "point 1 starts",
                      procs=procs, watched=[ctl, first])  # fmt: skip
    os.kill(first.pid, signal.SIGKILL)  # the agent alone, not its trial's group
    wait_for(lambda: not alive(doomed.pid), 2.0, "the dead agent's trial to end")
    second = agent(procs, redis_url, sweep_id, tmp_path)
    wait_finished(store, sweep_id, procs, [ctl, second])
    wait_exit_0(procs, ctl, second)
    assert finished_per_point(store, sweep_id) == Counter({1: 1, 2: 1, 3: 1})
    assert store.reads.trial(sweep_id, doomed.trial_id).state is RunState.CRASHED
    assert side_effects(tmp_path) == Counter({1: 1, 2: 1, 3: 1})


def test_an_agent_killed_amid_short_pipelined_trials_leaves_each_point_finished_once(
    store: Store, redis_url: str, tmp_path: Path, procs: Any, agents: Any
) -> None:
    """Short trials are pipelined: the agent holds the next trial claimed while it runs one,
    and has the one after claimed by a finish it has not read the answer of. Killed outright
    mid-stream, all it held lapses and is crashed and run again; no point is lost or finished
    twice."""
    sweep_id = grid_sweep(redis_url, tmp_path, 200)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    # after the 40th, 10 ms each: still pipelined, and the rest long enough to be killed in
    objective = short_trials('{"score": redsweep.config.a}', marked_after=40)
    first = agents.start(sweep_id, objective, function="objective", lease_ms=LEASE_MS)
    wait_for(lambda: (tmp_path / "ran-40").exists(), STARTUP_S * 2, "40 trials ran",
             procs=procs, watched=[ctl, first])  # fmt: skip
    os.kill(first.pid, signal.SIGKILL)
    first.wait(5)
    second = agents.start(sweep_id, objective, function="objective", lease_ms=LEASE_MS)
    wait_finished(store, sweep_id, procs, [ctl, second])
    wait_exit_0(procs, ctl, second)
    assert finished_per_point(store, sweep_id) == Counter(range(1, 201))
    by_state = states(store, sweep_id)
    assert set(by_state) <= {"finished", "crashed"}, by_state
    assert 1 <= by_state["crashed"] <= 3, by_state  # the one running, the ones held


def test_a_controller_killed_mid_grid_is_replaced_and_no_point_is_skipped_or_repeated(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = grid_sweep(redis_url, tmp_path, 8)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    agents = [agent(procs, redis_url, sweep_id, tmp_path, WORK_S=0.5) for _ in range(2)]
    wait_for(lambda: sum(finished_per_point(store, sweep_id).values()) >= 2, STARTUP_S * 3,
             "two points finished", procs=procs, watched=[ctl, *agents])  # fmt: skip
    os.kill(ctl.pid, signal.SIGKILL)
    ctl.wait(timeout=5)
    again = controller(procs, redis_url, sweep_id, tmp_path)
    wait_finished(store, sweep_id, procs, [again, *agents])
    wait_exit_0(procs, again, *agents)
    assert finished_per_point(store, sweep_id) == Counter(dict.fromkeys(range(1, 9), 1))
    assert states(store, sweep_id) == Counter({"finished": 8})  # no trial was lost meanwhile
    assert side_effects(tmp_path) == Counter(dict.fromkeys(range(1, 9), 1))


def test_two_controllers_at_once_one_runs_the_sweep_and_each_point_is_issued_once(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = grid_sweep(redis_url, tmp_path, 8)
    ctls = [controller(procs, redis_url, sweep_id, tmp_path) for _ in range(2)]
    # no agent yet, so the sweep cannot finish before the loser has seen the winner's lease
    # (else it could find the sweep over and leave saying so, which is right too)
    wait_for(lambda: any(c.poll() is not None for c in ctls), STARTUP_S + 4 * LEASE_S,
             "one controller gives way", procs=procs)  # fmt: skip
    agents = [agent(procs, redis_url, sweep_id, tmp_path) for _ in range(2)]
    wait_finished(store, sweep_id, procs, [*agents])
    wait_exit_0(procs, *agents)
    codes = sorted(c.wait(timeout=60) for c in ctls)
    assert codes == [0, 1], [procs.output(c) for c in ctls]
    loser = next(c for c in ctls if c.returncode == 1)
    assert procs.output(loser)[1].startswith(f"error: sweep {sweep_id} already has a controller")
    assert states(store, sweep_id) == Counter({"finished": 8})
    assert finished_per_point(store, sweep_id) == Counter(dict.fromkeys(range(1, 9), 1))
    assert store.sweeps.get(sweep_id).issued == 8


def test_an_agent_stopped_past_its_lease_does_not_record_its_point_a_second_time(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """SIGSTOP freezes the agent (not its trial): its lease lapses, the point is run again
    elsewhere; after SIGCONT the stale finish is refused by the store's token check."""
    sweep_id = grid_sweep(redis_url, tmp_path, 3)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    frozen = agent(procs, redis_url, sweep_id, tmp_path, WORK_1=1.5, WORK_S=0.2)
    first = wait_for(lambda: started(tmp_path, 1), STARTUP_S * 2, "point 1 starts",
                     procs=procs, watched=[ctl, frozen])  # fmt: skip
    os.kill(frozen.pid, signal.SIGSTOP)
    try:
        other = agent(procs, redis_url, sweep_id, tmp_path)

        def retried() -> bool:
            again = started(tmp_path, 1)
            return again is not None and again.trial_id != first.trial_id

        wait_for(retried, STARTUP_S + 4 * LEASE_S, "point 1 run again", procs=procs,
                 watched=[ctl, other])  # fmt: skip
        wait_finished(store, sweep_id, procs, [other])
    finally:
        os.kill(frozen.pid, signal.SIGCONT)
    wait_exit_0(procs, ctl, other, frozen)
    record = store.reads.trial(sweep_id, first.trial_id)
    assert record.state is RunState.CRASHED, record
    assert finished_per_point(store, sweep_id) == Counter({1: 1, 2: 1, 3: 1})
    # the frozen agent's trial ran on and did its work: at least once, recorded once
    assert [line.trial_id for line in lines(tmp_path, 1) if line.what == "end"].count(
        first.trial_id
    ) == 1
