"""What becomes of reports the store cannot take: a goal metric that is not a finite number,
and rows sent with a token that no longer holds the trial. Each is said, once per trial."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from helpers import run_cli, wait_for

from redsweep.shared.records import RunState
from redsweep.shared.store import Store

ROOT = Path(__file__).resolve().parents[2]

DIVERGES = """\
import redsweep

redsweep.init()
loss = {1: float("nan"), 2: 0.5, 3: float("-inf")}[redsweep.config.a]
for step in range(3):
    redsweep.log({"loss": loss})
"""


def test_a_non_finite_goal_metric_is_warned_once_per_run_and_never_best(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(DIVERGES)
    config = {
        "program": "train.py",
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": [1, 2, 3]}},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    created = run_cli(redis_url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    sweep_id = created.stdout.strip().splitlines()[-1]

    agent = run_cli(redis_url, "agent", sweep_id, cwd=tmp_path, check=True)
    by_a = {t.params["a"]: t for t in store.reads.trials(sweep_id)}
    assert {t.state for t in by_a.values()} == {RunState.FINISHED}
    warnings = [line for line in agent.stderr.splitlines() if "warning:" in line]
    assert len(warnings) == 2, agent.stderr
    for a, shown in ((1, "loss=nan"), (3, "loss=-inf")):
        (line,) = [w for w in warnings if by_a[a].id in w]
        assert f"run {by_a[a].id} logged {shown}, not a finite number" in line
        assert "never makes the run best" in line

    best = run_cli(redis_url, "best", sweep_id, "--json", check=True)
    assert json.loads(best.stdout)["run_id"] == by_a[2].id  # -inf would win a minimize
    runs = json.loads(run_cli(redis_url, "runs", sweep_id, "--json", check=True).stdout)
    values = {r["id"]: r["value"] for r in runs}
    assert values == {by_a[1].id: None, by_a[2].id: 0.5, by_a[3].id: None}


STALE = """\
import redsweep

run = redsweep.init()
for step in range(5):
    try:
        run.log({"loss": 1.0})
        run.flush()
    except redsweep.StopTrial:
        pass
print("done")
"""


def test_a_report_with_a_stale_token_is_said_once_with_the_runs_state_and_attempt(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    sweep_id = store.sweeps.create(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"a": {"value": 1}}}
    )
    epoch = store.controllers.acquire(sweep_id, "test-controller", 60_000)
    assert epoch is not None
    [trial_id] = store.trials.add(sweep_id, [{"a": 1}], epoch=epoch)
    claimed = store.trials.claim(sweep_id, trial_id, 1, "gone-agent", 100)
    assert claimed is not None
    stale_token = claimed[0]
    wait_for(lambda: store.trials.reap(sweep_id, trial_id), 10, "the lease lapses, reaped")

    (tmp_path / "train.py").write_text(STALE)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REDSWEEP_REDIS_URL": redis_url,
        "REDSWEEP_SWEEP_ID": sweep_id,
        "REDSWEEP_RUN_ID": trial_id,
        "WANDB_RUN_ID": trial_id,
        "REDSWEEP_RUN_TOKEN": stale_token,
    }
    started = time.monotonic()
    child = subprocess.run(
        [sys.executable, "train.py"], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert time.monotonic() - started < 30
    assert child.returncode == 0, child.stderr
    said = [line for line in child.stderr.splitlines() if trial_id in line]
    assert said == [
        f"redsweep: run {trial_id}: logged rows were dropped: the run is crashed (attempt 1); "
        "its token no longer holds it"
    ], child.stderr
    assert store.reads.history(sweep_id, trial_id) == []
