"""Self-fencing, with a real cut: an agent on a worker host whose link to Redis goes down
stops its trial before the trial's lease can lapse, so the copy the controller runs again on
the other host never overlaps it. Both copies write timestamps to files; all the network
namespaces share one host clock, so the timestamps compare.

When the link comes back, the cut agent delivers its trial's end late: refused (the
controller crashed the trial meanwhile), and the agent goes on and leaves with the sweep,
having said the outage in one line.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from helpers import STARTUP_S, redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

LEASE_MS = 3000
# a command that does not import redsweep: only its agent can stop it
COPY = """\
import os, time
with open(f"copy-{os.getpid()}.txt", "a") as fh:
    fh.write(f"start {time.time()}\\n")
    fh.flush()
    end = time.time() + 6.0
    while time.time() < end:
        fh.write(f"alive {time.time()}\\n")
        fh.flush()
        time.sleep(0.02)
    fh.write("end\\n")
"""


def copies(tmp_path: Path) -> list[list[str]]:
    """The lines each copy of the trial wrote."""
    return [p.read_text().splitlines() for p in sorted(tmp_path.glob("copy-*.txt"))]


def test_a_cut_agent_stops_its_trial_before_the_lease_lapses_and_no_copies_overlap(
    hosts, tmp_path, procs
):
    redis_proc, local_url = hosts.start_redis(tmp_path, procs)
    store = Store.from_url(local_url)
    (tmp_path / "trial_copy.py").write_text(COPY)
    (tmp_path / "sweep.yaml").write_text(
        yaml.safe_dump(
            {
                "program": str(tmp_path / "trial_copy.py"),
                "method": "grid",
                "parameters": {"a": {"values": [1]}},
            }
        )
    )
    created = run_cli(local_url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    sweep_id = created.stdout.strip().splitlines()[-1]
    ctl = procs.spawn(redsweep_cmd(local_url, "controller", sweep_id), cwd=tmp_path)

    def agent(host: str):
        argv = redsweep_cmd(hosts.url(host), "agent", sweep_id, "--lease-ms", str(LEASE_MS))
        return procs.spawn(hosts.exec_argv(hosts.worker_ns[host], argv), cwd=tmp_path)

    cut_agent = agent("w1")
    watched = [redis_proc, ctl, cut_agent]
    wait_for(
        lambda: any(len(c) > 1 for c in copies(tmp_path)),
        3 * STARTUP_S,
        "the trial to run on w1",
        procs=procs,
        watched=watched,
    )
    other = agent("w2")
    wait_for(
        lambda: len(store.agents.live(sweep_id)) == 2,
        2 * STARTUP_S,
        "the agent on w2",
        procs=procs,
        watched=[*watched, other],
    )
    cut_at = time.time()
    hosts.cut("w1")

    def finished() -> bool:
        return store.sweeps.get(sweep_id).state is SweepState.FINISHED

    wait_for(finished, 90, "the point to run again on w2", procs=procs,
             watched=[redis_proc, ctl, other])  # fmt: skip
    first, second = sorted(copies(tmp_path), key=lambda lines: float(lines[0].split()[1]))
    assert first[-1] != "end" and second[-1] == "end", (first[-3:], second[-3:])
    first_last = float(first[-1].split()[1])
    second_start = float(second[0].split()[1])
    # stopped before its lease (renewed last before the cut) could lapse ...
    assert first_last - cut_at < LEASE_MS / 1000, (first_last - cut_at, procs.output(cut_agent))
    # ... so the copy run again never overlapped it
    assert first_last < second_start, (first_last, second_start)

    trials = store.reads.trials(sweep_id)
    assert [t.state for t in trials] == [RunState.CRASHED, RunState.FINISHED], trials
    assert trials[1].retry_of == trials[0].id

    hosts.heal("w1")  # the cut agent delivers its late end (refused), then leaves
    assert cut_agent.wait(timeout=60) == 0, procs.output(cut_agent)
    err = procs.output(cut_agent)[1]
    said = [line for line in err.splitlines() if "unreachable for" in line]
    assert len(said) == 1, err
    assert f"Redis at redis://:***@{hosts.links['w1'][2]}:6379/0 unreachable for" in said[0]
    assert store.reads.trial(sweep_id, trials[0].id).state is RunState.CRASHED
    store.close()
