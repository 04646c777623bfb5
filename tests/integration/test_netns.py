"""Several hosts for real: Linux network namespaces joined by veth pairs make a Redis host and
two worker hosts, each with its own address. Daemons on the worker hosts serve a launched
sweep; cutting one worker host's link mid-trial gets that trial crashed and run again on the
other host, and every grid point is finished exactly once.

The hosts are the ``hosts`` fixture (:mod:`netns`); it needs root, which ``.ci/run`` has.
"""

from __future__ import annotations

from collections import Counter

import yaml
from helpers import STARTUP_S, redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
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


def test_a_cut_worker_host_loses_its_trial_to_the_other_host(hosts, tmp_path, procs):
    argv, local_url = hosts.redis_argv(tmp_path, PASSWORD)
    redis_proc = procs.spawn(argv)
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
    for host in hosts.links:
        argv = redsweep_cmd(hosts.url(host, PASSWORD), "worker")
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
