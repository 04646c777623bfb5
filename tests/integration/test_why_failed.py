"""Why a run failed, in plain sight: the agent's failure line, `runs` (table and JSON),
`redsweep logs RUN_ID [-f]`, and a logged row with a value the wire cannot take.

Real agents (`redsweep agent`) run command trials against the session's private Redis.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import redsweep_cmd, run_cli, wait_for, wait_for_output

from redsweep.shared.store import Store

SCRIPT = """
import os, sys, time
from pathlib import Path
import redsweep as wandb

run = wandb.init()
x = wandb.config.x
wandb.log({"Data": os, "bad": "\\ud800", "acc": 0.5 + x})
print(f"trial x={x} step 1", flush=True)
gate = Path(os.environ.get("GATE", "/nonexistent"))
if x == 3:
    while not gate.exists():
        time.sleep(0.05)
    print("gate opened", flush=True)
if x == 2:
    raise ValueError("x must not be 2")
"""


def make_sweep(tmp_path: Path, url: str, values: list[int]) -> str:
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "sweep.yaml").write_text(
        textwrap.dedent(f"""
        program: train.py
        method: grid
        metric: {{name: acc, goal: maximize}}
        parameters:
          x: {{values: {values}}}
        """)
    )
    created = run_cli(url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    return created.stdout.strip().splitlines()[-1]


def runs_json(url: str, sweep_id: str) -> dict[Any, dict[str, Any]]:
    out = run_cli(url, "runs", sweep_id, "--json", check=True).stdout
    return {r["params"]["x"]: r for r in json.loads(out)}


@pytest.mark.integration
def test_a_failed_run_says_why_everywhere(redis_url: str, tmp_path: Path) -> None:
    sweep_id = make_sweep(tmp_path, redis_url, [1, 2])
    agent = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    runs = runs_json(redis_url, sweep_id)
    failed, ok = runs[2], runs[1]
    assert failed["state"] == "failed" and ok["state"] == "finished"

    # the agent's line for the failed run: the error's cause and the log's path
    line = next(x for x in agent.stderr.splitlines() if f"run {failed['id']} failed" in x)
    assert "the command exited with code 1: ValueError: x must not be 2" in line
    log = f".redsweep/agents/{failed['worker']}/{failed['id']}.log"
    assert f"; log {log}" in line

    # runs --json: error, log tail, log path
    assert failed["error"] == "the command exited with code 1"
    assert "Traceback (most recent call last)" in failed["log_tail"]
    assert failed["log_tail"].rstrip().endswith("ValueError: x must not be 2")
    assert failed["log_path"] == str(tmp_path / log)
    assert Path(failed["log_path"]).is_file()
    assert ok["error"] is None

    # the table's error column
    table = run_cli(redis_url, "runs", sweep_id, check=True).stdout.splitlines()
    assert table[0].split()[-1] == "ERROR"
    row = next(x for x in table if x.startswith(failed["id"]))
    assert row.rstrip().endswith("the command exited with code 1: ValueError: x must not be 2")
    assert next(x for x in table if x.startswith(ok["id"])).rstrip().endswith(" -")

    # logs RUN_ID (and SWEEP_ID/RUN_ID): the whole output, from the agent's file
    for ref in (failed["id"], f"{sweep_id}/{failed['id']}"):
        logs = run_cli(redis_url, "logs", ref, check=True).stdout
        assert "trial x=2 step 1" in logs
        assert logs.rstrip().endswith("ValueError: x must not be 2")


@pytest.mark.integration
def test_a_row_with_an_unencodable_value_keeps_the_rest_and_names_the_key(
    redis_url: str, tmp_path: Path
) -> None:
    sweep_id = make_sweep(tmp_path, redis_url, [1])
    agent = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    run = runs_json(redis_url, sweep_id)[1]
    assert run["state"] == "finished"
    assert run["summary"] == {"acc": 1.5}
    # on the agent's own output, naming each key dropped
    warning = next(x for x in agent.stderr.splitlines() if f"run {run['id']}: log()" in x)
    assert "'Data'" in warning and "'bad'" in warning


@pytest.mark.integration
def test_logs_follows_a_running_run_until_it_ends(
    redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = make_sweep(tmp_path, redis_url, [3])
    gate = tmp_path / "gate"
    agent = procs.spawn(
        redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path, env={"GATE": str(gate)}
    )
    with Store.from_url(redis_url) as store:

        def running_with_log() -> Any:
            trials = store.reads.trials(sweep_id)
            return trials and trials[0].log_path and trials[0]

        trial = wait_for(running_with_log, 60, "the run to start", procs=procs, watched=[agent])
    follow = procs.spawn(redsweep_cmd(redis_url, "logs", "-f", trial.id))
    wait_for_output(procs, follow, "trial x=3 step 1", timeout=60, stream="stdout")
    assert follow.poll() is None  # still following: the run has not ended
    gate.touch()
    assert follow.wait(timeout=60) == 0
    out = procs.output(follow)[0]
    assert out.rstrip().endswith("gate opened")
    assert agent.wait(timeout=60) == 0


@pytest.mark.integration
def test_logs_of_a_run_elsewhere_prints_the_tail_kept_in_the_store(
    redis_url: str, tmp_path: Path
) -> None:
    sweep_id = make_sweep(tmp_path, redis_url, [2])
    run_cli(redis_url, "agent", sweep_id, cwd=tmp_path)
    run = runs_json(redis_url, sweep_id)[2]
    with Store.from_url(redis_url) as store:  # as if its agent had run on another machine
        store.trials.note_log(sweep_id, run["id"], host="elsewhere", path=run["log_path"])
    logs = run_cli(redis_url, "logs", run["id"], check=True)
    assert logs.stdout == run["log_tail"] + "\n"
    assert logs.stderr.strip() == (
        f"redsweep: run {run['id']} (failed: the command exited with code 1): the last lines "
        f"of its output, kept in the store; the whole log is elsewhere:{run['log_path']}"
    )


@pytest.mark.integration
def test_logs_of_no_such_run_is_one_clear_line(redis_url: str) -> None:
    result = run_cli(redis_url, "logs", "nosuchrun")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        result.stderr.strip().splitlines()[0]
    ] and result.stderr.startswith("error: no run 'nosuchrun' in any sweep")
