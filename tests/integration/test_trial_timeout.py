"""The trial timeout (``--trial-timeout``, ``redsweep.agent(trial_timeout=)``, the config's
``redsweep: {trial_timeout: S}``): a trial that hangs ends failed, naming the timeout, its
processes gone, and the agent runs the next one. Real agents, real hung processes."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import STARTUP_S, alive, redsweep_cmd, run_cli, wait_for

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

ROOT = Path(__file__).resolve().parents[2]

#: x=1 hangs: a shell waiting on a sleep child (both pids written down); x=2 ends at once
HANG_SH = """\
if [ "$1" = "x=1" ]; then
  sleep 3600 &
  echo "$$ $!" > pids.txt
  wait
fi
"""


def command_sweep(url: str, tmp_path: Path, **extra: Any) -> str:
    (tmp_path / "hang.sh").write_text(HANG_SH)
    config = {
        "program": "hang.sh",
        "command": ["/bin/sh", "${program}", "${args_no_hyphens}"],
        "method": "grid",
        "parameters": {"x": {"values": [1, 2]}},
        **extra,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    made = run_cli(url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    return made.stdout.strip().splitlines()[-1]


def by_x(store: Store, sweep_id: str) -> dict[Any, Any]:
    return {t.params["x"]: t for t in store.reads.trials(sweep_id)}


def seconds_run(trial: Any) -> float:
    return (trial.finished_ms - trial.claimed_ms) / 1000


def assert_timed_out(store: Store, sweep_id: str, error: str, pids: list[int]) -> None:
    """x=1 failed with ``error`` within a few seconds, its processes gone, not retried; x=2
    ran after it; the sweep finished."""
    trials = by_x(store, sweep_id)
    assert len(store.reads.trials(sweep_id)) == 2  # no retry: a timeout is a failure
    assert trials[1].state is RunState.FAILED
    assert trials[1].error == error
    assert seconds_run(trials[1]) < 8  # SIGTERM ended it; no waiting for the grace period
    assert trials[2].state is RunState.FINISHED
    assert not any(alive(p) for p in pids)
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED


def pids_of(tmp_path: Path) -> list[int]:
    return [int(p) for p in (tmp_path / "pids.txt").read_text().split()]


# ---- command trials ----------------------------------------------------------------------------


def test_a_hung_command_trial_times_out_failed_and_the_agent_runs_the_next(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    sweep_id = command_sweep(redis_url, tmp_path)
    result = run_cli(redis_url, "agent", sweep_id, "--trial-timeout", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    pids = pids_of(tmp_path)
    assert len(pids) == 2  # the shell and its sleep child
    assert_timed_out(store, sweep_id, "timed out after 2 s (--trial-timeout)", pids)
    trial = by_x(store, sweep_id)[1]
    # the agent's line for the run says why it failed
    assert f"run {trial.id} failed" in result.stderr
    assert "(timed out after 2 s (--trial-timeout); log .redsweep/agents/" in result.stderr
    assert "ran 2 trials (1 failed)" in result.stderr


def test_the_config_sets_a_sweep_default_and_the_option_overrides_it(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    sweep_id = command_sweep(redis_url, tmp_path, redsweep={"trial_timeout": 2})
    result = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    error = "timed out after 2 s (redsweep.trial_timeout in the sweep config)"
    assert_timed_out(store, sweep_id, error, pids_of(tmp_path))

    (tmp_path / "pids.txt").unlink()
    sweep_id = command_sweep(redis_url, tmp_path, redsweep={"trial_timeout": 3600})
    result = run_cli(redis_url, "agent", sweep_id, "--trial-timeout", "1.5", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert_timed_out(store, sweep_id, "timed out after 1.5 s (--trial-timeout)", pids_of(tmp_path))


@pytest.mark.parametrize("value", ["0", "-3", "abc", "nan", "inf"])
@pytest.mark.parametrize("command", ["agent", "launch", "worker"])
def test_a_bad_trial_timeout_is_refused_with_one_line(command: str, value: str) -> None:
    args = [command, *(["SWEEP"] if command != "worker" else []), f"--trial-timeout={value}"]
    result = run_cli(None, *args)  # refused before any connection
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if "rror" in line]
    assert errors == [
        f"Error: Invalid value for '--trial-timeout': give a positive number of seconds, "
        f"not {value!r}"
    ]


# ---- the config key, as redsweep validate sees it --------------------------------------------


def test_validate_accepts_the_redsweep_block_and_refuses_a_bad_timeout(tmp_path: Path) -> None:
    good = {"method": "grid", "redsweep": {"trial_timeout": 30}, "parameters": {"x": {"value": 1}}}
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(good))
    result = run_cli(None, "validate", "good.yaml", cwd=tmp_path, check=True)
    assert "trial timeout 30 s (redsweep.trial_timeout)" in result.stdout

    (tmp_path / "bad.yaml").write_text(
        "method: grid\nredsweep:\n  trial_timeout: -5\nparameters:\n  x: {value: 1}\n"
    )
    result = run_cli(None, "validate", "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: bad.yaml:3: redsweep.trial_timeout: must be a positive number of seconds, got -5"
    ]


# ---- function trials ---------------------------------------------------------------------------

AGENT = """\
import json, os, subprocess, sys, threading, time
import redsweep

HERE = os.path.dirname(os.path.abspath(__file__))

def objective():
    redsweep.init()
    if redsweep.config.x != 1:
        return
{body}

def serve():
    result = redsweep.agent(sys.argv[1], function=objective, redis=os.environ["URL"], {options})
    print(json.dumps(result.as_dict()), flush=True)

{call}
"""


def function_agent(
    procs: Any,
    tmp_path: Path,
    redis_url: str,
    body: str,
    options: str,
    call: str = "serve()",
) -> tuple[Any, str]:
    """A grid of x=1 (``body`` runs) and x=2 (returns), served by ``redsweep.agent(...)`` in
    a script; returns the agent process and the sweep id."""
    script = tmp_path / "agent.py"
    body = textwrap.indent(textwrap.dedent(body), "    ")
    script.write_text(AGENT.format(body=body, options=options, call=call))
    config = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    from redsweep import api

    sweep_id, _, _ = api.create_sweep(config, redis=redis_url)
    proc = procs.spawn(
        [sys.executable, str(script), sweep_id],
        env={"PYTHONPATH": str(ROOT), "URL": redis_url},
        cwd=tmp_path,
    )
    return proc, sweep_id


def agent_result(procs: Any, proc: Any, timeout: float = 30.0) -> dict[str, Any]:
    code = proc.wait(timeout=timeout)
    out, err = procs.output(proc)
    assert code == 0, f"agent exited {code}\nstdout:\n{out}\nstderr:\n{err}"
    return json.loads(out.strip().splitlines()[-1])


def test_an_in_process_function_gets_stoptrial_at_the_timeout(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """In the main thread, StopTrial is raised into it (here: out of a sleep)."""
    proc, sweep_id = function_agent(
        procs,
        tmp_path,
        redis_url,
        """
        try:
            time.sleep(3600)
        finally:
            open(os.path.join(HERE, "unwound"), "w").close()
        """,
        "trial_timeout=1",
    )
    result = agent_result(procs, proc)
    assert (result["ran"], result["finished"], result["failed"]) == (2, 1, 1)
    trials = by_x(store, sweep_id)
    assert trials[1].state is RunState.FAILED
    assert trials[1].error == "timed out after 1 s (--trial-timeout)"
    assert seconds_run(trials[1]) < 8
    assert trials[2].state is RunState.FINISHED
    assert (tmp_path / "unwound").exists()


def test_a_function_that_swallows_stoptrial_gets_it_again_after_the_grace_period(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    proc, sweep_id = function_agent(
        procs,
        tmp_path,
        redis_url,
        """
        for _ in range(2):
            try:
                time.sleep(3600)
            except redsweep.StopTrial:
                open(os.path.join(HERE, "swallowed"), "a").write("x")
        """,
        "trial_timeout=1, grace_s=1",
    )
    agent_result(procs, proc)
    assert (tmp_path / "swallowed").read_text() == "xx"
    trial = by_x(store, sweep_id)[1]
    assert (trial.state, trial.error) == (RunState.FAILED, "timed out after 1 s (--trial-timeout)")


def test_a_function_outside_the_main_thread_stops_at_its_next_log(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """No signal reaches another thread: the function stops when it next calls log()."""
    proc, sweep_id = function_agent(
        procs,
        tmp_path,
        redis_url,
        """
        for step in range(36000):
            redsweep.log({"step": step})
            time.sleep(0.1)
        """,
        "trial_timeout=1",
        call="t = threading.Thread(target=serve); t.start(); t.join()",
    )
    result = agent_result(procs, proc)
    assert (result["ran"], result["failed"]) == (2, 1)
    trial = by_x(store, sweep_id)[1]
    assert (trial.state, trial.error) == (RunState.FAILED, "timed out after 1 s (--trial-timeout)")
    assert seconds_run(trial) < 8


def test_a_forked_function_and_its_children_are_ended_at_the_timeout(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    proc, sweep_id = function_agent(
        procs,
        tmp_path,
        redis_url,
        """
        import signal
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # only SIGKILL ends it
        child = subprocess.Popen(["sleep", "3600"])
        with open(os.path.join(HERE, "pids.txt"), "w") as fh:
            fh.write(f"{os.getpid()} {child.pid}")
        time.sleep(3600)
        """,
        "trial_timeout=1, isolate=True, grace_s=1",
    )
    result = agent_result(procs, proc)
    assert (result["ran"], result["finished"], result["failed"]) == (2, 1, 1)
    trial = by_x(store, sweep_id)[1]
    assert (trial.state, trial.error) == (RunState.FAILED, "timed out after 1 s (--trial-timeout)")
    assert not any(alive(p) for p in pids_of(tmp_path))


def test_redsweep_agent_refuses_a_bad_trial_timeout(redis_url: str) -> None:
    import redsweep

    for bad in (0, -1, "30", float("nan")):
        with pytest.raises(ValueError, match="trial_timeout must be a positive number of seconds"):
            redsweep.agent("s1", function=lambda: None, redis=redis_url, trial_timeout=bad)


# ---- worker daemons ----------------------------------------------------------------------------


def test_a_daemon_times_out_its_sessions_trials_and_launch_overrides_it(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    daemon = procs.spawn(redsweep_cmd(redis_url, "worker", "--trial-timeout", "2"), cwd=tmp_path)
    first = command_sweep(redis_url, tmp_path)
    run_cli(redis_url, "launch", first, cwd=tmp_path, check=True)
    wait_for(
        lambda: store.sweeps.get(first).state is SweepState.FINISHED,
        STARTUP_S * 3,
        "the first sweep",
        procs=procs,
        watched=[daemon],
    )
    assert_timed_out(store, first, "timed out after 2 s (--trial-timeout)", pids_of(tmp_path))

    (tmp_path / "pids.txt").unlink()
    second = command_sweep(redis_url, tmp_path)
    launched = run_cli(
        redis_url, "launch", second, "--trial-timeout", "1", cwd=tmp_path, check=True
    ).stdout
    assert "trials stopped after 1 s" in launched
    wait_for(
        lambda: store.sweeps.get(second).state is SweepState.FINISHED,
        STARTUP_S * 3,
        "the second sweep",
        procs=procs,
        watched=[daemon],
    )
    assert_timed_out(store, second, "timed out after 1 s (--trial-timeout)", pids_of(tmp_path))
