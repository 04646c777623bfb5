"""Redis away under an agent and its command trials (the server stopped, then started again on
its append-only file): the agent waits the outage out and says so once; a trial still
running when its lease can no longer be trusted is stopped and ends crashed (its point runs
again, once), never failed; a trial that finished during the outage keeps its result, which
its agent delivers when Redis is back.

Leases are short (a few seconds) so the outages that outlast them stay short.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from agent_scripts import Agents
from helpers import STARTUP_S, alive, redsweep_cmd, run_cli, wait_for, wait_for_output

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.server.local import LocalServer, free_port
from redsweep.shared.store import Store

PASSWORD = "outage-test-pw"
OUTAGE_LINE = "unreachable for"

# init() 1.5 s after the trial starts (inside the outage, for the first point); its pid and
# its start in files, so the test can tell when it started and when it was stopped
LATE_INIT = """\
import os, sys, time
a = int(sys.argv[1].split("=", 1)[1])
with open(f"started-{a}-{os.getpid()}", "w") as fh:
    fh.write(str(time.time()))
time.sleep(1.5)
import redsweep
redsweep.init()
redsweep.log({"score": a})
"""

# init() at once; the score is logged after the test opens a gate (during the outage)
GATED = """\
import os, sys, time
import redsweep
run = redsweep.init()
with open(f"ready-{redsweep.config.a}", "w") as fh:
    fh.write(str(os.getpid()))
while not os.path.exists("go"):
    time.sleep(0.02)
redsweep.log({"score": redsweep.config.a * 10})
open(f"logged-{redsweep.config.a}", "w").close()
"""


class Redis:
    """A private server on a fixed port with append-only persistence: stopped and started
    again on the same data, as a Redis restart is."""

    def __init__(self, tmp_path: Path) -> None:
        self.dir = tmp_path / "redis"
        self.port = free_port()
        self.server = self.start()
        self.url = self.server.tcp_url
        assert self.url is not None

    def start(self) -> LocalServer:
        self.server = LocalServer().start(
            self.dir, unixsocket=False, port=self.port, password=PASSWORD, appendonly=True
        )
        return self.server

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[Redis]:
    made = Redis(tmp_path)
    try:
        yield made
    finally:
        made.stop()


def create(url: str, tmp_path: Path, script: str, values: list[int]) -> str:
    (tmp_path / "train.py").write_text(script)
    config = {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": values}},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    result = run_cli(url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    return result.stdout.strip().splitlines()[-1]


def wait_exit(procs, proc: subprocess.Popen, timeout: float = 90.0) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{proc.args} did not exit: {procs.output(proc)}") from None


def started(tmp_path: Path, a: int) -> list[int]:
    """Pids of the copies of point ``a`` that started."""
    return [int(p.name.rsplit("-", 1)[1]) for p in tmp_path.glob(f"started-{a}-*")]


def test_an_outage_longer_than_the_lease_during_init_ends_each_point_finished_once(
    redis: Redis, tmp_path: Path, procs
) -> None:
    sweep_id = create(redis.url, tmp_path, LATE_INIT, [1, 2])
    agent = procs.spawn(
        redsweep_cmd(redis.url, "agent", sweep_id, "--lease-ms", "2000"),
        cwd=tmp_path,
        # W&B's guard stops an agent at its first failure so: a crash of an outage is none
        env={"WANDB_AGENT_MAX_INITIAL_FAILURES": "1"},
    )
    first = wait_for(
        lambda: started(tmp_path, 1) or started(tmp_path, 2),
        2 * STARTUP_S,
        "the first trial to start",
        procs=procs,
        watched=[agent],
    )
    redis.stop()  # the trial calls init() in about 1.5 s: inside the outage
    # longer than the lease: the agent stops its trial (init() waits for Redis meanwhile)
    wait_for(lambda: not alive(first[0]), 30, "the agent to stop its trial", procs=procs,
             watched=[agent])  # fmt: skip
    wait_for_output(procs, agent, OUTAGE_LINE)
    redis.start()
    assert wait_exit(procs, agent) == 0, procs.output(agent)

    store = Store.from_url(redis.url)
    trials = store.reads.trials(sweep_id)
    finished = Counter(t.params["a"] for t in trials if t.state is RunState.FINISHED)
    assert finished == Counter({1: 1, 2: 1}), trials
    assert not [t for t in trials if t.state is RunState.FAILED], trials
    crashed = [t for t in trials if t.state is RunState.CRASHED]
    assert len(crashed) == 1, (trials, procs.output(agent))  # stopped in the outage, run again
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED
    for trial in trials:
        if trial.state is RunState.FINISHED:
            assert store.reads.summary(sweep_id, trial.id)["score"] == trial.params["a"]
    err = procs.output(agent)[1]
    said = [line for line in err.splitlines() if OUTAGE_LINE in line]
    assert len(said) == 1, err
    assert f"Redis at redis://:***@127.0.0.1:{redis.port}/0 unreachable for" in said[0], said
    assert PASSWORD not in err
    store.close()


def test_a_trial_that_finishes_while_redis_is_away_keeps_its_result(
    redis: Redis, tmp_path: Path, procs
) -> None:
    sweep_id = create(redis.url, tmp_path, GATED, [7])
    agent = procs.spawn(
        redsweep_cmd(redis.url, "agent", sweep_id, "--lease-ms", "6000"), cwd=tmp_path
    )
    ready = tmp_path / "ready-7"
    wait_for(ready.exists, 2 * STARTUP_S, "the trial's init()", procs=procs, watched=[agent])
    redis.stop()
    (tmp_path / "go").touch()  # the trial logs its score and exits, Redis away
    logged = tmp_path / "logged-7"
    wait_for(logged.exists, 30, "the trial to log its score", procs=procs, watched=[agent])
    pid = int(ready.read_text())
    wait_for(lambda: not alive(pid), 30, "the trial to exit", procs=procs, watched=[agent])
    wait_for_output(procs, agent, OUTAGE_LINE)  # its finish waits for Redis
    redis.start()
    assert wait_exit(procs, agent) == 0, procs.output(agent)

    store = Store.from_url(redis.url)
    [trial] = store.reads.trials(sweep_id)
    assert trial.state is RunState.FINISHED, trial
    assert store.reads.summary(sweep_id, trial.id)["score"] == 70
    assert [row["score"] for row in store.reads.history(sweep_id, trial.id)] == [70]
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED
    err = procs.output(agent)[1]
    assert len([line for line in err.splitlines() if OUTAGE_LINE in line]) == 1, err
    store.close()


FUNCTION = """\
def objective():
    redsweep.init()
    with open(os.path.join(HERE, "ready"), "w") as fh:
        fh.write(str(os.getpid()))
    while not os.path.exists(os.path.join(HERE, "go")):
        time.sleep(0.02)
    redsweep.log({"score": redsweep.config.a * 10})
    open(os.path.join(HERE, "logged"), "w").close()
"""


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "forked"])
def test_a_function_trial_that_finishes_while_redis_is_away_keeps_its_result(
    redis: Redis, tmp_path: Path, procs, isolate: bool
) -> None:
    config = {"method": "grid", "metric": {"name": "score"}, "parameters": {"a": {"values": [3]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    created = run_cli(redis.url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    sweep_id = created.stdout.strip().splitlines()[-1]
    agents = Agents(procs, tmp_path, redis.url)
    agent = agents.start(sweep_id, FUNCTION, function="objective", isolate=isolate, lease_ms=6000)
    ready = tmp_path / "ready"
    wait_for(ready.exists, 2 * STARTUP_S, "the trial's init()", procs=procs, watched=[agent])
    redis.stop()
    (tmp_path / "go").touch()  # the function logs its score and returns, Redis away
    wait_for((tmp_path / "logged").exists, 30, "the score logged", procs=procs, watched=[agent])
    wait_for_output(procs, agent, OUTAGE_LINE)  # its finish waits for Redis
    redis.start()
    result = agents.result(agent, timeout=90)
    assert result["ran"] == 1, result

    store = Store.from_url(redis.url)
    [trial] = store.reads.trials(sweep_id)
    assert trial.state is RunState.FINISHED, trial
    assert store.reads.summary(sweep_id, trial.id)["score"] == 30
    assert [row["score"] for row in store.reads.history(sweep_id, trial.id)] == [30]
    err = agents.stderr(agent)
    assert len([line for line in err.splitlines() if OUTAGE_LINE in line]) == 1, err
    store.close()


LOCAL = """\
import redsweep
run = redsweep.init(project="p", config={"lr": 0.1})
redsweep.log({"score": 0.5})
redsweep.finish()
print("done", run.id, run.sweep_id)
"""


def test_a_local_run_waits_for_redis_to_come_back(redis: Redis, tmp_path: Path, procs) -> None:
    (tmp_path / "local.py").write_text(LOCAL)
    redis.stop()  # away before init() even starts
    script = procs.spawn(
        [sys.executable, str(tmp_path / "local.py")],
        env={"REDSWEEP_REDIS_URL": redis.url},
        cwd=tmp_path,
    )
    wait_for_output(procs, script, OUTAGE_LINE)
    redis.start()
    assert wait_exit(procs, script, 60) == 0, procs.output(script)
    out, err = procs.output(script)
    _, run_id, sweep_id = out.split()
    store = Store.from_url(redis.url)
    assert store.reads.trial(sweep_id, run_id).state is RunState.FINISHED
    assert store.reads.summary(sweep_id, run_id)["score"] == 0.5
    assert len([line for line in err.splitlines() if OUTAGE_LINE in line]) == 1, err
    store.close()


# many rows, a summary override and a saved file: everything the exit path still has to
# store, with Redis away; it must hand it all to the agent and exit at once
GATED_RICH = """\
import os, sys, time
import redsweep
run = redsweep.init()
with open(f"ready-{redsweep.config.a}", "w") as fh:
    fh.write(str(os.getpid()))
while not os.path.exists("go"):
    time.sleep(0.02)
for step in range(50):
    redsweep.log({"score": redsweep.config.a * 10 + step})
run.summary["best"] = -1
with open("model.txt", "w") as fh:
    fh.write("weights")
redsweep.save("model.txt")
open(f"logged-{redsweep.config.a}", "w").close()
"""


def test_a_trial_finishing_in_an_outage_exits_before_its_fence_and_hands_everything_over(
    redis: Redis, tmp_path: Path, procs
) -> None:
    sweep_id = create(redis.url, tmp_path, GATED_RICH, [4])
    agent = procs.spawn(
        redsweep_cmd(redis.url, "agent", sweep_id, "--lease-ms", "3000"), cwd=tmp_path
    )
    ready = tmp_path / "ready-4"
    wait_for(ready.exists, 2 * STARTUP_S, "the trial's init()", procs=procs, watched=[agent])
    redis.stop()
    (tmp_path / "go").touch()  # the trial logs, sets its summary, saves a file, exits
    wait_for((tmp_path / "logged-4").exists, 30, "the trial's work", procs=procs, watched=[agent])
    pid = int(ready.read_text())
    wait_for(lambda: not alive(pid), 30, "the trial to exit", procs=procs, watched=[agent])
    wait_for_output(procs, agent, OUTAGE_LINE)  # its finish waits for Redis
    redis.start()
    assert wait_exit(procs, agent) == 0, procs.output(agent)

    store = Store.from_url(redis.url)
    trials = store.reads.trials(sweep_id)
    # stopped while exiting it would have ended crashed, and run again (work done twice)
    assert [t.state for t in trials] == [RunState.FINISHED], (trials, procs.output(agent))
    [trial] = trials
    summary = store.reads.summary(sweep_id, trial.id)
    assert summary["best"] == -1, summary
    assert "model.txt" in summary.get("_files", []), summary
    assert [row["score"] for row in store.reads.history(sweep_id, trial.id)] == list(range(40, 90))
    store.close()


@pytest.mark.parametrize("seen", [True, False], ids=["outage-seen", "restart-unseen"])
def test_an_idle_agents_reaper_gives_live_trials_a_lease_after_an_outage(
    redis: Redis, seen: bool
) -> None:
    """A live agent's trial whose lease lapsed while Redis was away is not crashed by an idle
    agent's reaper before that agent could renew it (one lease), whether the reaper's agent
    saw the outage itself or only finds Redis restarted; after the lease it is reaped."""
    from redsweep.errors import UnreachableError
    from redsweep.shared.store.outage import Outage
    from redsweep.worker.agent.reaper import Reaper

    lease_ms = 1500
    store = Store.from_url(redis.url, socket_timeout=1.0, retries=0)
    sweep_id = store.sweeps.create({"method": "grid", "parameters": {"a": {"values": [1]}}})
    epoch = store.controllers.acquire(sweep_id, "ctl", 1000)
    [trial_id] = store.trials.add(sweep_id, [{"a": 1}], epoch=epoch)
    claimed = store.trials.claim(sweep_id, trial_id, 1, "live-agent", lease_ms)
    assert claimed is not None
    said: list[str] = []
    outage = Outage(store.url, said.append)
    reaper = Reaper(store, sweep_id, say=said.append, lease_ms=lease_ms, outage=outage)
    assert reaper.now() == []  # it knows the server now
    redis.stop()
    if seen:  # the idle agent's loop finds Redis away, as the session's loop does
        with pytest.raises(UnreachableError):
            reaper.now()
        outage.failed()
    redis.start()
    # the controller's lease and the trial's lapsed during the outage (or just after it)
    wait_for(lambda: store.trials.lapsed(sweep_id) == [trial_id], 30, "the lease to lapse")
    assert store.controllers.holder(sweep_id) is None
    assert reaper.now() == [], said  # grace: the live agent renews meanwhile
    assert store.trials.renew(sweep_id, trial_id, claimed[0], lease_ms).ok
    assert store.reads.trial(sweep_id, trial_id).state is RunState.RUNNING
    # a trial whose agent does not come back is reaped once the grace is over
    wait_for(lambda: reaper.now() == [trial_id], 30, "the reaper to crash the lapsed trial")
    assert store.reads.trial(sweep_id, trial_id).state is RunState.CRASHED
    store.close()


# the script's own teardown (atexit, registered before init(): it runs after redsweep's
# finish) outlasts the agent's self-fencing deadline in an outage: the work is done
SLOW_TEARDOWN = """\
import atexit, os, time

def teardown():
    open(f"tearing-down-{os.getpid()}", "w").close()
    while not os.path.exists("never"):
        time.sleep(0.05)

atexit.register(teardown)
import redsweep
run = redsweep.init()
with open(f"ready-{redsweep.config.a}", "w") as fh:
    fh.write(str(os.getpid()))
while not os.path.exists("go"):
    time.sleep(0.02)
redsweep.log({"score": redsweep.config.a})
run.summary["best"] = -1
with open("work", "a") as fh:
    fh.write("x")
"""


def test_a_trial_fenced_after_its_objective_ended_is_recorded_finished_not_run_again(
    redis: Redis, tmp_path: Path, procs
) -> None:
    sweep_id = create(redis.url, tmp_path, SLOW_TEARDOWN, [6])
    agent = procs.spawn(
        redsweep_cmd(redis.url, "agent", sweep_id, "--lease-ms", "3000"), cwd=tmp_path
    )
    ready = tmp_path / "ready-6"
    wait_for(ready.exists, 2 * STARTUP_S, "the trial's init()", procs=procs, watched=[agent])
    pid = int(ready.read_text())
    redis.stop()
    (tmp_path / "go").touch()
    wait_for((tmp_path / f"tearing-down-{pid}").exists, 30, "the script's teardown",
             procs=procs, watched=[agent])  # fmt: skip
    # its agent cannot renew the lease: it stops the trial, in its teardown
    wait_for(lambda: not alive(pid), 30, "the agent to stop its trial", procs=procs,
             watched=[agent])  # fmt: skip
    wait_for_output(procs, agent, OUTAGE_LINE)
    redis.start()
    assert wait_exit(procs, agent) == 0, procs.output(agent)

    store = Store.from_url(redis.url)
    trials = store.reads.trials(sweep_id)
    assert [t.state for t in trials] == [RunState.FINISHED], (trials, procs.output(agent))
    assert (tmp_path / "work").read_text() == "x"  # done once
    summary = store.reads.summary(sweep_id, trials[0].id)
    assert summary["score"] == 6 and summary["best"] == -1, summary
    store.close()
