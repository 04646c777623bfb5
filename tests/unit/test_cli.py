"""`redsweep validate` and `redsweep preview`, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from helpers import run_cli

from redsweep.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_validate_summarises_a_grid_with_its_size():
    result = run("validate", str(EXAMPLES / "grid.yaml"))
    assert result.exit_code == 0, result.output
    # depth 2..5 (4) x width (3) x dropout 0.0, 0.1, 0.2 (3)
    assert "valid grid sweep over 3 parameters, 36 grid points" in result.output


def test_validate_a_nested_bayes_example():
    result = run("validate", str(EXAMPLES / "sweep.yaml"))
    assert result.exit_code == 0, result.output
    assert "bayes sweep over 5 parameters" in result.output
    assert "run_cap 40" in result.output


def test_validate_broken_file_prints_one_line_with_file_line_key_and_problem(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: grid\nparameters:\n  lr:\n    min: 0.1\n    max: 0.01\n")
    result = run_cli(None, "validate", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(bad) in lines[0]
    assert "parameters.lr" in lines[0]
    assert "Traceback" not in result.stderr


def test_validate_missing_file_is_one_clear_line(tmp_path):
    result = run_cli(None, "validate", str(tmp_path / "nope.yaml"))
    assert result.returncode != 0
    assert "nope.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("method: nope\nparameters:\n  a:\n    value: 1\n")
    result = run_cli(None, "--debug", "validate", str(bad))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_preview_prints_the_grid_in_order_as_json_lines():
    result = run("preview", str(EXAMPLES / "grid.yaml"), "-n", "4")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    # sorted names: depth, dropout, width; the last varies fastest
    assert rows == [
        {"depth": 2, "dropout": 0.0, "width": 64},
        {"depth": 2, "dropout": 0.0, "width": 128},
        {"depth": 2, "dropout": 0.0, "width": 256},
        {"depth": 2, "dropout": 0.1, "width": 64},
    ]


def test_preview_random_is_reproducible_with_a_seed_and_nested():
    args = ("preview", str(EXAMPLES / "sweep.yaml"), "-n", "3", "--seed", "7")
    first, second = run(*args), run(*args)
    assert first.exit_code == 0, first.output
    assert first.output == second.output
    rows = [json.loads(line) for line in first.output.splitlines()]
    assert len(rows) == 3
    for row in rows:
        assert row["epochs"] == 10
        assert row["batch_size"] in (32, 64, 128)
        assert 1e-5 <= row["learning_rate"] <= 1e-1
        assert row["optimizer"]["name"] in ("adam", "sgd")
        assert 0.5 <= row["optimizer"]["momentum"] <= 0.99
    other = run("preview", str(EXAMPLES / "sweep.yaml"), "-n", "3", "--seed", "8")
    assert other.output != first.output


def test_preview_of_a_bad_file_exits_2():
    result = run("preview", "/nonexistent/sweep.yaml")
    assert result.exit_code == 2
