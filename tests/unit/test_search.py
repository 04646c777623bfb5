"""Grid and random search: what a sweep suggests, in which order, and what it skips."""

from __future__ import annotations

import time

import numpy as np
import pytest

from redsweep.shared.engine import search
from redsweep.shared.engine.params import (
    Categorical,
    CategoricalProb,
    Constant,
    IntUniform,
    LogUniformValues,
    Param,
    QUniform,
    Uniform,
)
from redsweep.shared.records import Method, Metric, RunRecord, SweepConfig


def make_config(method: Method, *params: Param) -> SweepConfig:
    return SweepConfig(
        method=method, params=tuple(sorted(params, key=lambda p: p.path)), metric=Metric("loss")
    )


def grid(*params: Param) -> SweepConfig:
    return make_config(Method.GRID, *params)


def run(params: dict, state: str = "finished", rid: str = "r") -> RunRecord:
    return RunRecord(rid, state, params)


def all_points(config: SweepConfig) -> list[dict]:
    return search.suggest(config, [], n=1000)


# ---- grid order ------------------------------------------------------------------------------


def test_grid_walks_sorted_paths_with_the_last_varying_fastest() -> None:
    config = grid(Categorical(("b",), ("x", "y")), Categorical(("a",), (1, 2, 3)))
    assert all_points(config) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
        {"a": 3, "b": "x"},
        {"a": 3, "b": "y"},
    ]


def test_grid_nests_parameters_and_orders_them_by_flattened_path() -> None:
    config = grid(
        IntUniform(("model", "depth"), 1, 2),
        Categorical(("model", "act"), ("relu", "tanh")),
        Categorical(("lr",), (0.1, 0.01)),
    )
    # paths sorted: ("lr",), ("model", "act"), ("model", "depth")
    assert all_points(config) == [
        {"lr": 0.1, "model": {"act": "relu", "depth": 1}},
        {"lr": 0.1, "model": {"act": "relu", "depth": 2}},
        {"lr": 0.1, "model": {"act": "tanh", "depth": 1}},
        {"lr": 0.1, "model": {"act": "tanh", "depth": 2}},
        {"lr": 0.01, "model": {"act": "relu", "depth": 1}},
        {"lr": 0.01, "model": {"act": "relu", "depth": 2}},
        {"lr": 0.01, "model": {"act": "tanh", "depth": 1}},
        {"lr": 0.01, "model": {"act": "tanh", "depth": 2}},
    ]


def test_int_uniform_grid_includes_both_ends() -> None:
    config = grid(IntUniform(("n",), 2, 4))
    assert search.grid_size(config) == 3
    assert all_points(config) == [{"n": 2}, {"n": 3}, {"n": 4}]


def test_q_uniform_grid_steps_from_min_and_stays_below_max() -> None:
    assert all_points(grid(QUniform(("q",), 0.0, 1.0, 0.25))) == [
        {"q": 0.0},
        {"q": 0.25},
        {"q": 0.5},
        {"q": 0.75},
    ]
    ints = all_points(grid(QUniform(("q",), 0, 10, 3)))
    assert ints == [{"q": 0}, {"q": 3}, {"q": 6}, {"q": 9}]
    assert all(type(p["q"]) is int for p in ints)


@pytest.mark.parametrize(
    ("lo", "hi", "q"),
    [(0.1, 0.7, 0.1), (0.0, 1.0, 0.1), (-1.0, 1.0, 0.3), (1, 2.5, 0.5), (0, 10.5, 3), (5, 5, 1)],
)
def test_q_uniform_grid_matches_numpy_arange(lo: float, hi: float, q: float) -> None:
    param = QUniform(("q",), lo, hi, q)
    values = [p["q"] for p in all_points(grid(param))]
    assert values == np.arange(lo, hi, q).tolist()
    assert [type(v) for v in values] == [type(v) for v in np.arange(lo, hi, q).tolist()]
    assert search.grid_size(grid(param)) == len(np.arange(lo, hi, q))


def test_constants_appear_in_every_grid_point() -> None:
    config = grid(Categorical(("a",), (1, 2)), Constant(("opt", "name"), "adam"))
    assert all_points(config) == [
        {"a": 1, "opt": {"name": "adam"}},
        {"a": 2, "opt": {"name": "adam"}},
    ]


# ---- covered points --------------------------------------------------------------------------


def test_grid_skips_points_runs_of_any_state_already_cover() -> None:
    config = grid(Categorical(("a",), (1, 2, 3)), Categorical(("b",), ("x", "y")))
    runs = [
        run({"a": 1, "b": "x"}, "failed"),
        run({"a": 2, "b": "y"}, "crashed"),
        run({"a": 3, "b": "x"}, "running"),
    ]
    assert search.suggest(config, runs, n=10) == [
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 3, "b": "y"},
    ]
    assert search.grid_remaining(config, runs) == 3


def test_grid_compares_values_canonically() -> None:
    config = grid(Categorical(("a",), (3000000.0, 7)), Categorical(("b",), (1, 2)))
    # 3000000 (an int) covers the config's 3000000.0; True does not cover 1
    runs = [run({"a": 3000000, "b": 2}), run({"a": 7, "b": True})]
    assert search.suggest(config, runs, n=10) == [
        {"a": 3000000.0, "b": 1},
        {"a": 7, "b": 1},
        {"a": 7, "b": 2},
    ]


def test_a_run_missing_a_value_covers_nothing() -> None:
    config = grid(Categorical(("a",), (1, 2)), Categorical(("b",), (1, 2)))
    runs = [run({"a": 1}), run({"a": 1, "b": 1, "extra": 5}), run({"a": 9, "b": 1})]
    assert search.suggest(config, runs, n=10) == [
        {"a": 1, "b": 2},
        {"a": 2, "b": 1},
        {"a": 2, "b": 2},
    ]
    assert search.grid_remaining(config, runs) == 3


def test_nested_run_params_cover_nested_grid_points() -> None:
    config = grid(IntUniform(("opt", "steps"), 1, 3))
    runs = [run({"opt": {"steps": 2}}), run({"opt": {"steps": 1.0}})]
    assert search.suggest(config, runs, n=5) == [{"opt": {"steps": 3}}]


def test_dict_values_match_despite_keys_added_at_run_time() -> None:
    config = grid(Categorical(("arch",), ({"w": 1}, {"w": 2})))
    runs = [run({"arch": {"w": 1, "injected": True}})]
    assert search.suggest(config, runs, n=5) == [{"arch": {"w": 2}}]


def test_an_exhausted_grid_suggests_fewer_then_none() -> None:
    config = grid(Categorical(("a",), (1, 2, 3)))
    first = search.suggest(config, [], n=2)
    assert first == [{"a": 1}, {"a": 2}]
    runs = [run(p, rid=str(i)) for i, p in enumerate(first)]
    second = search.suggest(config, runs, n=2)
    assert second == [{"a": 3}]
    runs.append(run(second[0], rid="3"))
    assert search.suggest(config, runs, n=2) == []
    assert search.grid_remaining(config, runs) == 0


def test_duplicate_values_are_one_grid_point() -> None:
    config = grid(Categorical(("a",), (1, 2, 1.0)))
    assert all_points(config) == [{"a": 1}, {"a": 2}]
    assert search.grid_remaining(config, []) == 2


def test_grid_values_are_copies_of_the_config() -> None:
    config = grid(Categorical(("layers",), ([64, 64], [128])))
    point = search.suggest(config, [], n=1)[0]
    point["layers"].append(1)
    assert search.suggest(config, [], n=1)[0] == {"layers": [64, 64]}


# ---- huge grids ------------------------------------------------------------------------------


def huge_grid() -> SweepConfig:
    return grid(*(IntUniform((name,), 0, 999) for name in "abcd"))


def test_a_trillion_point_grid_is_walked_by_index_not_enumerated() -> None:
    config = huge_grid()
    assert search.grid_size(config) == 10**12
    assert search.grid_point(config, 123_456_789_012) == {"a": 123, "b": 456, "c": 789, "d": 12}
    assert search.grid_point(config, 10**12 - 1) == {"a": 999, "b": 999, "c": 999, "d": 999}
    runs = [run({"a": 0, "b": 0, "c": 0, "d": d}, rid=str(d)) for d in (0, 2)]
    assert search.suggest(config, runs, n=2) == [
        {"a": 0, "b": 0, "c": 0, "d": 1},
        {"a": 0, "b": 0, "c": 0, "d": 3},
    ]
    assert search.grid_remaining(config, runs) == 10**12 - 2


@pytest.mark.perf
def test_a_trillion_point_grid_costs_nothing() -> None:
    config = huge_grid()
    runs = [run({"a": 0, "b": 0, "c": 0, "d": d}, rid=str(d)) for d in (0, 2)]
    started = time.perf_counter()
    search.grid_size(config)
    search.grid_point(config, 123_456_789_012)
    search.suggest(config, runs, n=2)
    search.grid_remaining(config, runs)
    assert time.perf_counter() - started < 0.5


def test_grid_point_outside_the_grid_raises() -> None:
    with pytest.raises(IndexError):
        search.grid_point(huge_grid(), 10**12)
    with pytest.raises(IndexError):
        search.grid_point(huge_grid(), -1)


@pytest.mark.parametrize(
    "param",
    [Uniform(("x",), 0.0, 1.0), CategoricalProb(("c",), ("a", "b"), (0.5, 0.5))],
)
def test_grid_size_refuses_parameters_without_a_grid(param: Param) -> None:
    with pytest.raises(ValueError, match=param.name):
        search.grid_size(grid(param, Categorical(("a",), (1,))))


# ---- random ----------------------------------------------------------------------------------


def random_config() -> SweepConfig:
    return make_config(
        Method.RANDOM,
        Uniform(("opt", "lr"), 0.0, 1.0),
        LogUniformValues(("opt", "wd"), 1e-5, 1e-1),
        Categorical(("act",), ("relu", "tanh")),
        IntUniform(("layers",), 1, 4),
        Constant(("epochs",), 10),
    )


def test_random_is_reproducible_by_seed_and_differs_across_seeds() -> None:
    config = random_config()
    a = search.suggest(config, [], n=5, rng=np.random.default_rng(7))
    b = search.suggest(config, [], n=5, rng=np.random.default_rng(7))
    c = search.suggest(config, [], n=5, rng=np.random.default_rng(8))
    assert a == b
    assert a != c
    assert len({p["opt"]["lr"] for p in a}) == 5


def test_random_suggests_nested_plain_values_in_their_support() -> None:
    points = search.suggest(random_config(), [], n=50, rng=np.random.default_rng(0))
    for p in points:
        assert set(p) == {"act", "epochs", "layers", "opt"}
        assert set(p["opt"]) == {"lr", "wd"}
        assert type(p["opt"]["lr"]) is float and 0.0 <= p["opt"]["lr"] <= 1.0
        assert type(p["opt"]["wd"]) is float and 1e-5 <= p["opt"]["wd"] <= 1e-1
        assert p["act"] in ("relu", "tanh")
        assert type(p["layers"]) is int and 1 <= p["layers"] <= 4
        assert p["epochs"] == 10
    assert {p["layers"] for p in points} == {1, 2, 3, 4}


def test_random_ignores_existing_runs_and_n_zero_suggests_nothing() -> None:
    config = random_config()
    assert search.suggest(config, [], n=0) == []
    runs = [run({"act": "relu"}, "failed")]
    assert search.suggest(config, runs, n=3, rng=np.random.default_rng(1)) == search.suggest(
        config, [], n=3, rng=np.random.default_rng(1)
    )
