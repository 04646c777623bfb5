"""Reading results of a finished sweep: status, runs, best and export from the command line
(tables, --json) and redsweep.Api() in Python, checked against hand-computed values."""

from __future__ import annotations

import csv
import functools
import io
import json
from typing import Any

import pytest
import yaml
from helpers import run_cli

import redsweep
from redsweep.shared.store import Store

TRAIN = """\
import redsweep

redsweep.init()
c = redsweep.config
for step in range(3):
    redsweep.log({"loss": c.a * 10 + c.b - step, "acc": step / 10})
"""

CONFIG = {
    "program": "train.py",
    "method": "grid",
    "name": "demo",
    "project": "results",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "a": {"values": [1, 2, 3]},
        "b": {"values": [0, 1]},
        "opt": {"parameters": {"name": {"value": "adam"}}},
    },
}


#: every command here must succeed (run_cli also checks stdout holds no colour codes)
cli = functools.partial(run_cli, check=True)


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, redis_url: str, redis_server: Any) -> str:
    """One finished 3x2 grid sweep, shared by the tests of this module (they only read)."""
    import redis as redis_py

    client = redis_py.Redis.from_url(redis_server.unix_url)
    client.flushall()
    client.close()
    tmp = tmp_path_factory.mktemp("results")
    (tmp / "train.py").write_text(TRAIN)
    (tmp / "sweep.yaml").write_text(yaml.safe_dump(CONFIG))
    sweep_id = cli(redis_url, "sweep", "sweep.yaml", cwd=tmp).stdout.strip().splitlines()[-1]
    cli(redis_url, "agent", sweep_id, cwd=tmp)
    return sweep_id


def loss(a: int, b: int) -> int:
    return a * 10 + b - 2  # the last row's loss, also the run's best (it falls)


def test_export_csv_has_one_row_per_run_with_its_params_and_summary(
    finished: str, redis_url: str
) -> None:
    rows = list(csv.DictReader(io.StringIO(cli(redis_url, "export", finished).stdout)))
    assert len(rows) == 6
    assert {(r["config.a"], r["config.b"]) for r in rows} == {
        (str(a), str(b)) for a in (1, 2, 3) for b in (0, 1)
    }
    for r in rows:
        a, b = int(r["config.a"]), int(r["config.b"])
        assert r["state"] == "finished"
        assert r["config.opt.name"] == "adam"
        assert float(r["summary.loss"]) == loss(a, b)
        assert float(r["summary.acc"]) == 0.2
        assert float(r["best.loss"]) == loss(a, b)
        assert float(r["duration_s"]) > 0


def test_export_jsonl_and_history(finished: str, redis_url: str) -> None:
    lines = cli(redis_url, "export", finished, "--format", "jsonl").stdout.splitlines()
    runs = [json.loads(line) for line in lines]
    assert len(runs) == 6
    assert all(r["summary.loss"] == loss(r["config.a"], r["config.b"]) for r in runs)

    out = cli(redis_url, "export", finished, "--format", "jsonl", "--history").stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 18  # three logged rows per run
    for r in rows:
        assert r["loss"] == r["config.a"] * 10 + r["config.b"] - r["_step"]
        assert r["acc"] == r["_step"] / 10


def test_status_runs_and_best_as_json(finished: str, redis_url: str) -> None:
    one = json.loads(cli(redis_url, "status", finished, "--json").stdout)
    assert one["state"] == "finished"
    assert (one["grid_size"], one["counts"], one["done_reason"]) == (
        6,
        {"finished": 6},
        "grid_exhausted",
    )
    assert one["best"]["value"] == 8 and one["best"]["params"]["a"] == 1
    everything = json.loads(cli(redis_url, "status", "--json").stdout)
    assert [s["id"] for s in everything] == [finished]

    runs = json.loads(cli(redis_url, "runs", finished, "--sort", "metric", "--json").stdout)
    assert [r["value"] for r in runs] == [8, 9, 18, 19, 28, 29]  # best first
    assert runs[0]["params"] == {"a": 1, "b": 0, "opt": {"name": "adam"}}

    best = json.loads(cli(redis_url, "best", finished, "--json").stdout)
    assert (best["value"], best["params"], best["metric"]) == (
        8,
        {"a": 1, "b": 0, "opt": {"name": "adam"}},
        "loss",
    )


def test_best_prints_yaml_ready_to_paste(finished: str, redis_url: str) -> None:
    out = cli(redis_url, "best", finished).stdout
    assert out.startswith("# best run ")
    assert yaml.safe_load(out) == {"a": 1, "b": 0, "opt": {"name": "adam"}}
    block = yaml.safe_load(cli(redis_url, "best", finished, "--parameters").stdout)
    assert block == {
        "parameters": {
            "a": {"value": 1},
            "b": {"value": 0},
            "opt": {"parameters": {"name": {"value": "adam"}}},
        }
    }


def test_tables_are_aligned(finished: str, redis_url: str) -> None:
    lines = cli(redis_url, "runs", finished, "--sort", "metric").stdout.splitlines()
    assert lines[0].split() == [
        "RUN",
        "STATE",
        "a",
        "b",
        "opt.name",
        "loss",
        "(min)",
        "DURATION",
        "WORKER",
        "ERROR",
    ]
    assert len(lines) == 7
    # text columns start where their header does, number columns end where theirs does
    for header in ("STATE", "WORKER", "ERROR"):
        col = lines[0].index(header)
        assert all(line[col - 2 : col] == "  " and line[col] != " " for line in lines[1:]), header
    for header in ("loss (min)", "DURATION"):
        end = lines[0].index(header) + len(header)
        assert all(line[end - 1] != " " and line[end : end + 2] == "  " for line in lines), header
    assert lines[1].split()[1:6] == ["finished", "1", "0", "adam", "8"]

    status = cli(redis_url, "status").stdout.splitlines()
    assert status[0].split() == [
        "SWEEP",
        "STATE",
        "METHOD",
        "NAME",
        "RUNS",
        "RUNNING",
        "FAILED",
        "BEST",
    ]
    assert status[1].split() == [finished, "finished", "grid", "demo", "6/6", "0", "0", "loss=8"]
    detail = cli(redis_url, "status", finished).stdout
    assert f"sweep {finished} (demo, project results): finished (grid_exhausted)" in detail
    assert "runs    6/6 done: 6 finished" in detail
    assert "best    loss=8 by run " in detail and "a=1, b=0, opt.name=adam" in detail


def test_the_python_api_reads_the_same(finished: str, redis_url: str) -> None:
    with redsweep.Api(redis_url) as api:
        sweep = api.sweep(f"entity/results/{finished}")  # W&B paths work
        assert (sweep.state, sweep.name, sweep.expected_run_count) == ("finished", "demo", 6)
        assert len(sweep.runs) == 6
        best = sweep.best_run()
        assert best is not None
        assert (best.config["a"], best.config["b"], best.value) == (1, 0, 8)
        assert best.history() == [
            {"loss": 10, "acc": 0.0, "_step": 0},
            {"loss": 9, "acc": 0.1, "_step": 1},
            {"loss": 8, "acc": 0.2, "_step": 2},
        ]
        worst = sweep.best_run(order="-summary_metrics.loss")
        assert worst is not None and (worst.config["a"], worst.config["b"]) == (3, 1)
        assert [s.id for s in api.sweeps(project="results")] == [finished]
        assert api.sweeps(project="other") == []
        assert api.run(f"{finished}/{best.id}").summary == {"loss": 8, "acc": 0.2}
    with Store.from_url(redis_url) as store:  # the sweep's own best agrees
        assert store.sweeps.get(finished).best_trial == best.id
