"""A trial dies with its agent, whatever its script imports: an agent killed outright (SIGKILL
of the agent process alone) takes its command trial, a forked function trial and all their
children with it within a second or two. And a command trial's log file is capped on disk,
keeping its head and its tail. Real agent processes and a real redis-server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from agent_scripts import Agents, hold_controller
from helpers import STARTUP_S, alive, redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState
from redsweep.shared.store import Store

# No redsweep import: nothing in the trial itself watches for its agent.
PLAIN = """\
import os, subprocess, sys, time

shell = subprocess.Popen(["sh", "-c", "sleep 60 & echo $!; wait"], stdout=subprocess.PIPE)
grandchild = int(shell.stdout.readline())
with open("pids.part", "w") as fh:
    fh.write(f"{os.getpid()} {shell.pid} {grandchild}")
os.replace("pids.part", "pids.txt")
time.sleep(60)
"""

FLOOD = """\
import sys

out = sys.stdout.buffer
out.write(b"first line\\n")
for i in range(40_000):
    out.write(b"line %d\\n" % i)
out.write(b"last line\\n")
"""


def flood_output() -> bytes:
    return b"first line\n" + b"".join(b"line %d\n" % i for i in range(40_000)) + b"last line\n"


@pytest.fixture
def pids_left(tmp_path: Path) -> Iterator[list[int]]:
    """Pids a test saw; any still running at the end are killed (the old code leaves them)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def one_trial(store: Store, config: dict[str, Any]) -> tuple[str, str]:
    """A sweep with one queued trial (x=1) and no controller to add more: (sweep, trial)."""
    sweep_id = store.sweeps.create(
        {"method": "random", "parameters": {"x": {"value": 1}}, **config}
    )
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=hold_controller(store, sweep_id))
    assert trial_id is not None
    return sweep_id, trial_id


def started_pids(tmp_path: Path, procs: Any, agent: subprocess.Popen) -> list[int]:
    pids_file = tmp_path / "pids.txt"
    wait_for(pids_file.exists, STARTUP_S, "the trial starts", procs=procs, watched=[agent])
    pids = [int(p) for p in pids_file.read_text().split()]
    assert all(alive(p) for p in pids)
    return pids


def kill_agent_and_expect_gone(agent: subprocess.Popen, pids: list[int]) -> None:
    os.kill(agent.pid, signal.SIGKILL)  # the agent alone, not its trial's process group
    agent.wait(timeout=5)
    wait_for(
        lambda: not any(alive(p) for p in pids),
        2.0,
        f"the dead agent's trial and its children ({pids}) to end",
    )


def test_a_killed_agents_command_trial_ends_with_its_children_though_it_never_imports_redsweep(
    agents: Agents, store: Store, redis_url: str, tmp_path: Path, procs: Any, pids_left: list[int]
) -> None:
    (tmp_path / "plain.py").write_text(PLAIN)
    sweep_id, trial_id = one_trial(store, {"program": "plain.py"})
    agent = agents.start(sweep_id)
    pids_left.extend(started_pids(tmp_path, procs, agent))
    kill_agent_and_expect_gone(agent, pids_left)
    # nobody finished it: its lease lapses and the controller crashes (and retries) it
    assert store.reads.trial(sweep_id, trial_id).state is RunState.RUNNING


def test_a_killed_agents_forked_function_trial_ends_with_its_children(
    agents: Agents, store: Store, redis_url: str, tmp_path: Path, procs: Any, pids_left: list[int]
) -> None:
    sweep_id, _ = one_trial(store, {})
    objective = """
        def objective():
            child = subprocess.Popen(["sleep", "60"])
            with open(os.path.join(HERE, "pids.part"), "w") as fh:
                fh.write(f"{os.getpid()} {child.pid}")
            os.replace(os.path.join(HERE, "pids.part"), os.path.join(HERE, "pids.txt"))
            time.sleep(60)
        """
    agent = agents.start(sweep_id, objective, function="objective", isolate=True)
    pids_left.extend(started_pids(tmp_path, procs, agent))
    assert pids_left[0] != agent.pid  # a forked child, not the agent itself
    kill_agent_and_expect_gone(agent, pids_left)


def ancestors(pid: int) -> list[int]:
    """``pid``'s parent, its parent, ... (Linux /proc)."""
    out = []
    while pid > 1:
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat[stat.rindex(")") + 2 :].split()[1])
        out.append(pid)
    return out


def test_a_daemon_sessions_command_trial_ends_when_its_work_horse_is_killed(
    store: Store, redis_url: str, tmp_path: Path, procs: Any, pids_left: list[int]
) -> None:
    """The daemon's work horse runs the same agent session: killing it ends its trial."""
    (tmp_path / "plain.py").write_text(PLAIN)
    config = {"program": "plain.py", "method": "grid", "parameters": {"x": {"values": [1]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    made = run_cli(redis_url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    sweep_id = made.stdout.split()[-1]
    daemon = procs.spawn(redsweep_cmd(redis_url, "worker"), cwd=tmp_path)
    run_cli(redis_url, "launch", sweep_id, cwd=tmp_path, check=True)
    pids_file = tmp_path / "pids.txt"
    wait_for(pids_file.exists, STARTUP_S * 3, "the trial starts", procs=procs, watched=[daemon])
    pids = [int(p) for p in pids_file.read_text().split()]
    pids_left.extend(pids)
    chain = ancestors(pids[0])  # ..., the horse, its slot, the daemon
    horse = chain[chain.index(daemon.pid) - 2]
    os.kill(horse, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in pids), 2.0, "the horse's trial and its children")


def test_a_flooding_command_leaves_a_log_of_its_head_and_tail_and_the_run_keeps_its_tail(
    agents: Agents, store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    (tmp_path / "flood.py").write_text(FLOOD)
    sweep_id, trial_id = one_trial(store, {"program": "flood.py"})
    cap = 64 * 1024
    agent = agents.start(
        sweep_id,
        env={"REDSWEEP_LOG_CAP": str(cap)},
        agent_dir=repr(str(tmp_path / "logs")),
        count=1,
    )
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    result = json.loads(procs.output(agent)[0].strip().splitlines()[-1])
    assert result["finished"] == 1

    expected = flood_output()
    assert len(expected) > 5 * cap
    log = (tmp_path / "logs" / f"{trial_id}.log").read_bytes()
    head, tail = expected[: cap // 2], expected[-(cap - cap // 2) :]
    marker = (
        f"\n[redsweep: {len(expected) - cap} bytes of output left out here; the log keeps the "
        f"first {cap // 2} and the last {cap - cap // 2} bytes]\n"
    ).encode()
    assert log == head + marker + tail
    trial = store.reads.trial(sweep_id, trial_id)
    assert trial.log_tail is not None and trial.log_tail.endswith("line 39999\nlast line")


def test_a_command_keeps_its_exit_messages_under_the_launcher(
    agents: Agents, store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """Death by a signal, and a command that cannot start, say so as they always did."""
    (tmp_path / "die.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    sweep_id = store.sweeps.create(
        {
            "method": "grid",
            "command": ["${interpreter}", "${program}"],
            "program": "die.py",
            "parameters": {"x": {"values": [1]}},
        },
        grid_size=1,
    )
    epoch = hold_controller(store, sweep_id)
    [killed] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    missing = store.sweeps.create(
        {"method": "grid", "command": ["no-such-program-x"], "parameters": {"x": {"values": [1]}}},
        grid_size=1,
    )
    [unstarted] = store.trials.add(missing, [{"x": 1}], epoch=hold_controller(store, missing))
    for sweep, trial, error in [
        (sweep_id, killed, "the command was killed by signal 9"),
        (
            missing,
            unstarted,
            "cannot start 'no-such-program-x': [Errno 2] No such file or directory: "
            "'no-such-program-x'",
        ),
    ]:
        agent = agents.start(sweep, count=1)
        assert agent.wait(timeout=60) == 0, procs.output(agent)
        record = store.reads.trial(sweep, trial)
        assert (record.state, record.error) == (RunState.FAILED, error)


def test_a_command_starts_with_the_signals_its_agent_was_given(
    agents: Agents, store: Store, redis_url: str, procs: Any
) -> None:
    """The agent's launcher ignores Ctrl-C and SIGTERM itself (the agent decides what they
    mean); the commands it starts get those, and the ones Python ignores, back at their
    default, and ignore nothing the agent's own environment did not (a shell's background
    job, as CI may run this suite, ignores SIGQUIT)."""
    sweep_id, trial_id = one_trial(store, {"command": ["grep", "^Sig", "/proc/self/status"]})
    agent = agents.start(sweep_id, count=1)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    record = store.reads.trial(sweep_id, trial_id)
    assert record.state is RunState.FINISHED, record.error
    lines = dict(line.split(":\t") for line in (record.log_tail or "").splitlines())
    ignored = int(lines["SigIgn"], 16)  # bit N-1 stands for signal N
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
        assert not ignored & 1 << (sig - 1), f"{sig.name} ignored: {record.log_tail}"
    ours = dict(line.split(":\t") for line in Path("/proc/self/status").read_text().splitlines())
    standard = (1 << 31) - 1  # 32 and 33 are glibc's own, which its posix_spawn ignores
    assert ignored & standard & ~int(ours["SigIgn"], 16) == 0, record.log_tail
    assert int(lines["SigBlk"], 16) == 0, record.log_tail


# The first trial holds on until killed; the second ends at once.
HOLD_FIRST = """\
import os, sys, time

if sys.argv[-1] == "--x=1":
    with open("pids.part", "w") as fh:
        fh.write(str(os.getpid()))
    os.replace("pids.part", "pids.txt")
    time.sleep(60)
"""


def test_a_killed_launcher_fails_its_running_trial_and_the_agent_goes_on(
    agents: Agents, store: Store, redis_url: str, tmp_path: Path, procs: Any, pids_left: list[int]
) -> None:
    """The process that starts an agent's commands killed outright: the trial it ran is ended
    and recorded killed, and the agent's next trial starts as usual."""
    (tmp_path / "hold.py").write_text(HOLD_FIRST)
    sweep_id = store.sweeps.create(
        {"method": "grid", "program": "hold.py", "parameters": {"x": {"values": [1, 2]}}},
        grid_size=2,
    )
    first, second = store.trials.add(
        sweep_id, [{"x": 1}, {"x": 2}], epoch=hold_controller(store, sweep_id)
    )
    agent = agents.start(sweep_id, count=2)
    pids_left.extend(started_pids(tmp_path, procs, agent))
    launcher = ancestors(pids_left[0])[0]
    assert launcher != agent.pid and "launcher" in Path(f"/proc/{launcher}/cmdline").read_text()
    os.kill(launcher, signal.SIGKILL)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    assert not alive(pids_left[0])
    killed, done = store.reads.trial(sweep_id, first), store.reads.trial(sweep_id, second)
    assert (killed.state, killed.error) == (RunState.FAILED, "the command was killed by signal 9")
    assert done.state is RunState.FINISHED, done.error


def test_a_command_gets_a_large_environment_whole(
    agents: Agents, store: Store, redis_url: str, procs: Any
) -> None:
    """An environment larger than one read of the launcher's socket (300 KB here) reaches
    the command whole."""
    big = {f"BIG_{i}": str(i) * 100_000 for i in range(3)}
    sweep_id, trial_id = one_trial(
        store, {"command": ["sh", "-c", 'echo "${#BIG_0} ${#BIG_1} ${#BIG_2}"']}
    )
    agent = agents.start(sweep_id, env=big, count=1)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    record = store.reads.trial(sweep_id, trial_id)
    assert record.state is RunState.FINISHED, record.error
    assert record.log_tail == "100000 100000 100000"
