"""The parameter distributions: seeded sampling, grids, cdf/ppf and value identity."""

from __future__ import annotations

import math
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from redsweep.shared.engine import params as P

N = 4000


def draws(param: P.Param, n: int = N, seed: int = 0) -> list[Any]:
    rng = np.random.default_rng(seed)
    return [param.sample(rng) for _ in range(n)]


def between(lo: float, hi: float) -> Callable[[Any], bool]:
    return lambda v: lo <= v <= hi


def multiple_of(value: float, q: float) -> bool:
    return math.isclose(value / q, round(value / q), abs_tol=1e-9)


# one instance of every distribution, with the set its values must fall in
SUPPORT: dict[str, tuple[P.Param, Callable[[Any], bool]]] = {
    "constant": (P.Constant(("x",), value="adam"), lambda v: v == "adam"),
    "categorical": (P.Categorical(("x",), values=(1, "b", None)), lambda v: v in (1, "b", None)),
    "categorical_w_probabilities": (
        P.CategoricalProb(("x",), values=("a", "b"), probabilities=(0.3, 0.7)),
        lambda v: v in ("a", "b"),
    ),
    "int_uniform": (P.IntUniform(("x",), min=-2, max=3), lambda v: type(v) is int and -2 <= v <= 3),
    "uniform": (P.Uniform(("x",), min=-1.0, max=2.0), between(-1.0, 2.0)),
    "q_uniform": (P.QUniform(("x",), min=0, max=10, q=3), lambda v: v in (0, 3, 6, 9)),
    "log_uniform": (P.LogUniform(("x",), min=-3.0, max=1.0), between(math.exp(-3), math.exp(1))),
    "log_uniform_values": (P.LogUniformValues(("x",), min=1e-4, max=0.1), between(1e-4, 0.1)),
    "q_log_uniform": (
        P.QLogUniform(("x",), min=0.0, max=3.0, q=2),
        lambda v: type(v) is int and v % 2 == 0 and 0 <= v <= 20,
    ),
    "q_log_uniform_values": (
        P.QLogUniformValues(("x",), min=1.0, max=100.0, q=0.5),
        lambda v: isinstance(v, float) and multiple_of(v, 0.5) and 1.0 <= v <= 100.0,
    ),
    "inv_log_uniform": (
        P.InvLogUniform(("x",), min=0.0, max=4.0),
        between(math.exp(-4.0), 1.0),
    ),
    "inv_log_uniform_values": (
        P.InvLogUniformValues(("x",), min=0.01, max=1.0),
        between(0.01, 1.0),
    ),
    "normal": (P.Normal(("x",), mu=5.0, sigma=2.0), math.isfinite),
    "q_normal": (
        P.QNormal(("x",), mu=0.0, sigma=10.0, q=0.25),
        lambda v: isinstance(v, float) and multiple_of(v, 0.25),
    ),
    "log_normal": (P.LogNormal(("x",), mu=0.0, sigma=0.5), lambda v: v > 0),
    "q_log_normal": (
        P.QLogNormal(("x",), mu=2.0, sigma=0.5, q=1),
        lambda v: type(v) is int and v >= 0,
    ),
    "beta": (P.Beta(("x",), a=2.0, b=5.0), between(0.0, 1.0)),
    "q_beta": (
        P.QBeta(("x",), a=2.0, b=2.0, q=0.1),
        lambda v: isinstance(v, float) and multiple_of(v, 0.1) and 0.0 <= v <= 1.0,
    ),
}


def test_support_table_covers_every_distribution() -> None:
    assert set(SUPPORT) == set(P.DISTRIBUTIONS)
    for name, (param, _) in SUPPORT.items():
        assert type(param) is P.DISTRIBUTIONS[name]


@pytest.mark.parametrize("name", sorted(SUPPORT))
def test_seeded_samples_stay_in_the_support(name: str) -> None:
    param, inside = SUPPORT[name]
    values = draws(param, 1000)
    assert all(inside(v) for v in values), [v for v in values if not inside(v)][:5]
    assert all(not isinstance(v, np.generic) for v in values)


@pytest.mark.parametrize("name", sorted(SUPPORT))
def test_sampling_is_reproducible_from_the_seed(name: str) -> None:
    param, _ = SUPPORT[name]
    assert draws(param, 50, seed=7) == draws(param, 50, seed=7)


@pytest.mark.parametrize("cls", [P.QUniform, P.QLogUniformValues, P.QNormal, P.QLogNormal, P.QBeta])
@pytest.mark.parametrize("q", [1, 2, 0.5, 1.0])
def test_q_values_are_multiples_of_q_and_ints_only_for_int_q(cls: type[P.Param], q: float) -> None:
    if cls in (P.QUniform, P.QLogUniformValues):
        param = cls(("x",), min=1.0, max=50.0, q=q)
    elif cls is P.QBeta:
        param = cls(("x",), a=2.0, b=2.0, q=q / 4)
        q = q / 4
    else:
        param = cls(("x",), mu=1.0, sigma=1.0, q=q)
    for value in draws(param, 300):
        assert multiple_of(value, q)
        assert type(value) is (int if isinstance(q, int) else float)


def test_int_uniform_covers_min_and_max_inclusive() -> None:
    counts = Counter(draws(P.IntUniform(("x",), min=1, max=4)))
    assert set(counts) == {1, 2, 3, 4}
    assert all(abs(c / N - 0.25) < 0.04 for c in counts.values())
    param = P.IntUniform(("x",), min=1, max=4)
    assert (param.ppf(0.0), param.ppf(1.0)) == (1, 4)


def test_categorical_covers_every_value_evenly() -> None:
    counts = Counter(draws(P.Categorical(("x",), values=("a", "b", "c"))))
    assert all(abs(counts[v] / N - 1 / 3) < 0.04 for v in "abc")


def test_categorical_w_probabilities_frequencies_follow_the_probabilities() -> None:
    param = P.CategoricalProb(("x",), values=("a", "b", "c"), probabilities=(0.1, 0.6, 0.3))
    counts = Counter(draws(param, 10_000))
    assert abs(counts["a"] / 10_000 - 0.1) < 0.02
    assert abs(counts["b"] / 10_000 - 0.6) < 0.02
    assert abs(counts["c"] / 10_000 - 0.3) < 0.02


def test_a_zero_probability_value_is_never_drawn() -> None:
    param = P.CategoricalProb(("x",), values=(1, 2, 3), probabilities=(0.5, 0.0, 0.5))
    assert 2 not in draws(param, 2000)


def test_normal_moments() -> None:
    values = np.array(draws(P.Normal(("x",), mu=3.0, sigma=2.0), 20_000))
    assert abs(values.mean() - 3.0) < 0.1
    assert abs(values.std() - 2.0) < 0.1


def test_log_normal_moments() -> None:
    values = np.array(draws(P.LogNormal(("x",), mu=0.5, sigma=0.4), 20_000))
    assert abs(np.log(values).mean() - 0.5) < 0.02
    assert abs(np.log(values).std() - 0.4) < 0.02
    assert abs(values.mean() - math.exp(0.5 + 0.4**2 / 2)) < 0.05


def test_beta_moments() -> None:
    a, b = 2.0, 5.0
    values = np.array(draws(P.Beta(("x",), a=a, b=b), 20_000))
    assert abs(values.mean() - a / (a + b)) < 0.01
    variance = a * b / ((a + b) ** 2 * (a + b + 1))
    assert abs(values.var() - variance) < 0.005


def test_uniform_and_log_uniform_values_means() -> None:
    uniform = np.array(draws(P.Uniform(("x",), min=2.0, max=4.0), 20_000))
    assert abs(uniform.mean() - 3.0) < 0.03
    logs = np.log(draws(P.LogUniformValues(("x",), min=1e-4, max=1.0), 20_000))
    assert abs(logs.mean() - math.log(1e-2)) < 0.1  # uniform in log space


#: the distributions with no finite set of values (grid search refuses them, as W&B does)
CONTINUOUS = [
    "uniform", "log_uniform", "log_uniform_values", "q_log_uniform", "q_log_uniform_values",
    "inv_log_uniform", "inv_log_uniform_values", "normal", "q_normal", "log_normal",
    "q_log_normal", "beta", "q_beta",
]  # fmt: skip


@pytest.mark.parametrize(
    "param",
    [
        P.Uniform(("x",), min=-1.0, max=2.0),
        P.LogUniform(("x",), min=-3.0, max=1.0),
        P.LogUniformValues(("x",), min=1e-4, max=0.1),
        P.InvLogUniform(("x",), min=0.0, max=4.0),
        P.InvLogUniformValues(("x",), min=0.01, max=1.0),
        P.Normal(("x",), mu=5.0, sigma=2.0),
        P.LogNormal(("x",), mu=0.0, sigma=0.5),
        P.Beta(("x",), a=2.0, b=5.0),
    ],
    ids=lambda p: p.distribution,
)
@pytest.mark.parametrize("u", [0.001, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999])
def test_cdf_inverts_ppf(param: P.Param, u: float) -> None:
    assert param.cdf(param.ppf(u)) == pytest.approx(u, abs=1e-9)


@pytest.mark.parametrize(
    "param",
    [
        P.QUniform(("x",), min=0.0, max=10.0, q=0.001),
        P.QLogUniformValues(("x",), min=1.0, max=10.0, q=1e-6),
        P.QNormal(("x",), mu=0.0, sigma=1.0, q=1e-6),
    ],
    ids=lambda p: p.distribution,
)
def test_cdf_nearly_inverts_ppf_for_fine_quantized(param: P.Param) -> None:
    for u in (0.1, 0.5, 0.9):
        assert param.cdf(param.ppf(u)) == pytest.approx(u, abs=1e-3)


def test_categorical_cdf_and_ppf_round_trip_by_position() -> None:
    param = P.Categorical(("x",), values=("a", "b", "c", "d"))
    assert [param.cdf(v) for v in "abcd"] == [0.25, 0.5, 0.75, 1.0]
    assert [param.ppf(param.cdf(v)) for v in "abcd"] == list("abcd")
    weighted = P.CategoricalProb(("x",), values=("a", "b"), probabilities=(0.2, 0.8))
    assert weighted.cdf("a") == pytest.approx(0.2)
    assert (weighted.ppf(0.1), weighted.ppf(0.5)) == ("a", "b")


def test_grid_values_of_the_discrete_distributions() -> None:
    assert P.Categorical(("x",), values=(3, "a", None)).grid_values() == [3, "a", None]
    assert P.IntUniform(("x",), min=-1, max=2).grid_values() == [-1, 0, 1, 2]
    assert P.Constant(("x",), value=[1, 2]).grid_values() == [[1, 2]]


def test_q_uniform_grid_is_arange_from_min_strictly_below_max() -> None:
    assert P.QUniform(("x",), min=0, max=10, q=3).grid_values() == [0, 3, 6, 9]
    assert P.QUniform(("x",), min=0, max=9, q=3).grid_values() == [0, 3, 6]
    assert P.QUniform(("x",), min=1, max=2, q=0.25).grid_values() == [1.0, 1.25, 1.5, 1.75]
    grid = P.QUniform(("x",), min=0, max=3, q=1.0).grid_values()
    assert grid == [0.0, 1.0, 2.0]
    assert all(type(v) is float for v in grid)


def test_only_the_discrete_distributions_have_a_grid() -> None:
    for name, (param, _) in SUPPORT.items():
        has_grid = param.grid_values() is not None
        # categorical_w_probabilities has no grid: grid search refuses probabilities, as W&B
        expected = name in ("constant", "categorical", "int_uniform", "q_uniform")
        assert has_grid == expected, name
        assert type(param).continuous == (name in CONTINUOUS), name


@pytest.mark.parametrize("u", [0.0, 0.2, 0.5, 0.8, 1.0])
def test_v1_log_uniform_with_log_bounds_is_the_same_law_as_the_values_form(u: float) -> None:
    a, b = 1e-3, 0.5
    v1 = P.LogUniform(("x",), min=math.log(a), max=math.log(b))
    v2 = P.LogUniformValues(("x",), min=a, max=b)
    assert v1.ppf(u) == pytest.approx(v2.ppf(u), rel=1e-12)
    assert v1.cdf(v2.ppf(u)) == pytest.approx(u, abs=1e-12)
    q1 = P.QLogUniform(("x",), min=math.log(1.0), max=math.log(100.0), q=5)
    q2 = P.QLogUniformValues(("x",), min=1.0, max=100.0, q=5)
    assert q1.ppf(u) == q2.ppf(u)


@pytest.mark.parametrize("u", [0.0, 0.3, 0.7, 1.0])
def test_v1_inv_log_uniform_with_negated_log_bounds_matches_the_values_form(u: float) -> None:
    a, b = 0.01, 0.5
    v1 = P.InvLogUniform(("x",), min=-math.log(b), max=-math.log(a))
    v2 = P.InvLogUniformValues(("x",), min=a, max=b)
    assert v1.ppf(u) == pytest.approx(v2.ppf(u), rel=1e-12)
    assert v2.ppf(0.0) == pytest.approx(a) and v2.ppf(1.0) == pytest.approx(b)


def test_v1_log_uniform_and_values_form_sample_the_same_stream() -> None:
    v1 = P.LogUniform(("x",), min=math.log(0.01), max=math.log(10.0))
    v2 = P.LogUniformValues(("x",), min=0.01, max=10.0)
    assert draws(v1, 100, seed=3) == pytest.approx(draws(v2, 100, seed=3), rel=1e-12)


def test_canonical_integral_floats_equal_their_ints() -> None:
    assert P.canonical(3000000.0) == P.canonical(3000000)
    assert P.canonical(np.float64(2.0)) == P.canonical(2)
    assert P.canonical(np.int64(7)) == P.canonical(7)
    assert P.canonical(0.5) != P.canonical(0)


def test_canonical_keeps_booleans_apart_from_numbers() -> None:
    assert P.canonical(True) != P.canonical(1)
    assert P.canonical(False) != P.canonical(0)
    assert P.canonical(False) != P.canonical(None)
    assert P.canonical("1") != P.canonical(1)


def test_canonical_compares_containers_by_content() -> None:
    assert P.canonical({"a": 1, "b": [1, 2.0]}) == P.canonical({"b": [1.0, 2], "a": 1.0})
    assert P.canonical([1, 2]) == P.canonical((1, 2))
    assert P.canonical([1, 2]) != P.canonical([2, 1])
    assert P.canonical({"a": True}) != P.canonical({"a": 1})


def test_categorical_index_finds_values_by_canonical_identity() -> None:
    param = P.Categorical(("x",), values=(1, True, {"a": 1, "b": 2}))
    assert param.index(1.0) == 0
    assert param.index(True) == 1
    assert param.index({"b": 2, "a": 1}) == 2
    with pytest.raises(ValueError, match="not one of the values"):
        param.index(2)


def test_to_dict_fills_the_distribution_and_defaults() -> None:
    assert P.QNormal(("opt", "lr")).to_dict() == {
        "distribution": "q_normal",
        "mu": 0.0,
        "sigma": 1.0,
        "q": 1.0,
    }
    assert P.Categorical(("x",), values=(1, 2)).to_dict() == {
        "distribution": "categorical",
        "values": [1, 2],
    }
    assert P.QNormal(("opt", "lr")).name == "opt.lr"


def test_every_distribution_is_found_by_its_config_name() -> None:
    """The registry names the scaled distributions before loading them: each name must be
    the one its class answers to."""
    assert len(P.DISTRIBUTIONS) == len(SUPPORT)
    for name in P.DISTRIBUTIONS:
        assert P.DISTRIBUTIONS[name].distribution == name
    with pytest.raises(KeyError):
        P.DISTRIBUTIONS["log-uniform"]


def test_a_sweep_of_plain_distributions_does_not_load_the_scaled_ones() -> None:
    """Start-up time: the 12 scaled distributions (log, normal, beta) cost ~8 ms of every
    agent's and every quickstart's start; a sweep that uses none of them does not load them,
    and one that does finds them."""
    script = """
import sys
from redsweep.shared.engine.config import parse_config
plain = {"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"values": [1, 3]}}}
parse_config(plain)
before = "redsweep.shared.engine.params_scaled" in sys.modules
lr = {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1}
scaled = {"method": "random", "parameters": {"lr": lr}}
print(before, type(parse_config(scaled).params[0]).__name__)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "LogUniformValues"]
