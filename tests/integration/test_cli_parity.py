"""W&B's CLI, as W&B users type it: `sweep --controller/--name/--program/-e/-R`, `agent -f/-t`,
the agent's failure guards and their WANDB_* switches, `agent` on a sweep that is over.

Real `redsweep` processes against the session's private Redis; command trials.
"""

from __future__ import annotations

import json
import os
import re
import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import alive, redsweep_cmd, run_cli, wait_for, wait_for_output

from redsweep.controller.view import SweepView
from redsweep.shared.engine.config import parse_config
from redsweep.shared.records import RunState
from redsweep.shared.store import Store

pytestmark = pytest.mark.integration

#: succeeds for x in OK (logging acc = x), fails (exit 3) otherwise
SCRIPT = """
import os, sys
import redsweep as wandb
wandb.init()
x = wandb.config.x
if x not in {ok}:
    sys.exit(3)
wandb.log({{"acc": x}})
"""


def write_sweep(tmp_path: Path, values: list[int], ok: list[int], **extra: Any) -> str:
    (tmp_path / "train.py").write_text(SCRIPT.format(ok=set(ok) or "set()"))
    config = {
        "program": "train.py",
        "method": "grid",
        "metric": {"name": "acc", "goal": "maximize"},
        "parameters": {"x": {"values": values}},
        **extra,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    return "sweep.yaml"


def create(url: str, tmp_path: Path, *args: str) -> str:
    made = run_cli(url, "sweep", *args, cwd=tmp_path, check=True)
    return made.stdout.strip().splitlines()[-1]


def runs(url: str, sweep_id: str) -> list[dict[str, Any]]:
    return json.loads(run_cli(url, "runs", sweep_id, "--json", check=True).stdout)


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_AGENT_")}
    return {**out, **extra}


# ---- sweep -------------------------------------------------------------------------------------


def test_sweep_controller_creates_then_runs_the_controller_until_the_sweep_is_over(
    redis_url: str, tmp_path: Path, procs: Any
) -> None:
    write_sweep(tmp_path, [1, 2], ok=[1, 2])
    creator = procs.spawn(redsweep_cmd(redis_url, "sweep", "sweep.yaml", "--controller"),
                          cwd=tmp_path)  # fmt: skip
    out = wait_for_output(procs, creator, "Run agents with", timeout=60, stream="stdout")
    sweep_id = re.search(r"Created sweep (\w+):", out).group(1)  # type: ignore[union-attr]
    with Store.from_url(redis_url) as store:  # the creator holds the controller lease
        wait_for(lambda: store.controllers.holder(sweep_id), 60, "the controller lease",
                 procs=procs, watched=[creator])  # fmt: skip
    agent = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path)
    assert agent.returncode == 0, agent.stderr
    assert creator.wait(timeout=60) == 0, procs.output(creator)
    assert (
        procs.output(creator)[0].rstrip().endswith(f"sweep {sweep_id} is finished (grid_exhausted)")
    )
    assert sorted(r["params"]["x"] for r in runs(redis_url, sweep_id)) == [1, 2]


def test_sweep_takes_name_program_and_entity(redis_url: str, tmp_path: Path) -> None:
    write_sweep(tmp_path, [1], ok=[1])
    (tmp_path / "sweep.yaml").write_text(
        (tmp_path / "sweep.yaml").read_text().replace("program: train.py\n", "")
    )
    sweep_id = create(redis_url, tmp_path, "sweep.yaml", "--name", "nightly", "-e", "team",
                      "-p", "proj", "--program", "train.py")  # fmt: skip
    status = json.loads(run_cli(redis_url, "status", sweep_id, "--json", check=True).stdout)
    assert (status["name"], status["project"]) == ("nightly", "proj")
    assert run_cli(redis_url, "agent", sweep_id, cwd=tmp_path).returncode == 0
    assert [r["state"] for r in runs(redis_url, sweep_id)] == ["finished"]


def test_prior_runs_count_as_runs_of_the_new_sweep(
    redis_url: str, tmp_path: Path, store: Store
) -> None:
    write_sweep(tmp_path, [1, 2], ok=[1, 2])
    first = create(redis_url, tmp_path, "sweep.yaml")
    assert run_cli(redis_url, "agent", first, cwd=tmp_path).returncode == 0
    by_x = {r["params"]["x"]: r["id"] for r in runs(redis_url, first)}

    write_sweep(tmp_path, [1, 2, 3], ok=[1, 2, 3])
    second = create(redis_url, tmp_path, "sweep.yaml", "-R", by_x[1], "--prior_run",
                    f"{first}/{by_x[2]}")  # fmt: skip
    # the engine sees them: they are runs of the new sweep to bayes and grid
    view = SweepView(store, second, parse_config(store.sweeps.get(second).config))
    view.load()
    prior = {r.params["x"]: r for r in view.all_runs()}
    assert set(prior) == {1, 2}
    assert prior[2].summary["acc"] == 2 and prior[2].state is RunState.FINISHED
    # grid skips the points they cover; the sweep ends when the grid is done
    assert run_cli(redis_url, "agent", second, cwd=tmp_path).returncode == 0
    assert [r["params"]["x"] for r in runs(redis_url, second)] == [3]
    info = store.sweeps.get(second)
    assert (info.state.value, info.done_reason) == ("finished", "grid_exhausted")


def test_a_prior_run_that_does_not_exist_is_one_line_and_no_sweep(
    redis_url: str, tmp_path: Path, store: Store
) -> None:
    write_sweep(tmp_path, [1], ok=[1])
    before = len(store.sweeps.list())
    for ref in ("nosuchrun", "nosweep/nosuchrun"):
        result = run_cli(redis_url, "sweep", "sweep.yaml", "-R", ref, cwd=tmp_path)
        assert result.returncode != 0
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(f"error: --prior_run {ref!r}: no run 'nosuchrun'")
    assert len(store.sweeps.list()) == before


# ---- agent: guards -----------------------------------------------------------------------------


def test_three_failures_in_the_first_minute_stop_the_agent(redis_url: str, tmp_path: Path) -> None:
    sweep_id = create(redis_url, tmp_path, write_sweep(tmp_path, list(range(1, 9)), ok=[]))
    result = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path, env=env())
    assert result.returncode == 1
    assert "3 trials failed in the agent's first 60 s, so it stops" in result.stderr
    assert "WANDB_AGENT_DISABLE_FLAPPING=true" in result.stderr
    ran = [r["state"] for r in runs(redis_url, sweep_id) if r["state"] != "pending"]
    assert ran == ["failed"] * 3


def test_failures_at_least_the_successes_stop_the_agent_at_the_max(
    redis_url: str, tmp_path: Path
) -> None:
    """Flapping off; WANDB_AGENT_MAX_INITIAL_FAILURES=2: one success, then two failures."""
    sweep_id = create(redis_url, tmp_path, write_sweep(tmp_path, list(range(1, 9)), ok=[1]))
    switches = env(WANDB_AGENT_DISABLE_FLAPPING="true", WANDB_AGENT_MAX_INITIAL_FAILURES="2")
    result = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path, env=switches)
    assert result.returncode == 1
    assert "2 trials failed and 1 succeeded, so it stops" in result.stderr
    states = [r["state"] for r in runs(redis_url, sweep_id) if r["state"] != "pending"]
    assert states == ["finished", "failed", "failed"]


def test_with_both_switches_off_a_failing_agent_runs_the_whole_sweep(
    redis_url: str, tmp_path: Path
) -> None:
    sweep_id = create(redis_url, tmp_path, write_sweep(tmp_path, list(range(1, 7)), ok=[]))
    switches = env(WANDB_AGENT_DISABLE_FLAPPING="true", WANDB_AGENT_MAX_INITIAL_FAILURES="100")
    result = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path, env=switches)
    assert result.returncode == 0, result.stderr
    assert [r["state"] for r in runs(redis_url, sweep_id)] == ["failed"] * 6


def test_a_bad_max_initial_failures_is_one_line(redis_url: str, tmp_path: Path) -> None:
    sweep_id = create(redis_url, tmp_path, write_sweep(tmp_path, [1], ok=[1]))
    bad = env(WANDB_AGENT_MAX_INITIAL_FAILURES="many")
    result = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path, env=bad)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: WANDB_AGENT_MAX_INITIAL_FAILURES='many': expected a number of failures"
    ]


# ---- agent: a sweep that is over ---------------------------------------------------------------


@pytest.mark.parametrize("verb", ["stop", "cancel"])
def test_agent_on_a_sweep_that_is_over_says_so_and_exits_0(
    redis_url: str, tmp_path: Path, verb: str
) -> None:
    sweep_id = create(redis_url, tmp_path, write_sweep(tmp_path, [1, 2], ok=[1, 2]))
    run_cli(redis_url, "sweep", f"--{verb}", sweep_id, check=True)
    result = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    state = {"stop": "finished", "cancel": "canceled"}[verb]
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith(f"sweep {sweep_id} is {state}")
    assert lines[0].endswith(": nothing to run")
    assert lines[-1].endswith("ran 0 trials")
    assert runs(redis_url, sweep_id) == []


# ---- agent: -f / -t ------------------------------------------------------------------------------

LONG_TRIAL = """
import os, signal, time
import redsweep
redsweep.init()
if os.environ.get("IGNORE_TERM"):
    signal.signal(signal.SIGTERM, lambda *_: open("term.txt", "a").close())
open("pid.txt", "w").write(str(os.getpid()))
while True:
    time.sleep(0.1)
"""


def start_long(redis_url: str, tmp_path: Path, procs: Any, *flags: str, **extra: str) -> Any:
    (tmp_path / "long.py").write_text(textwrap.dedent(LONG_TRIAL))
    config = {"program": "long.py", "method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    sweep_id = create(redis_url, tmp_path, "sweep.yaml")
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id, *flags), cwd=tmp_path,
                        env=extra)  # fmt: skip
    pid_file = tmp_path / "pid.txt"
    wait_for(lambda: pid_file.exists() and pid_file.read_text(), 60, "the trial starts",
             procs=procs, watched=[agent])  # fmt: skip
    return agent, sweep_id, int(pid_file.read_text())


def test_forward_signals_passes_the_first_ctrl_c_on_to_the_trial(
    redis_url: str, tmp_path: Path, procs: Any, store: Store
) -> None:
    agent, sweep_id, pid = start_long(redis_url, tmp_path, procs, "-f")
    os.kill(agent.pid, signal.SIGINT)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    assert "SIGINT: passed on to the current trial, then exiting" in procs.output(agent)[1]
    assert not alive(pid)
    states = sorted(t.state.value for t in store.reads.trials(sweep_id))
    assert states == ["killed", "pending"]  # the next trial never started


def test_term_timeout_kills_a_trial_that_ignores_sigterm(
    redis_url: str, tmp_path: Path, procs: Any
) -> None:
    agent, _, pid = start_long(redis_url, tmp_path, procs, "-f", "-t", "0.5", IGNORE_TERM="1")
    os.kill(agent.pid, signal.SIGINT)
    wait_for(lambda: (tmp_path / "term.txt").exists(), 60, "the trial gets SIGTERM",
             procs=procs, watched=[agent])  # fmt: skip
    # no second signal: the term timeout alone ends it
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    assert not alive(pid)


def test_a_bad_term_timeout_is_one_line(redis_url: str) -> None:
    result = run_cli(redis_url, "agent", "abc", "-t", "-1")
    assert result.returncode != 0
    assert "give a positive number of seconds, not '-1'" in result.stderr
