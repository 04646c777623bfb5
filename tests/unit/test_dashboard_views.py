"""The dashboard's computations that need no server: importance, correlation, downsampling."""

from __future__ import annotations

import random

import pytest

from redsweep.dashboard.importance import parameter_importance
from redsweep.dashboard.views import MAX_DOTS, _scatter, downsample
from redsweep.shared.records import Goal


def test_importance_ranks_the_parameters_that_move_the_metric() -> None:
    rng = random.Random(1)
    configs = [
        {"x": rng.random(), "noise": rng.random(), "opt": rng.choice(["a", "b"]), "same": 1}
        for _ in range(300)
    ]
    values = [3 * c["x"] + (1.0 if c["opt"] == "a" else 0.0) for c in configs]
    result = parameter_importance(configs, values)
    assert [p["name"] for p in result] == ["x", "opt", "noise"]  # "same" never varies
    assert sum(p["importance"] for p in result) == pytest.approx(1.0)
    by_name = {p["name"]: p for p in result}
    assert by_name["x"]["correlation"] > 0.8  # 0.88: opt adds its own spread
    assert abs(by_name["noise"]["correlation"]) < 0.2
    assert by_name["opt"]["correlation"] is None  # a category has no linear correlation


def test_importance_needs_three_runs_and_a_metric_that_moves() -> None:
    assert parameter_importance([{"x": 1}, {"x": 2}], [1.0, 2.0]) == []
    flat = parameter_importance([{"x": i} for i in range(5)], [1.0] * 5)
    assert flat == [{"name": "x", "importance": 0.0, "correlation": None}]


def test_downsample_keeps_the_ends_and_at_most_the_points_asked() -> None:
    xs = list(range(10_000))
    x, y = downsample(xs, [v * 2 for v in xs], 200)
    assert len(x) <= 200 and x[0] == 0 and x[-1] == 9_999
    assert y == [v * 2 for v in x]
    assert downsample([1, 2], [3, 4], 200) == ([1, 2], [3, 4])


def test_a_big_scatter_keeps_the_best_runs_and_draws_the_exact_best_so_far_line() -> None:
    """Past MAX_DOTS scored runs the scatter sends the best quarter and a spread of the rest;
    its best-so-far line keeps only its steps, and is the line over every run."""
    rng = random.Random(3)
    rows = [
        {"id": f"r{i}", "created_ms": 1000 + i, "value": rng.uniform(0, 10)} for i in range(5000)
    ]
    rows[4321]["value"] = -1.0
    got = _scatter(rows, Goal.MINIMIZE)
    assert len(got["x"]) == MAX_DOTS and got["scored"] == 5000
    assert "r4321" in got["ids"] and got["x"] == sorted(got["x"])
    best_quarter = sorted(rows, key=lambda r: r["value"])[: MAX_DOTS // 4]
    assert {r["id"] for r in best_quarter} <= set(got["ids"])
    # expanded as plotly's "hv" line does, the steps give the running minimum at every run
    steps = dict(zip(got["best_x"], got["best"], strict=True))
    level, drawn = float("inf"), float("inf")
    for n, row in enumerate(rows, start=1):
        level = min(level, row["value"])
        drawn = steps.get(n, drawn)
        assert drawn == level
    assert got["best_x"][0] == 1 and got["best_x"][-1] == 5000
    assert got["best"][-1] == -1.0 and len(got["best"]) < 30
