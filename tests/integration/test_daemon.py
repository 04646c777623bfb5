"""Worker daemons (``redsweep worker``) serving launched agent sessions, as real processes
against the suite's private Redis over TCP with a password."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import yaml
from helpers import STARTUP_S, redsweep_cmd, run_cli, wait_for, wait_for_output
from rq.job import Job, JobStatus
from rq.queue import Queue

from redsweep.shared.protocol import MsgpackSerializer
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.server.local import LocalServer, free_port
from redsweep.shared.store import Store, keys
from redsweep.worker.daemon.job import stop_sessions

TRAIN = """\
import os, time
import redsweep

redsweep.init()
c = redsweep.config
gate = os.environ.get("TRIAL_GATE")  # a file: the trial waits for it (at most two minutes)
deadline = time.monotonic() + 120
while gate and not os.path.exists(gate) and time.monotonic() < deadline:
    time.sleep(0.05)
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0.2")))
redsweep.log({"score": c.a * 10 + c.b, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES", "-")})
"""


def create(url: str, tmp_path: Path, a: list, b: list, name: str = "sweep", **extra) -> str:
    (tmp_path / "train.py").write_text(TRAIN)
    config = {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": a}, "b": {"values": b}},
        **extra,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_cli(url, "sweep", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def launch(url: str, tmp_path: Path, sweep_id: str, *args: str) -> str:
    result = run_cli(url, "launch", sweep_id, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def finished(store: Store, sweep_id: str) -> bool:
    return store.sweeps.get(sweep_id).state is SweepState.FINISHED


def points(store: Store, sweep_id: str) -> Counter:
    return Counter(
        (t.params["a"], t.params["b"])
        for t in store.reads.trials(sweep_id)
        if t.state is RunState.FINISHED
    )


def daemon(procs, url: str, tmp_path: Path, *args: str, env: dict | None = None):
    proc = procs.spawn(
        redsweep_cmd(url, "worker", *args), cwd=tmp_path, env={"TRIAL_SLEEP": "0.2", **(env or {})}
    )
    return proc


def test_two_daemons_with_two_slots_serve_two_sweeps_on_one_pool(store, redis_url, tmp_path, procs):
    # every trial waits at the gate until all four slots were seen busy at once: on a loaded
    # machine one sweep could otherwise be done before the other's sessions have started
    gate = tmp_path / "go"
    env = {"TRIAL_SLEEP": "0.1", "TRIAL_GATE": str(gate)}
    daemons = [daemon(procs, redis_url, tmp_path, "--slots", "2", env=env) for _ in range(2)]
    first = create(redis_url, tmp_path, [1, 2, 3], [0, 1, 2], "first")
    second = create(redis_url, tmp_path, [4, 5], [0, 1, 2], "second")
    assert "2 agent sessions" in launch(redis_url, tmp_path, first, "-n", "2")
    launch(redis_url, tmp_path, second, "-n", "2")

    def busy_slots() -> str | None:
        out = run_cli(redis_url, "workers", cwd=tmp_path).stdout
        return out if out.count(": sweep ") == 4 else None

    # two daemons, then four sessions (and their first trials) start, side by side
    listing = wait_for(busy_slots, STARTUP_S * (len(daemons) + 4), "all four slots busy")
    assert listing.count("2 slots") == 2  # both daemons, each with its slots
    assert listing.count(f"sweep {first}") == 2 and listing.count(f"sweep {second}") == 2
    gate.touch()
    # 15 trials, each its own process, on four slots: about four start-ups one after another
    wait_for(
        lambda: finished(store, first) and finished(store, second), STARTUP_S * 4, "both sweeps"
    )
    assert points(store, first) == Counter({(a, b): 1 for a in (1, 2, 3) for b in range(3)})
    assert points(store, second) == Counter({(a, b): 1 for a in (4, 5) for b in range(3)})
    # four sessions, one per slot, each ran trials; when done every slot is free again
    workers = {t.worker for s in (first, second) for t in store.reads.trials(s)}
    assert len(workers) == 4
    wait_for(
        lambda: run_cli(redis_url, "workers", cwd=tmp_path).stdout.count(": idle") == 4,
        15,
        "idle slots",
    )
    for proc in daemons:
        assert proc.poll() is None  # daemons outlive the sweeps they served


def test_gpus_give_each_slot_only_its_device(store, redis_url, tmp_path, procs):
    daemon(procs, redis_url, tmp_path, "--gpus", "0,1", env={"CUDA_VISIBLE_DEVICES": "0,1,2,3"})
    sweep_id = create(redis_url, tmp_path, [1, 2], [0, 1, 2])
    launch(redis_url, tmp_path, sweep_id, "-n", "2")
    # a daemon, then on each slot a session and three trials, one after another
    wait_for(lambda: finished(store, sweep_id), STARTUP_S * 5, "the sweep")
    seen: dict[str, set] = {}
    for t in store.reads.trials(sweep_id):
        seen.setdefault(t.worker, set()).add(store.reads.summary(sweep_id, t.id)["gpu"])
    # each session saw exactly one device, and the two sessions saw 0 and 1
    assert sorted(v for devices in seen.values() for v in devices) == ["0", "1"]
    assert all(len(devices) == 1 for devices in seen.values())
    listing = run_cli(redis_url, "workers", cwd=tmp_path).stdout
    assert "GPUs 0,1" in listing and "slot 0 [GPU 0]" in listing and "slot 1 [GPU 1]" in listing


def test_a_hand_pushed_job_is_refused_and_nothing_runs(store, redis_url, tmp_path, procs):
    daemon(procs, redis_url, tmp_path)
    conn = redis.Redis.from_url(redis_url)
    name = keys.pool_queue("default")
    marker, pickled_marker = tmp_path / "pwned", tmp_path / "pwned-pickle"
    msgpack_job = Queue(name, connection=conn, serializer=MsgpackSerializer).enqueue(
        "os.system", f"touch {marker}"
    )
    pickle_job = Queue(name, connection=conn).enqueue(os.system, f"touch {pickled_marker}")

    def status(job_id: str) -> JobStatus:
        return Job.fetch(job_id, connection=conn, serializer=MsgpackSerializer).get_status()

    for job in (msgpack_job, pickle_job):
        wait_for(lambda job=job: status(job.id) is JobStatus.FAILED, 30, f"job {job.id} failed")
    refused = Job.fetch(msgpack_job.id, connection=conn, serializer=MsgpackSerializer)
    reason = refused.latest_result().exc_string
    assert "refused job" in reason and "'os.system'" in reason and "nothing ran" in reason
    reason = Job.fetch(pickle_job.id, connection=conn, serializer=MsgpackSerializer)
    assert "not redsweep's msgpack" in reason.latest_result().exc_string
    assert not marker.exists() and not pickled_marker.exists()
    # the daemon still serves real sessions
    sweep_id = create(redis_url, tmp_path, [1], [0, 1])
    launch(redis_url, tmp_path, sweep_id)
    wait_for(lambda: finished(store, sweep_id), STARTUP_S * 3, "the sweep")  # a session, 2 trials
    conn.close()


def test_a_function_objective_cannot_be_launched(store, redis_url, tmp_path):
    path = tmp_path / "fn.yaml"
    path.write_text(yaml.safe_dump({"method": "grid", "parameters": {"a": {"values": [1]}}}))
    sweep_id = run_cli(redis_url, "sweep", str(path), cwd=tmp_path).stdout.strip().splitlines()[-1]
    result = run_cli(redis_url, "launch", sweep_id, "-n", "2", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "cannot travel" in result.stderr
    assert len(Queue(keys.pool_queue("default"), connection=store.client)) == 0


def test_a_daemon_survives_its_redis_restarting(tmp_path, procs):
    port = free_port()
    server = LocalServer().start(
        tmp_path / "redis", unixsocket=False, port=port, password="pw", appendonly=True
    )
    try:
        url = server.tcp_url
        store = Store.from_url(url)
        sweep_id = create(url, tmp_path, [1, 2, 3], [0, 1])
        daemon(procs, url, tmp_path, env={"TRIAL_SLEEP": "0.5"})
        launch(url, tmp_path, sweep_id)
        wait_for(  # a daemon, a session, then two trials one after another
            lambda: store.sweeps.get(sweep_id).count(RunState.FINISHED) >= 2,
            STARTUP_S * 4,
            "2 runs",
        )
        server.stop()
        time.sleep(1.0)
        server = LocalServer().start(
            tmp_path / "redis", unixsocket=False, port=port, password="pw", appendonly=True
        )
        wait_for(lambda: finished(store, sweep_id), 90, "the sweep after the restart")
        assert points(store, sweep_id) == Counter({(a, b): 1 for a in (1, 2, 3) for b in (0, 1)})
        store.close()
    finally:
        server.stop()


def test_a_daemon_waits_out_a_long_outage_saying_so_once(tmp_path, procs):
    """Redis away for several of RQ's retries: the daemon says so in one line (RQ's own line
    once, not once per retry), says when Redis answers again, and its slot serves a sweep
    launched after that."""
    port = free_port()
    start = dict(unixsocket=False, port=port, password="pw", appendonly=True)
    server = LocalServer().start(tmp_path / "redis", **start)
    try:
        url = server.tcp_url
        proc = daemon(procs, url, tmp_path)
        wait_for_output(procs, proc, "Listening on", STARTUP_S * 2, stream="stdout")
        server.stop()
        stopped = time.monotonic()
        wait_for_output(procs, proc, "unreachable for", 60)
        # the outage (the fault itself) outlasts several of RQ's retries (at most 5 s apart)
        wait_for(lambda: time.monotonic() >= stopped + 15, 30, "the outage to last")
        server = LocalServer().start(tmp_path / "redis", **start)
        wait_for_output(procs, proc, "answers again; carrying on", 60)
        store = Store.from_url(url)
        sweep_id = create(url, tmp_path, [1], [0, 1])
        launch(url, tmp_path, sweep_id)
        wait_for(lambda: finished(store, sweep_id), STARTUP_S * 3, "the sweep after the outage")
        store.close()
        out, err = procs.output(proc)
        assert err.count("unreachable for") == 1, err
        assert out.count("could not connect to Redis instance") <= 1, out
        assert proc.poll() is None
    finally:
        server.stop()


def test_sigterm_drains_a_daemon(store, redis_url, tmp_path, procs):
    proc = daemon(procs, redis_url, tmp_path, env={"TRIAL_SLEEP": "2.5"})
    sweep_id = create(redis_url, tmp_path, [1, 2, 3], [0])
    launch(redis_url, tmp_path, sweep_id)
    running = wait_for(
        lambda: [t for t in store.reads.trials(sweep_id) if t.state is RunState.RUNNING],
        STARTUP_S * 3,  # a daemon, a session, its trial
        "a running trial",
    )
    proc.send_signal(signal.SIGTERM)  # the daemon only: it drains its slots
    # draining waits for the running trial and RQ's teardown: slow on a loaded machine
    assert proc.wait(timeout=60) == 0, procs.output(proc)
    # the running trial finished; no other trial started; the sweep is left for others
    assert store.reads.trial(sweep_id, running[0].id).state is RunState.FINISHED
    assert store.sweeps.get(sweep_id).count(RunState.RUNNING) == 0
    assert points(store, sweep_id) == Counter({(running[0].params["a"], 0): 1})
    assert store.daemons.live() == []
    assert "drained" in procs.output(proc)[1]


@pytest.mark.parametrize("message", [True, False], ids=["stop-job", "stored-state-only"])
def test_canceling_a_sweep_ends_its_sessions(store, redis_url, tmp_path, procs, message):
    daemon(procs, redis_url, tmp_path, env={"TRIAL_SLEEP": "60"})
    sweep_id = create(redis_url, tmp_path, [1, 2], [0])
    launch(redis_url, tmp_path, sweep_id)
    wait_for(  # a daemon, a session, its trial
        lambda: store.sweeps.get(sweep_id).count(RunState.RUNNING), STARTUP_S * 3, "a running trial"
    )
    started = time.monotonic()
    store.sweeps.set_state(
        sweep_id, SweepState.CANCELED, allowed_from=[SweepState.RUNNING, SweepState.PENDING]
    )
    if message:
        assert stop_sessions(store, sweep_id) == 1
    wait_for(
        lambda: run_cli(redis_url, "workers", cwd=tmp_path).stdout.count(": idle") == 1,
        20,
        "the slot to be free",
    )
    assert time.monotonic() - started < 20  # not the 60 s the trial would take
    # the trial's process is gone with its session
    wait_for(lambda: not trial_processes(tmp_path), 10, "the trial's process to end")


def trial_processes(tmp_path: Path) -> list[int]:
    """Processes running this test's train.py (Linux /proc)."""
    script = str(tmp_path / "train.py")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if script in cmdline:
            found.append(int(entry.name))
    return found


def test_launch_passes_retries_to_its_sessions_and_the_daemon_runs_them(
    store, redis_url, tmp_path, procs
):
    sweep_id = create(redis_url, tmp_path, [1], [0, 1])
    said = launch(redis_url, tmp_path, sweep_id, "--retries", "0")
    assert "a crashed trial retried 0 times" in said
    (tmp_path / "more.yaml").write_text((tmp_path / "sweep.yaml").read_text())
    made = run_cli(redis_url, "sweep", "more.yaml", "--launch", "1", "--retries", "3", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "a crashed trial retried 3 times" in made.stdout
    other = made.stdout.strip().splitlines()[-1]
    queue = Queue(keys.pool_queue("default"), connection=store.client, serializer=MsgpackSerializer)
    sessions = {job.args[0]: job.kwargs for job in queue.jobs}
    assert sessions == {
        sweep_id: {"count": None, "retries": 0},
        other: {"count": None, "retries": 3},
    }

    daemon(procs, redis_url, tmp_path)  # takes both sessions (not refused) and runs them
    for sweep in (sweep_id, other):
        wait_for(lambda s=sweep: finished(store, s), STARTUP_S * 3, f"sweep {sweep}", procs=procs)
    assert points(store, sweep_id) == points(store, other) == Counter({(1, 0): 1, (1, 1): 1})
