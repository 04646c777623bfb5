"""A foreground controller rides out a Redis outage longer than a lease (the server stopped,
then restarted on its AOF): it says so in one line, carries on when Redis returns, and gives
the agents one lease of grace before it reaps anything, so a trial whose agent is alive and
renews (or delivers its finish) is not crashed and run again."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import STARTUP_S, redsweep_cmd, run_cli, wait_for, wait_for_output

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.server.local import LocalServer, free_port
from redsweep.shared.store import Store

PASSWORD = "outage-pw"
LEASE_MS = "1500"
LEASE_S = int(LEASE_MS) / 1000
TRAIN = """\
import os, time
import redsweep

redsweep.init()
a = redsweep.config.a
open(f"started-{a}", "w").close()
while not os.path.exists("gate"):
    time.sleep(0.05)
with open(f"done-{a}", "a") as fh:
    fh.write("x")
"""


class Restartable:
    """A redis-server with an AOF that a test stops and starts again on the same port."""

    def __init__(self, dir: Path) -> None:
        self.dir = dir
        self.port = free_port()
        self.server = LocalServer()
        self.url = f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.server = LocalServer().start(
            self.dir, unixsocket=False, port=self.port, password=PASSWORD, appendonly=True
        )

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def restartable(tmp_path: Path) -> Iterator[Restartable]:
    server = Restartable(tmp_path / "redis")
    server.dir.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def create(url: str, tmp_path: Path) -> str:
    (tmp_path / "train.py").write_text(TRAIN)
    config = {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "parameters": {"a": {"values": [1, 2]}},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    made = run_cli(url, "sweep", str(tmp_path / "sweep.yaml"), cwd=tmp_path, check=True)
    return made.stdout.strip().splitlines()[-1]


def outage(restartable: Restartable, procs: Any, ctl: Any) -> str:
    """Stop Redis until the controller says it is unreachable and a lease or more has passed
    (every lease key is then past its deadline when Redis returns on its AOF), start it
    again, and wait for the controller to say it is back: all it said."""
    restartable.stop()
    stopped = time.monotonic()
    wait_for_output(procs, ctl, "unreachable for", 60)
    wait_for(lambda: time.monotonic() >= stopped + 2 * LEASE_S, 10, "the outage to last")
    restartable.start()
    return wait_for_output(procs, ctl, "answers again; carrying on", 60)


def test_a_foreground_controller_rides_out_a_redis_restart_and_every_point_finishes_once(
    restartable: Restartable, tmp_path: Path, procs: Any
) -> None:
    """It used to exit: ``error: cannot reach Redis at redis://:***@…: Connection refused.``
    Agents stop their trials they cannot renew (self-fencing): those crash and run again, so
    each point's work is done once, by the run that finished."""
    url = restartable.url
    sweep_id = create(url, tmp_path)
    lease = ["--lease-ms", LEASE_MS]
    ctl = procs.spawn(redsweep_cmd(url, "controller", sweep_id, *lease), cwd=tmp_path)
    agents = [
        procs.spawn(redsweep_cmd(url, "agent", sweep_id, *lease), cwd=tmp_path) for _ in range(2)
    ]
    wait_for(
        lambda: (tmp_path / "started-1").exists() and (tmp_path / "started-2").exists(),
        4 * STARTUP_S,
        "both trials to start",
        procs=procs,
        watched=[ctl, *agents],
    )
    outage(restartable, procs, ctl)
    (tmp_path / "gate").touch()

    assert ctl.wait(timeout=60) == 0, procs.output(ctl)
    for agent in agents:
        assert agent.wait(timeout=60) == 0, procs.output(agent)
    out, err = procs.output(ctl)
    assert err.count("unreachable for") == 1, err  # one line per outage, not one per retry
    assert out.strip().splitlines()[-1] == f"sweep {sweep_id} is finished (grid_exhausted)", out
    store = Store.from_url(url)
    try:
        trials = store.reads.trials(sweep_id)
        info = store.sweeps.get(sweep_id)
    finally:
        store.close()
    finished = sorted(t.params["a"] for t in trials if t.state is RunState.FINISHED)
    assert finished == [1, 2], [(t.id, t.state.value, t.error) for t in trials]
    assert info.state is SweepState.FINISHED
    assert [(tmp_path / f"done-{a}").read_text() for a in (1, 2)] == ["x", "x"]


def test_after_an_outage_the_controller_gives_a_live_agent_a_lease_to_renew(
    restartable: Restartable, tmp_path: Path, procs: Any
) -> None:
    """The test plays the live agent: it holds a trial whose lease key lapsed while Redis was
    away. For a lease after Redis returns the controller reaps nothing, so the agent's
    renewal (renew.lua takes a lapsed lease again) and then its finish land."""
    url = restartable.url
    sweep_id = create(url, tmp_path)
    ctl = procs.spawn(redsweep_cmd(url, "controller", sweep_id, "--lease-ms", LEASE_MS))
    store = Store.from_url(url)
    try:
        wait_for(lambda: store.queue.length(sweep_id) == 2, 4 * STARTUP_S, "the grid queued",
                 procs=procs, watched=[ctl])  # fmt: skip
        held = store.queue.take(sweep_id, "agent-x", int(LEASE_MS))
        assert held is not None and held.trial_id and held.token
        store.queue.ack(sweep_id, "agent-x", held.entry)

        outage(restartable, procs, ctl)
        assert store.trials.lapsed(sweep_id) == [held.trial_id]  # its lease key is gone
        # well inside the grace: the trial stays running, however often the controller looks
        grace_end = time.monotonic() + 0.75 * LEASE_S
        while time.monotonic() < grace_end:
            assert store.reads.trial(sweep_id, held.trial_id).state is RunState.RUNNING
            time.sleep(0.05)
        assert store.trials.renew(sweep_id, held.trial_id, held.token, int(LEASE_MS)).ok
        assert store.trials.finish(
            sweep_id, held.trial_id, held.token, RunState.FINISHED, summary={"score": 1}
        )
        other = store.queue.take(sweep_id, "agent-x", int(LEASE_MS))
        assert other is not None and other.trial_id and other.token
        store.queue.ack(sweep_id, "agent-x", other.entry)
        assert store.trials.finish(sweep_id, other.trial_id, other.token, RunState.FINISHED)
        assert ctl.wait(timeout=60) == 0, procs.output(ctl)
        trials = store.reads.trials(sweep_id)
    finally:
        store.close()
    assert [t.state for t in trials] == [RunState.FINISHED, RunState.FINISHED]


def test_a_controller_runs_where_info_is_refused(redis_client: Any, redis_url: str) -> None:
    """Restarts are seen by INFO's run_id; a server whose ACL refuses INFO (a managed Redis)
    still gets a working controller, just without that check."""
    redis_client.execute_command(
        "ACL", "SETUSER", "infoless", "on", ">infoless-pw", "~*", "&*", "+@all", "-info"
    )
    try:
        host = redis_url.rsplit("@", 1)[1]
        store = Store.from_url(f"redis://infoless:infoless-pw@{host}")
        try:
            assert store.controllers.server_run() is None
            sweep_id = store.sweeps.create(
                {"method": "random", "parameters": {"x": {"values": [1]}}}
            )
            from redsweep.controller.controller import Controller

            controller = Controller(store, sweep_id, poll_ms=10, lease_ms=400)
            assert controller.acquire() and controller.step()
            assert store.queue.length(sweep_id) > 0  # it issued trials
            controller.release()
        finally:
            store.close()
    finally:
        redis_client.execute_command("ACL", "DELUSER", "infoless")


def test_a_controller_started_in_an_outage_waits_for_redis_and_then_runs_the_sweep(
    restartable: Restartable, tmp_path: Path, procs: Any
) -> None:
    """It used to exit at its first read: ``error: cannot reach Redis at …``."""
    url = restartable.url
    sweep_id = create(url, tmp_path)
    (tmp_path / "gate").touch()  # the trials end at once
    restartable.stop()
    ctl = procs.spawn(redsweep_cmd(url, "controller", sweep_id, "--lease-ms", LEASE_MS))
    wait_for_output(procs, ctl, "unreachable for", 60)
    assert ctl.poll() is None, procs.output(ctl)
    restartable.start()
    wait_for_output(procs, ctl, "answers again; carrying on", 60)
    agent = procs.spawn(redsweep_cmd(url, "agent", sweep_id, "--lease-ms", LEASE_MS), cwd=tmp_path)
    assert ctl.wait(timeout=60) == 0, procs.output(ctl)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    out, err = procs.output(ctl)
    assert err.count("unreachable for") == 1, err
    assert PASSWORD not in err
    assert out.strip().splitlines()[-1] == f"sweep {sweep_id} is finished (grid_exhausted)", out


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("http://127.0.0.1:1/0", "redis://"),  # not a Redis URL
        ("redis://:wrong-pw@127.0.0.1:{port}/0", "refused the credentials"),
    ],
    ids=["not-redis", "wrong-password"],
)
def test_a_controller_with_a_bad_url_fails_at_once_in_one_line(
    restartable: Restartable, url: str, said: str
) -> None:
    result = run_cli(
        url.format(port=restartable.port), "controller", "abcd1234", check=False, timeout=60
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0], result.stderr
    assert "unreachable" not in result.stderr
