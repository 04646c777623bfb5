"""The W&B quickstart, run as a user runs it: a script in a fresh directory, no Redis set up."""

from __future__ import annotations

import functools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

from redsweep.shared.records import RunState
from redsweep.shared.server import embedded
from redsweep.shared.store import Store

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def test_the_quickstart_runs_10_trials_on_the_embedded_server_and_prints_the_best(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDSWEEP_")}
    try:
        result = subprocess.run(
            [sys.executable, str(QUICKSTART)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        status = embedded.status(tmp_path / ".redsweep")
        assert status.running  # started on demand, and left running for the next command
        store = Store.from_url(status.url)
        try:
            (sweep,) = store.sweeps.list()
            assert sweep.project == "my-first-sweep"
            trials = store.reads.trials(sweep.id)
            finished = [t for t in trials if t.state is RunState.FINISHED]
            assert len(finished) == 10
            # the agent's count=10 bounded what the controller queued: nothing left over
            assert len(trials) == 10 and store.queue.length(sweep.id) == 0
            scores = {}
            for trial in finished:
                assert 0.01 <= trial.params["x"] <= 0.1 and trial.params["y"] in (1, 3, 7)
                score = store.reads.summary(sweep.id, trial.id)["score"]
                assert score == trial.params["x"] ** 3 + trial.params["y"]
                scores[trial.id] = score
        finally:
            store.close()
        best_id = min(scores, key=scores.get)
        last = result.stderr.strip().splitlines()[-1]
        assert f"best run {best_id}: score={scores[best_id]:.6g}" in last, result.stderr
        assert "ran 10 trials" in last
    finally:
        embedded.stop(tmp_path / ".redsweep")
    assert not embedded.status(tmp_path / ".redsweep").running


def test_cli_commands_share_the_embedded_server_and_server_stop_ends_it(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDSWEEP_")}
    config = Path(__file__).resolve().parents[2] / "examples" / "grid.yaml"

    # no --redis and no REDSWEEP_ variables: each command finds (or starts) the embedded server
    cli = functools.partial(run_cli, None, cwd=tmp_path, env=env)

    try:
        assert "not running" in cli("server", "status").stdout
        created = cli("sweep", str(config))
        assert created.returncode == 0, created.stderr
        sweep_id = created.stdout.strip().splitlines()[-1]
        assert f"redsweep agent {sweep_id}" in created.stdout
        status = cli("server", "status")
        assert status.stdout.startswith("running"), status.stdout
        # a second command finds the same server and the sweep in it
        again = cli("sweep", str(config))
        store = Store.from_url(embedded.status(tmp_path / ".redsweep").url)
        ids = {s.id for s in store.sweeps.list()}
        store.close()
        assert ids == {sweep_id, again.stdout.strip().splitlines()[-1]}
        assert cli("server", "stop").stdout.strip() == "stopped"
        assert "not running" in cli("server", "status").stdout
    finally:
        embedded.stop(tmp_path / ".redsweep")


def run_script(
    source: str, redis_url: str, cwd: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    """``python -c source args`` as a user's script, its store the session's Redis (no other
    ``REDSWEEP_`` setting of the test's environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDSWEEP_")}
    return subprocess.run(
        [sys.executable, "-c", source, *args],
        cwd=cwd,
        env={**env, "REDSWEEP_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=120,
    )


LIGHT = """
import sys
import redsweep as wandb

sweep_id = wandb.sweep(sweep=dict(method=sys.argv[1], parameters=dict(
    x=dict(min=0, max=4, q=2, distribution="q_uniform"), y=dict(values=[1, 2]),
    z=dict(min=1, max=3))))
queued = getattr(wandb.Api().sweep(sweep_id).state, "value", None)
ran = []
wandb.agent(sweep_id, function=lambda: ran.append(wandb.init().config.y), count=3)
heavy = ["numpy", "scipy", "yaml", "click", "rich", "rq", "msgpack.fallback", "opentelemetry"]
print(queued, len(ran), *sorted(m for m in heavy if m in sys.modules))
"""


def test_grid_and_random_sweeps_never_import_numpy_scipy_yaml_or_the_cli(redis_url, tmp_path):
    # a training script that runs a grid or random sweep pays for none of them (bayes needs
    # numpy and scipy; the CLI click and rich; a YAML config yaml; redis-py would import
    # OpenTelemetry's SDK, which W&B installs, for metrics nobody turned on)
    for method in ("grid", "random"):
        result = run_script(LIGHT, redis_url, tmp_path, method)
        assert result.returncode == 0, result.stderr
        # nothing queued until an agent came (the agent queued the first trial itself)
        assert result.stdout.split() == ["pending", "3"], (method, result.stdout)


OTEL_AFTER = """
import sys
import redsweep
sweep_id = redsweep.sweep({"method": "grid", "parameters": {"a": {"values": [1, 2]}}})
redsweep.agent(sweep_id, function=lambda: redsweep.log({"a": redsweep.config.a}))
from opentelemetry.sdk.metrics import MeterProvider  # the user's own, after redsweep's
print(len(redsweep.Api().sweep(sweep_id).runs), MeterProvider.__name__)
"""


def test_a_script_imports_opentelemetry_after_redsweep_as_usual(redis_url, tmp_path):
    pytest.importorskip("opentelemetry.sdk.metrics")  # W&B installs it (the test extra)
    result = run_script(OTEL_AFTER, redis_url, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "MeterProvider"]


GIVEN_URL = """
import sys
import redsweep
url = sys.argv[1]
config = {"method": "grid", "parameters": {"a": {"values": [1, 2]}}}
sweep_id = redsweep.sweep(config, redis=url)
redsweep.agent(sweep_id, function=lambda: redsweep.log({"a": redsweep.config.a}), redis=url)
print(redsweep.Api(url).sweep(sweep_id).state.value)
"""


def test_a_script_that_names_its_redis_starts_no_local_server_in_a_project(redis_url, tmp_path):
    # a project folder with a .redsweep/ (its local server stopped): a script that passes its
    # own Redis must not start that server on the side
    (tmp_path / ".redsweep").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDSWEEP_")}
    result = subprocess.run(
        [sys.executable, "-c", GIVEN_URL, redis_url],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    started = (tmp_path / ".redsweep" / "server").exists()
    if started:  # stop it: a failing test leaves nothing running either
        subprocess.run([sys.executable, "-m", "redsweep", "server", "stop"], cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["finished"]
    assert not started  # no server was started here
