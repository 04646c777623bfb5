"""A run whose agent was SIGKILLed with nothing else running: what `status` and `runs` say of
it (without writing anything), and the agent that recovers it, on a running and on a stopped
sweep. Real processes on the suite's private Redis, short leases."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import redis
import yaml
from helpers import redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store, keys

LEASE = ["--lease-ms", "1000"]
MARKER = "slow-started"  # the first trial to see it missing makes it and sleeps; others are quick
TRAIN = """\
import os, time
import redsweep

redsweep.init()
if not os.path.exists(os.environ["SLOW_FIRST"]):
    open(os.environ["SLOW_FIRST"], "w").close()
    time.sleep(600)
redsweep.log({"score": redsweep.config.a})
"""


def create(url: str, tmp_path: Path) -> str:
    (tmp_path / "train.py").write_text(TRAIN)
    config = {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2]}},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    result = run_cli(url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    return result.stdout.strip().splitlines()[-1]


def kill_mid_trial(store: Store, url: str, sweep_id: str, tmp_path: Path, procs, *, stop=False):
    """Run an agent until its first trial sleeps, (``stop`` the sweep,) SIGKILL the agent and
    its trial; return the trial once its lease lapsed."""
    marker = tmp_path / MARKER
    victim = procs.spawn(
        redsweep_cmd(url, "agent", sweep_id, *LEASE), cwd=tmp_path, env={"SLOW_FIRST": str(marker)}
    )
    wait_for(marker.exists, 30, "the first trial to start", procs=procs, watched=[victim])
    [running] = wait_for(
        lambda: [t for t in store.reads.trials(sweep_id) if t.state is RunState.RUNNING],
        10,
        "the running trial",
    )
    if stop:
        run_cli(url, "stop", sweep_id, check=True)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    wait_for(lambda: store.trials.lapsed(sweep_id) == [running.id], 15, "the lease to lapse")
    return running


def agent(url: str, sweep_id: str, tmp_path: Path) -> str:
    """Run ``redsweep agent`` to its end (exit 0); what it wrote to stderr."""
    env = {**os.environ, "SLOW_FIRST": str(tmp_path / MARKER)}
    return run_cli(url, "agent", sweep_id, *LEASE, cwd=tmp_path, env=env, check=True).stderr


def dump(client: redis.Redis) -> dict[bytes, bytes]:
    """Every key without a TTL (what no clock changes) as DUMP has it: type, value, and for
    streams their consumer groups."""
    return {k: client.dump(k) for k in client.scan_iter(count=1000) if client.pttl(k) == -1}


def test_status_and_runs_say_a_killed_agents_run_lapsed_and_a_new_agent_recovers_it(
    store, redis_client, redis_url, tmp_path, procs
):
    sweep_id = create(redis_url, tmp_path)
    running = kill_mid_trial(store, redis_url, sweep_id, tmp_path, procs)
    # the victim's background controller held the lease for the agent's lease: gone too
    wait_for(lambda: store.controllers.holder(sweep_id) is None, 15, "the controller lease")
    before = dump(redis_client)
    one = run_cli(redis_url, "status", sweep_id, check=True).stdout
    every = run_cli(redis_url, "status", check=True).stdout
    table = run_cli(redis_url, "runs", sweep_id, check=True).stdout
    runs = json.loads(run_cli(redis_url, "runs", sweep_id, "--json", check=True).stdout)
    status = json.loads(run_cli(redis_url, "status", sweep_id, "--json", check=True).stdout)
    assert dump(redis_client) == before  # status and runs only read

    recover = (
        f"no controller holds the sweep: start `redsweep agent {sweep_id}` or "
        f"`redsweep controller {sweep_id}` to crash and retry it"
    )
    for text in (one, table):
        assert f"run {running.id} is running but its lease lapsed at " in text, text
        assert "ago): its agent is gone" in text
        assert recover in text
    assert f"{running.id}  running (lapsed)" in table
    assert "1 (1 lapsed)" in every and f"sweep {sweep_id}: {recover}" in every
    lease_until = int(redis_client.hget(keys.trial(sweep_id, running.id), "lease_until"))
    assert running.claimed_ms is not None and lease_until > running.claimed_ms
    [lapsed] = [r for r in runs if r["id"] == running.id]
    assert (lapsed["state"], lapsed["lapsed"]) == ("running", True)
    assert lapsed["lapsed_since_ms"] == lease_until <= store.server_time_ms()
    assert not any(r["lapsed"] for r in runs if r["id"] != running.id)
    assert (status["lapsed_runs"], status["controller"]) == ([running.id], None)

    # a new agent crashes it and runs its retry (and the point still pending) to the end
    said = agent(redis_url, sweep_id, tmp_path)
    assert "ran 2 trials" in said, said
    crashed = store.reads.trial(sweep_id, running.id)
    assert crashed.state is RunState.CRASHED
    [retry] = [t for t in store.reads.trials(sweep_id) if t.retry_of == running.id]
    assert (retry.state, retry.attempt, retry.params) == (RunState.FINISHED, 2, crashed.params)
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED
    after = run_cli(redis_url, "status", sweep_id, check=True).stdout
    assert "lapsed" not in after and "2 finished, 1 crashed" in after


def test_an_agent_crashes_the_lapsed_run_of_a_stopped_sweep_which_no_controller_runs(
    store, redis_url, tmp_path, procs
):
    sweep_id = create(redis_url, tmp_path)
    running = kill_mid_trial(store, redis_url, sweep_id, tmp_path, procs, stop=True)
    status = run_cli(redis_url, "status", sweep_id, check=True).stdout
    assert f"run {running.id} is running but its lease lapsed at " in status
    assert (
        "the sweep is finished, so no controller runs on it: start "
        f"`redsweep agent {sweep_id}` to crash it (a finished sweep runs no retry)"
    ) in status
    # a controller leaves the sweep as it is (it is over); an agent crashes the run and leaves
    said = agent(redis_url, sweep_id, tmp_path)
    assert f"run {running.id} of sweep {sweep_id} crashed: its lease lapsed" in said, said
    assert "ran 0 trials" in said
    assert store.reads.trial(sweep_id, running.id).state is RunState.CRASHED
    assert not [t for t in store.reads.trials(sweep_id) if t.retry_of]  # stopped: no retry
    info = store.sweeps.get(sweep_id)
    assert info.state is SweepState.FINISHED and info.count(RunState.RUNNING) == 0
    assert "lapsed" not in run_cli(redis_url, "status", sweep_id, check=True).stdout


def test_claim_renew_and_report_keep_the_lease_deadline_on_the_trial(store: Store) -> None:
    sweep_id = store.sweeps.create({"method": "random"})
    epoch = store.controllers.acquire(sweep_id, "ctl", 30_000)
    assert epoch is not None
    [trial_id] = store.trials.add(sweep_id, [{"a": 1}], epoch=epoch)
    claimed = store.trials.claim(sweep_id, trial_id, 1, "a1", 400)
    assert claimed is not None
    token = claimed[0]
    first = store.reads.trial(sweep_id, trial_id)
    assert first.claimed_ms is not None and first.lease_until_ms == first.claimed_ms + 400
    assert store.trials.renew(sweep_id, trial_id, token, 60_000).ok
    renewed = store.reads.trial(sweep_id, trial_id).lease_until_ms
    assert renewed is not None and renewed >= first.claimed_ms + 60_000
    assert store.trials.report(sweep_id, trial_id, token, [(0, {"x": 1})], lease_ms=90_000).ok
    reported = store.reads.trial(sweep_id, trial_id).lease_until_ms
    assert reported is not None and reported >= first.claimed_ms + 90_000
    # the key's expiry and the recorded deadline agree (server time, to the ms)
    ttl = store.conn.client.pttl(keys.trial_lease(sweep_id, trial_id))
    assert abs(store.server_time_ms() + ttl - reported) <= 50
