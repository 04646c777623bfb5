"""Several hosts for real: Linux network namespaces joined by veth pairs make a Redis host and
two worker hosts, each with its own address. Daemons on the worker hosts serve a launched
sweep; cutting one worker host's link mid-trial gets that trial crashed and run again on the
other host, and every grid point is finished exactly once.

Only addresses inside the namespaces this test creates are used (10.231.1.0/24 and
10.231.2.0/24 exist nowhere else); everything is removed again in every path. Needs root (or
CAP_NET_ADMIN and CAP_SYS_ADMIN); skipped with the reason otherwise. ``.ci/run`` runs as root.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import pytest
import yaml
from helpers import STARTUP_S, redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.server.local import find_server_binary
from redsweep.shared.store import Store

PASSWORD = "netns-test-pw"
TRAIN = """\
import os, time
import redsweep

redsweep.init()
redsweep.log({"host": os.environ["HOST_TAG"], "step": 0})
time.sleep(2.0)
redsweep.log({"score": redsweep.config.a, "host": os.environ["HOST_TAG"]})
"""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    probe = f"rsprobe{os.getpid()}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"cannot create a network namespace here: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class Hosts:
    """A Redis host and two worker hosts; each worker host has a veth link to the Redis host."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.redis_ns = f"rs{tag}r"
        self.worker_ns = {"w1": f"rs{tag}1", "w2": f"rs{tag}2"}
        # worker host -> (its veth end, its address, the Redis host's address on that link)
        self.links = {
            "w1": (f"v{tag}1w", "10.231.1.2", "10.231.1.1"),
            "w2": (f"v{tag}2w", "10.231.2.2", "10.231.2.1"),
        }
        self._peers = {"w1": f"v{tag}1r", "w2": f"v{tag}2r"}
        self.created: list[str] = []

    def build(self) -> None:
        for ns in (self.redis_ns, *self.worker_ns.values()):
            _ip("netns", "add", ns)
            self.created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        for host, (veth, address, redis_address) in self.links.items():
            ns, peer = self.worker_ns[host], self._peers[host]
            # created inside the worker namespace, so nothing ever appears in the host's
            _ip("-n", ns, "link", "add", veth, "type", "veth", "peer", "name", peer)
            _ip("-n", ns, "link", "set", peer, "netns", self.redis_ns)
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", veth)
            _ip("-n", self.redis_ns, "addr", "add", f"{redis_address}/24", "dev", peer)
            _ip("-n", ns, "link", "set", veth, "up")
            _ip("-n", self.redis_ns, "link", "set", peer, "up")

    def cut(self, host: str) -> None:
        """Pull the worker host's cable: its link goes down, nothing reaches Redis."""
        _ip("-n", self.worker_ns[host], "link", "set", self.links[host][0], "down")

    def exec_argv(self, ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def destroy(self) -> None:
        """Kill every process left in the namespaces, then delete them (and so the links)."""
        for ns in self.created:
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + 10
        for ns in self.created:
            while _ip("netns", "pids", ns, check=False).stdout.split():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            _ip("netns", "del", ns, check=False)
        self.created.clear()


@pytest.fixture
def hosts(procs) -> Iterator[Hosts]:
    """The three hosts; torn down before ``procs``, so what runs inside them dies first."""
    reason = _skip_reason()
    if reason is not None:
        pytest.skip(reason)
    made = Hosts()
    try:
        made.build()
        yield made
    finally:
        made.destroy()
        left = set(_ip("netns", "list", check=False).stdout.split())
        assert not left & {made.redis_ns, *made.worker_ns.values()}


def test_a_cut_worker_host_loses_its_trial_to_the_other_host(hosts, tmp_path, procs):
    sock = tmp_path / "redis.sock"
    conf = tmp_path / "redis.conf"
    addresses = " ".join(link[2] for link in hosts.links.values())
    conf.write_text(
        f'bind {addresses}\nport 6379\nprotected-mode no\nsave ""\nappendonly no\n'
        f"unixsocket {sock}\nunixsocketperm 700\nrequirepass {PASSWORD}\ndir {tmp_path}\n"
    )
    conf.chmod(0o600)
    redis_proc = procs.spawn(hosts.exec_argv(hosts.redis_ns, [find_server_binary(), str(conf)]))
    local_url = f"unix://:{PASSWORD}@{sock}?db=0"  # the test's own view, through the socket
    store = Store.from_url(local_url)
    wait_for(store.ping, STARTUP_S, "the Redis host", procs=procs, watched=[redis_proc])

    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "sweep.yaml").write_text(
        yaml.safe_dump(
            {
                "program": str(tmp_path / "train.py"),
                "method": "grid",
                "metric": {"name": "score"},
                "parameters": {"a": {"values": [1, 2, 3, 4]}},
            }
        )
    )
    # on the Redis host, through the socket
    ctl = procs.spawn(redsweep_cmd(local_url, "controller", "--all"), cwd=tmp_path)
    daemons = {}
    for host, (_, _, redis_address) in hosts.links.items():
        url = f"redis://:{PASSWORD}@{redis_address}:6379/0"
        argv = redsweep_cmd(url, "worker")
        daemons[host] = procs.spawn(
            hosts.exec_argv(hosts.worker_ns[host], argv), cwd=tmp_path, env={"HOST_TAG": host}
        )
    watched = [redis_proc, ctl, *daemons.values()]
    both = STARTUP_S * len(daemons)  # they start side by side, on a machine maybe loaded
    wait_for(
        lambda: len(store.daemons.live()) == 2, both, "both daemons", procs=procs, watched=watched
    )
    created = run_cli(local_url, "sweep", "sweep.yaml", "--launch", "2", cwd=tmp_path, check=True)
    sweep_id = created.stdout.strip().splitlines()[-1]

    def running_on(host: str) -> list[str]:
        return [
            t.id
            for t in store.reads.trials(sweep_id)
            if t.state is RunState.RUNNING
            and store.reads.summary(sweep_id, t.id).get("host") == host
        ]

    cut_trial = wait_for(
        lambda: running_on("w1"),
        2 * STARTUP_S,  # a session, then its trial, start on w1
        "a trial on w1",
        procs=procs,
        watched=watched,
    )[0]
    hosts.cut("w1")

    def over() -> bool:
        return store.sweeps.get(sweep_id).state is SweepState.FINISHED

    # w1's daemon, cut off, may give up: only the others must stay up
    alive_after = [p for p in watched if p is not daemons["w1"]]
    wait_for(over, 90, "the sweep to finish on w2", procs=procs, watched=alive_after)
    trials = store.reads.trials(sweep_id)
    by_id = {t.id: t for t in trials}
    assert by_id[cut_trial].state is RunState.CRASHED
    retry = [t for t in trials if t.retry_of == cut_trial]
    assert len(retry) == 1 and retry[0].state is RunState.FINISHED
    assert store.reads.summary(sweep_id, retry[0].id)["host"] == "w2"
    assert retry[0].params == by_id[cut_trial].params
    finished = Counter(t.params["a"] for t in trials if t.state is RunState.FINISHED)
    assert finished == Counter({1: 1, 2: 1, 3: 1, 4: 1})
    store.close()
