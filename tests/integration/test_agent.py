"""Worker agents as users run them: real agent processes against the session's private Redis
(TCP with a password), function and command objectives, the in-trial API, stops and crashes.

Tests that say "real controller" rely on the agent starting the sweep's controller in a
background thread; the others hold the controller lease themselves and add trials by hand, so
they can put exactly what they want on the queue.
"""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis
from agent_scripts import LONG, ROOT, Agents, hold_controller, short_trials
from helpers import alive, wait_for, wait_for_output

from redsweep.errors import StoreError
from redsweep.shared import protocol
from redsweep.shared.records import RunState, SweepState, TrialMessage
from redsweep.shared.store import Store, keys
from redsweep.worker.api import functions as run_api


def end_sweep(store: Store, sweep_id: str) -> None:
    store.sweeps.set_state(
        sweep_id, SweepState.FINISHED, allowed_from=[SweepState.RUNNING], reason="test over"
    )


def trial_state(store: Store, sweep_id: str, trial_id: str) -> RunState:
    return store.reads.trial(sweep_id, trial_id).state


def by_params(store: Store, sweep_id: str, key: str) -> dict[Any, Any]:
    return {t.params[key]: t for t in store.reads.trials(sweep_id)}


# ---- function objectives -----------------------------------------------------------------------


def test_an_agent_runs_a_2x2_grid_to_the_end_with_its_controller(
    store: Store, agents: Agents
) -> None:
    """Real controller. Sweep values override init()'s defaults; each run keeps its score."""
    sweep_id = store.sweeps.create(
        {
            "method": "grid",
            "metric": {"name": "score", "goal": "maximize"},
            "parameters": {"x": {"values": [1, 2]}, "y": {"values": [3, 4]}},
        },
        project="grid",
        grid_size=4,
    )
    proc = agents.start(
        sweep_id,
        """
        def objective():
            redsweep.init(project="grid", config={"x": 100, "offset": 0.5})
            c = redsweep.config
            redsweep.log({"score": c.x * 10 + c["y"] + c.get("offset")})
        """,
        function="objective",
    )
    result = agents.result(proc)
    assert (result["ran"], result["finished"], result["failed"]) == (4, 4, 0)

    trials = store.reads.trials(sweep_id)
    assert len(trials) == 4
    scores = {
        (t.params["x"], t.params["y"]): store.reads.summary(sweep_id, t.id)["score"] for t in trials
    }
    assert scores == {(1, 3): 13.5, (1, 4): 14.5, (2, 3): 23.5, (2, 4): 24.5}
    assert all(t.state is RunState.FINISHED and t.worker == result["agent_id"] for t in trials)
    info = store.sweeps.get(sweep_id)
    assert info.state is SweepState.FINISHED
    assert info.best_value == 24.5
    assert store.controllers.holder(sweep_id) is None  # the agent's controller let go
    assert store.agents.live(sweep_id) == []


def test_each_trial_line_counts_the_points_done_so_far(store: Store, agents: Agents) -> None:
    """Real controller. One agent's quick trials end between its reads of the sweep: each of
    its lines still says how many points are done (1/6, 2/6, ... 6/6) and the best so far."""
    sweep_id = store.sweeps.create(
        {
            "method": "random",
            "run_cap": 6,
            "metric": {"name": "score", "goal": "maximize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
        project="lines",
        run_cap=6,
    )
    proc = agents.start(
        sweep_id,
        """
        def objective():
            redsweep.init()
            redsweep.log({"score": redsweep.config.x})
        """,
        function="objective",
    )
    assert agents.result(proc)["ran"] == 6
    lines = [line for line in agents.stderr(proc).splitlines() if line.startswith("run ")]
    done = [int(line.split(f"sweep {sweep_id}: ")[1].split("/")[0]) for line in lines]
    assert done == [1, 2, 3, 4, 5, 6], lines
    scores = [float(line.split("score=")[1].split(";")[0]) for line in lines]
    best = [float(line.split("best score (max) ")[1]) for line in lines]
    assert best == [max(scores[: i + 1]) for i in range(6)], lines


def test_a_function_that_raises_fails_with_its_traceback_and_the_agent_goes_on(
    store: Store, agents: Agents
) -> None:
    """Real controller."""
    sweep_id = store.sweeps.create(
        {"method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}}, grid_size=3
    )
    proc = agents.start(
        sweep_id,
        """
        def objective():
            redsweep.init()
            x = redsweep.config.x
            redsweep.log({"x_seen": x})
            if x == 2:
                raise ValueError(f"bad x {x}")
        """,
        function="objective",
    )
    result = agents.result(proc)
    assert (result["ran"], result["finished"], result["failed"]) == (3, 2, 1)
    trials = by_params(store, sweep_id, "x")
    assert {x: t.state for x, t in trials.items()} == {
        1: RunState.FINISHED,
        2: RunState.FAILED,
        3: RunState.FINISHED,
    }
    error = trials[2].error or ""
    assert error.startswith("Traceback (most recent call last):")
    assert "in objective" in error
    assert error.rstrip().endswith("ValueError: bad x 2")
    assert store.reads.summary(sweep_id, trials[2].id) == {"x_seen": 2}  # logged before the raise


def test_count_stops_the_agent_after_that_many_trials(store: Store, agents: Agents) -> None:
    """Real controller."""
    sweep_id = store.sweeps.create(
        {"method": "grid", "parameters": {"x": {"values": [1, 2, 3, 4]}}}, grid_size=4
    )
    proc = agents.start(
        sweep_id,
        "def objective():\n    redsweep.log({'v': redsweep.config.x})\n",
        function="objective",
        count=2,
    )
    result = agents.result(proc)
    assert result["ran"] == 2
    assert result["reason"] == "ran 2 trials"
    states = [t.state for t in store.reads.trials(sweep_id)]
    assert states.count(RunState.FINISHED) == 2
    assert RunState.RUNNING not in states
    assert store.sweeps.get(sweep_id).state is SweepState.RUNNING  # others may carry on
    assert store.controllers.holder(sweep_id) is None


def test_isolated_trials_run_in_forked_children(store: Store, agents: Agents) -> None:
    """Real controller. isolate=True: each trial in its own child process."""
    sweep_id = store.sweeps.create(
        {
            "method": "grid",
            "metric": {"name": "score", "goal": "minimize"},
            "parameters": {"x": {"values": [1, 2, 3]}},
        },
        grid_size=3,
    )
    proc = agents.start(
        sweep_id,
        """
        def objective():
            redsweep.init()
            redsweep.log({"score": redsweep.config.x, "pid": os.getpid()})
            if redsweep.config.x == 3:
                raise RuntimeError("child failed")
        """,
        function="objective",
        isolate=True,
    )
    result = agents.result(proc)
    assert (result["ran"], result["finished"], result["failed"]) == (3, 2, 1)
    trials = by_params(store, sweep_id, "x")
    pids = {store.reads.summary(sweep_id, t.id)["pid"] for t in trials.values()}
    assert len(pids) == 3 and result["pid"] not in pids
    assert (trials[3].error or "").rstrip().endswith("RuntimeError: child failed")
    assert store.sweeps.get(sweep_id).best_value == 1


def test_a_stop_request_raises_StopTrial_in_log_past_except_exception(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert trial_id is not None
    proc = agents.start(
        sweep_id,
        """
        def objective():
            redsweep.init()
            try:
                for i in range(100_000):
                    try:
                        redsweep.log({"i": i})
                    except Exception:
                        open(os.path.join(HERE, "swallowed"), "w").close()
                    time.sleep(0.02)
            finally:
                open(os.path.join(HERE, "unwound"), "w").close()
        """,
        function="objective",
        lease_ms=1500,
    )
    wait_for(lambda: store.reads.history(sweep_id, trial_id), what="the trial logs")
    assert store.trials.request_stop(sweep_id, trial_id, {"rule": "test"})
    wait_for(lambda: trial_state(store, sweep_id, trial_id) is RunState.STOPPED, 10, "stopped")
    end_sweep(store, sweep_id)
    result = agents.result(proc)
    assert (result["ran"], result["stopped"]) == (1, 1)
    assert (tmp_path / "unwound").exists()
    assert not (tmp_path / "swallowed").exists()


def test_a_trial_killed_from_outside_stops_its_function_and_the_agent_goes_on(
    store: Store, agents: Agents
) -> None:
    """The agent loses the trial (its token no longer holds it): self-fencing via log()."""
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    [first] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    [second] = store.trials.add(sweep_id, [{"x": 2}], epoch=epoch)
    assert first and second
    proc = agents.start(
        sweep_id,
        """
        def objective():
            run = redsweep.init()
            for i in range(100_000 if redsweep.config.x == 1 else 3):
                run.log({"i": i})
                time.sleep(0.02)
        """,
        function="objective",
        lease_ms=1200,
    )
    wait_for(lambda: store.reads.history(sweep_id, first), what="the first trial logs")
    assert store.trials.kill(sweep_id, first, reason="killed by hand")
    wait_for(lambda: trial_state(store, sweep_id, second) is RunState.FINISHED, 10, "second")
    end_sweep(store, sweep_id)
    result = agents.result(proc)
    # the store says it was killed (not lost to another agent): the agent counts it so
    assert (result["ran"], result["finished"], result["killed"], result["lost"]) == (2, 1, 1, 0)
    assert trial_state(store, sweep_id, first) is RunState.KILLED  # terminal: never changes


# ---- the queue ---------------------------------------------------------------------------------


def test_garbage_on_the_queue_is_dead_lettered_and_the_agent_lives_on(
    store: Store, agents: Agents, redis_client: redis.Redis
) -> None:
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 7}}})
    epoch = hold_controller(store, sweep_id)
    garbage = [
        b"\xc1 not msgpack at all",
        protocol.pack_value({"hello": "world"}),
        protocol.encode(TrialMessage(sweep_id=sweep_id, trial_id="nosuch12", attempt=1)),
    ]
    redis_client.rpush(keys.queue(sweep_id), *garbage)
    proc = agents.start(
        sweep_id,
        "def objective():\n    redsweep.log({'x': redsweep.config.x})\n",
        function="objective",
    )
    wait_for(lambda: len(store.queue.dead_letters(sweep_id)) == 3, what="three dead letters")
    assert store.reads.trials(sweep_id) == []  # nothing ran
    [trial_id] = store.trials.add(sweep_id, [{"x": 7}], epoch=epoch)
    assert trial_id is not None
    wait_for(lambda: trial_state(store, sweep_id, trial_id) is RunState.FINISHED, 10, "a trial")
    end_sweep(store, sweep_id)
    result = agents.result(proc)
    assert (result["ran"], result["dead_lettered"]) == (1, 3)

    letters = store.queue.dead_letters(sweep_id)
    assert [d.raw for d in letters] == garbage
    assert all(d.agent == result["agent_id"] for d in letters)
    assert "not msgpack" in letters[0].reason
    assert "no wire version" in letters[1].reason
    assert "no trial 'nosuch12'" in letters[2].reason
    assert agents.stderr(proc).count("dead-lettered") == 3
    assert store.queue.length(sweep_id) == 0
    assert store.queue.in_flight(sweep_id, result["agent_id"]) == []


# ---- command objectives ------------------------------------------------------------------------

TRAIN = """\
import sys
import redsweep.worker.api.functions as redsweep

redsweep.init(config={"epochs": 3})
for epoch in range(redsweep.config.epochs):
    redsweep.log({"loss": redsweep.config.x / (epoch + 1)})
print(f"trained x={redsweep.config.x} argv={sys.argv[1:]}")
if redsweep.config.x == 2:
    for i in range(60):
        print(f"line {i}")
    print("diverged")
    sys.exit(3)
"""


def test_command_trials_log_through_the_api_and_a_failure_keeps_its_output_tail(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    """Real controller. The sweep's program runs as a subprocess with the W&B argv."""
    (tmp_path / "train.py").write_text(TRAIN)
    sweep_id = store.sweeps.create(
        {
            "method": "grid",
            "program": "train.py",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"values": [1, 2]}},
        },
        grid_size=2,
    )
    proc = agents.start(sweep_id, agent_dir=repr(str(tmp_path / "agent")))
    result = agents.result(proc)
    assert (result["ran"], result["finished"], result["failed"]) == (2, 1, 1)
    trials = by_params(store, sweep_id, "x")

    good = trials[1]
    assert good.state is RunState.FINISHED
    assert store.reads.history(sweep_id, good.id) == [
        {"loss": 1.0, "_step": 0},
        {"loss": 0.5, "_step": 1},
        {"loss": 1 / 3, "_step": 2},
    ]
    assert store.reads.summary(sweep_id, good.id) == {"loss": 1 / 3}
    assert good.log_tail == "trained x=1 argv=['--x=1']"
    assert store.sweeps.get(sweep_id).best_value == pytest.approx(1 / 3)

    bad = trials[2]
    assert bad.state is RunState.FAILED
    assert bad.error == "the command exited with code 3"
    assert (bad.log_tail or "").splitlines() == [f"line {i}" for i in range(21, 60)] + ["diverged"]
    log_file = tmp_path / "agent" / f"{bad.id}.log"
    assert log_file.read_text().splitlines()[0] == "trained x=2 argv=['--x=2']"
    assert len(log_file.read_text().splitlines()) == 62


LOOP = """\
import os, subprocess, time
import redsweep.worker.api.functions as redsweep

redsweep.init()
child = subprocess.Popen(["sleep", "60"])
with open("pids.txt", "w") as fh:
    fh.write(f"{os.getpid()} {child.pid}")
step = 0
while True:
    redsweep.log({"loss": 1.0 / (step + 1)})
    step += 1
    time.sleep(0.05)
"""


def test_a_stop_request_ends_a_command_trial_stopped_and_leaves_no_process(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    (tmp_path / "loop.py").write_text(LOOP)
    sweep_id = store.sweeps.create(
        {"method": "random", "program": "loop.py", "parameters": {"x": {"value": 1}}}
    )
    epoch = hold_controller(store, sweep_id)
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert trial_id is not None
    proc = agents.start(sweep_id, lease_ms=1500)
    pids_file = tmp_path / "pids.txt"
    wait_for(lambda: pids_file.exists() and pids_file.read_text(), 20, "the command starts")
    wait_for(lambda: store.reads.history(sweep_id, trial_id), what="the command logs")
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)

    assert store.trials.request_stop(sweep_id, trial_id, {"rule": "test"})
    wait_for(lambda: trial_state(store, sweep_id, trial_id) is RunState.STOPPED, 15, "stopped")
    wait_for(lambda: not any(alive(p) for p in pids), 5, "the command and its child gone")
    assert store.reads.trial(sweep_id, trial_id).stop_reason == {"rule": "test"}
    end_sweep(store, sweep_id)
    result = agents.result(proc)
    assert (result["ran"], result["stopped"]) == (1, 1)


# ---- liveness and signals ----------------------------------------------------------------------


def test_an_agent_killed_mid_trial_leaves_a_lease_that_lapses(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert trial_id is not None
    proc = agents.start(
        sweep_id,
        """
        def objective():
            open(os.path.join(HERE, "started"), "w").close()
            time.sleep(60)
        """,
        function="objective",
        lease_ms=1000,
    )
    wait_for(lambda: (tmp_path / "started").exists(), 20, "the trial starts")
    assert trial_state(store, sweep_id, trial_id) is RunState.RUNNING
    assert store.trials.lapsed(sweep_id) == []  # renewed while the agent lives
    time.sleep(1.2)
    assert store.trials.lapsed(sweep_id) == []

    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(5)
    wait_for(lambda: store.trials.lapsed(sweep_id) == [trial_id], 3, "the lease lapses")
    assert trial_state(store, sweep_id, trial_id) is RunState.RUNNING  # until reaped
    assert store.trials.reap(sweep_id, trial_id)  # what the controller does
    assert trial_state(store, sweep_id, trial_id) is RunState.CRASHED


def test_the_first_sigint_lets_the_trial_finish_then_the_agent_exits(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    [first] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    [second] = store.trials.add(sweep_id, [{"x": 2}], epoch=epoch)
    assert first and second
    proc = agents.start(
        sweep_id,
        """
        def objective():
            open(os.path.join(HERE, "started"), "w").close()
            time.sleep(1.0)
            redsweep.log({"done": True})
        """,
        function="objective",
    )
    wait_for(lambda: (tmp_path / "started").exists(), 20, "the trial starts")
    os.kill(proc.pid, signal.SIGINT)
    result = agents.result(proc)
    assert (result["ran"], result["finished"], result["reason"]) == (1, 1, "interrupted")
    assert trial_state(store, sweep_id, first) is RunState.FINISHED
    assert store.reads.summary(sweep_id, first) == {"done": True}
    assert trial_state(store, sweep_id, second) is RunState.PENDING
    assert store.queue.length(sweep_id) == 1
    assert store.agents.live(sweep_id) == []
    assert "SIGINT: finishing the current trial" in agents.stderr(proc)


def test_the_first_sigint_amid_short_pipelined_trials_gives_back_every_trial_held(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    """Short trials are pipelined (the next trial held, the one after taken by a finish not
    read yet): after the first SIGINT the agent ends the trial it runs, reads what its
    finishes answered and gives back every trial it held: pending again, on the queue."""
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    ids = store.trials.add(sweep_id, [{"x": x} for x in range(200)], epoch=epoch)
    proc = agents.start(
        sweep_id, short_trials('{"x": redsweep.config.x}', marked_after=20), function="objective"
    )
    wait_for(lambda: (tmp_path / "ran-20").exists(), 20, "20 trials run")
    os.kill(proc.pid, signal.SIGINT)
    result = agents.result(proc)
    assert result["reason"] == "interrupted"
    states = Counter(store.reads.trial(sweep_id, t).state for t in ids)
    assert states == {RunState.FINISHED: result["finished"], RunState.PENDING: 200 - result["ran"]}
    assert store.queue.length(sweep_id) == 200 - result["ran"]  # each pending one queued
    assert store.agents.live(sweep_id) == []


def test_a_function_raising_keyboardinterrupt_gives_back_the_trial_taken_with_its_finish(
    store: Store, agents: Agents
) -> None:
    """No signal: the objective itself raises KeyboardInterrupt. Its finish took (and claimed)
    the next trial in the same round trip; the agent passes the interrupt on, but only after
    giving that trial back: it is pending again and on the queue, not left to lapse."""
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    [first] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    [second] = store.trials.add(sweep_id, [{"x": 2}], epoch=epoch)
    proc = agents.start(
        sweep_id,
        "def objective():\n    raise KeyboardInterrupt\n",
        function="objective",
    )
    code = proc.wait(timeout=30)
    _, err = agents.procs.output(proc)
    assert code != 0 and "KeyboardInterrupt" in err, err
    assert trial_state(store, sweep_id, first) is RunState.KILLED
    assert trial_state(store, sweep_id, second) is RunState.PENDING
    assert store.queue.length(sweep_id) == 1
    assert store.agents.live(sweep_id) == []


def test_a_long_trial_after_short_ones_gives_back_the_trial_held_for_after_it(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    """Short trials are pipelined: an agent holds the next trial claimed while it runs one.
    When the one it runs turns out long, the held trial goes back to the queue within
    HOLD_S, pending as the same attempt, and another agent runs it; it is never left to
    wait for the long trial, nor to lapse and crash."""
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    ids = store.trials.add(sweep_id, [{"x": x} for x in range(1, 7)], epoch=epoch)
    first = agents.start(
        sweep_id,
        """
        ran = 0
        def objective():
            global ran
            ran += 1
            if ran == 3:  # the first two are instant; the third waits for the test
                open(os.path.join(HERE, "blocked"), "w").close()
                while not os.path.exists(os.path.join(HERE, "release")):
                    time.sleep(0.01)
            redsweep.log({"x": redsweep.config.x})
        """,
        function="objective",
        lease_ms=LONG,
    )
    wait_for(lambda: (tmp_path / "blocked").exists(), 20, "the third trial starts")
    released = wait_for(
        lambda: [e for e in store.events.read(sweep_id, "test") if e.type == "release"],
        10,
        "the held trial is given back",
    )
    [held] = {e.trial_id for e in released}
    assert store.reads.trial(sweep_id, held).state is RunState.PENDING
    second = agents.start(sweep_id, "def objective():\n    pass\n", function="objective", count=3)
    assert agents.result(second)["finished"] == 3  # the held trial among them
    trials = {t.id: t for t in store.reads.trials(sweep_id)}
    assert trials[held].state is RunState.FINISHED and trials[held].attempt == 1
    running = [t.id for t in trials.values() if t.state is RunState.RUNNING]
    assert len(running) == 1  # the long one, still running
    (tmp_path / "release").touch()
    end_sweep(store, sweep_id)
    assert agents.result(first)["finished"] == 3
    assert sorted(t.state.value for t in store.reads.trials(sweep_id)) == ["finished"] * 6
    assert len(ids) == 6


def test_an_agent_says_at_once_that_its_background_controller_failed(
    store: Store, agents: Agents
) -> None:
    """A bug in the agent's background controller is printed on the agent's output as it
    happens (not when the session ends), once, with the error's type."""
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    proc = agents.start(
        sweep_id,
        """
        import redsweep.controller.controller as _controller

        def _broken_step(self):
            raise KeyError("boom")

        _controller.Controller.step = _broken_step

        def objective():
            pass
        """,
        function="objective",
    )
    err = wait_for_output(agents.procs, proc, "the sweep's controller failed")
    assert "the sweep's controller failed: KeyError: 'boom'" in err
    assert store.controllers.holder(sweep_id) is None  # released on the way out
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    assert agents.stderr(proc).count("controller failed") == 1


# ---- the in-trial API outside any sweep ----------------------------------------------------------


def test_a_local_run_outside_any_sweep_is_recorded_in_the_store(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    script = tmp_path / "solo.py"
    script.write_text(
        textwrap.dedent(
            """
            import redsweep.worker.api.functions as redsweep
            run = redsweep.init(project="solo", config={"lr": 0.1, "layers": [64, 32]})
            redsweep.log({"loss": 1.0})
            redsweep.log({"loss": 0.5}, commit=False)  # W&B: one row, two calls
            redsweep.log({"acc": redsweep.config.lr * 5})
            print(run.sweep_id, run.id)
            """
        )
    )
    env = {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url}
    proc = procs.spawn([sys.executable, str(script)], env=env, cwd=tmp_path)
    assert proc.wait(30) == 0, procs.output(proc)
    sweep_id, trial_id = procs.output(proc)[0].split()

    sweep = store.sweeps.get(sweep_id)
    assert (sweep.state, sweep.project, sweep.name) == (SweepState.FINISHED, "solo", "local run")
    trial = store.reads.trial(sweep_id, trial_id)
    assert trial.state is RunState.FINISHED
    assert trial.params == {"lr": 0.1, "layers": [64, 32]}
    assert store.reads.history(sweep_id, trial_id) == [
        {"loss": 1.0, "_step": 0},
        {"loss": 0.5, "acc": 0.5, "_step": 1},
    ]
    assert store.reads.summary(sweep_id, trial_id) == {"loss": 0.5, "acc": 0.5}


def test_a_local_run_that_raises_is_recorded_failed(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    script = tmp_path / "crash.py"
    script.write_text(
        "import redsweep.worker.api.functions as redsweep\n"
        "run = redsweep.init()\n"
        "print(run.sweep_id, run.id, flush=True)\n"
        "redsweep.log({'loss': 2.0})\n"
        "raise RuntimeError('boom')\n"
    )
    env = {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url}
    proc = procs.spawn([sys.executable, str(script)], env=env, cwd=tmp_path)
    assert proc.wait(30) == 1
    sweep_id, trial_id = procs.output(proc)[0].split()
    assert store.reads.trial(sweep_id, trial_id).state is RunState.FAILED
    assert store.reads.summary(sweep_id, trial_id) == {"loss": 2.0}
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED


def test_login_checks_the_connection_and_masks_the_password(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDSWEEP_REDIS_URL", raising=False)
    assert run_api.login(redis=redis_url) is True
    assert os.environ["REDSWEEP_REDIS_URL"] == redis_url  # later calls use it

    wrong = redis_url.replace(":redsweep-test-pw@", ":wrong-secret@")
    with pytest.raises(StoreError) as caught:
        run_api.login(redis=wrong)
    assert "wrong-secret" not in str(caught.value)
    assert "***" in str(caught.value)


def test_a_second_sigint_kills_the_running_command_and_leaves_no_process(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    (tmp_path / "loop.py").write_text(LOOP)
    sweep_id = store.sweeps.create(
        {"method": "random", "program": "loop.py", "parameters": {"x": {"value": 1}}}
    )
    epoch = hold_controller(store, sweep_id)
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert trial_id is not None
    proc = agents.start(sweep_id)
    pids_file = tmp_path / "pids.txt"
    wait_for(lambda: pids_file.exists() and pids_file.read_text(), 20, "the command starts")
    pids = [int(p) for p in pids_file.read_text().split()]

    os.kill(proc.pid, signal.SIGINT)
    # a second SIGINT still pending when the first is delivered would merge with it
    wait_for_output(agents.procs, proc, "SIGINT: finishing the current trial")
    assert all(alive(p) for p in pids)  # the first one lets the trial go on
    os.kill(proc.pid, signal.SIGINT)
    result = agents.result(proc)
    assert (result["ran"], result["killed"], result["reason"]) == (1, 1, "interrupted")
    assert trial_state(store, sweep_id, trial_id) is RunState.KILLED
    assert not any(alive(p) for p in pids)


def test_a_second_sigint_stops_an_in_process_function(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert trial_id is not None
    proc = agents.start(
        sweep_id,
        """
        def objective():
            open(os.path.join(HERE, "started"), "w").close()
            try:
                time.sleep(60)
            finally:
                open(os.path.join(HERE, "unwound"), "w").close()
        """,
        function="objective",
    )
    wait_for(lambda: (tmp_path / "started").exists(), 20, "the trial starts")
    os.kill(proc.pid, signal.SIGINT)
    wait_for_output(agents.procs, proc, "SIGINT: finishing the current trial")
    os.kill(proc.pid, signal.SIGINT)
    result = agents.result(proc, timeout=10)
    assert (result["ran"], result["killed"]) == (1, 1)
    assert trial_state(store, sweep_id, trial_id) is RunState.KILLED
    assert (tmp_path / "unwound").exists()


def test_an_agent_of_a_done_sweep_waits_for_the_retry_of_a_crash(
    store: Store, agents: Agents
) -> None:
    """Nothing pending or running, the grid done, but a trial crashed and the controller has
    not handled it yet: its retry may come, so the agent stays for it."""
    sweep_id = store.sweeps.create({"method": "grid", "parameters": {"x": {"values": [1]}}})
    epoch = hold_controller(store, sweep_id)
    [crashed] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "gone", 50)
    assert crashed is not None and taken is not None and taken.trial_id == crashed
    store.queue.ack(sweep_id, "gone", taken.entry)
    wait_for(lambda: store.trials.reap(sweep_id, crashed), 5, "the lease to lapse")
    store.sweeps.set_done_reason(sweep_id, "grid_exhausted")
    proc = agents.start(
        sweep_id,
        """
        def objective():
            redsweep.log({"done": True})
        """,
        function="objective",
    )
    wait_for(lambda: store.agents.live(sweep_id), 10, "the agent")
    time.sleep(1.5)  # it looks at the sweep and waits on the queue meanwhile
    assert proc.poll() is None, agents.stderr(proc)
    [retry] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch, attempt=2, retry_of=crashed)
    store.sweeps.set_crashes_handled(sweep_id, 1)
    result = agents.result(proc)
    assert (result["ran"], result["finished"]) == (1, 1)
    assert result["reason"] == "sweep done: grid_exhausted"
    assert trial_state(store, sweep_id, retry) is RunState.FINISHED
