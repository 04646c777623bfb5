"""Bayes search: random until two results, valid suggestions, imputation, and it finds optima."""

from __future__ import annotations

import time

import numpy as np
import pytest
from scipy import optimize

from redsweep.shared.engine import bayes, gp, search
from redsweep.shared.engine.observations import FactsCache, observations
from redsweep.shared.engine.params import (
    Categorical,
    Constant,
    IntUniform,
    LogUniformValues,
    Param,
    QUniform,
    Uniform,
)
from redsweep.shared.records import Goal, Impute, Method, Metric, RunRecord, SweepConfig

LOSS = Metric("loss")


def make_config(*params: Param, metric: Metric | None = LOSS) -> SweepConfig:
    return SweepConfig(
        method=Method.BAYES, params=tuple(sorted(params, key=lambda p: p.path)), metric=metric
    )


def xy_config(metric: Metric = LOSS) -> SweepConfig:
    return make_config(Uniform(("x",), -1.0, 1.0), Uniform(("y",), -1.0, 1.0), metric=metric)


def quadratic(p: dict) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] + 0.2) ** 2


def finished(rid: str, params: dict, loss: float, name: str = "loss") -> RunRecord:
    return RunRecord(rid, "finished", params, summary={name: loss})


def seeded(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---- before two results ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "runs",
    [
        [],
        [finished("a", {"x": 0.1, "y": 0.1}, 1.0)],
        [finished("a", {"x": 0.1, "y": 0.1}, 1.0), RunRecord("b", "running", {"x": 0.2, "y": 0.0})],
    ],
)
def test_bayes_samples_at_random_until_two_results(runs: list[RunRecord]) -> None:
    config = xy_config()
    random = SweepConfig(method=Method.RANDOM, params=config.params, metric=LOSS)
    assert search.suggest(config, runs, n=3, rng=seeded(5)) == search.suggest(
        random, [], n=3, rng=seeded(5)
    )


def test_bayes_is_reproducible_by_seed() -> None:
    runs = [finished(str(i), {"x": x, "y": -x}, x * x) for i, x in enumerate((-0.5, 0.1, 0.7))]
    assert search.suggest(xy_config(), runs, n=2, rng=seeded(3)) == search.suggest(
        xy_config(), runs, n=2, rng=seeded(3)
    )


def test_bayes_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="metric"):
        search.suggest(make_config(Uniform(("x",), 0.0, 1.0), metric=None), [], n=1)


# ---- valid suggestions -----------------------------------------------------------------------


def mixed_config() -> SweepConfig:
    return make_config(
        Categorical(("opt", "name"), ("adam", "sgd", "rmsprop")),
        IntUniform(("layers",), 1, 4),
        LogUniformValues(("opt", "lr"), 1e-4, 1e-1),
        QUniform(("dropout",), 0.0, 0.5, 0.1),
        Constant(("epochs",), 10),
    )


def check_valid(point: dict) -> None:
    assert set(point) == {"dropout", "epochs", "layers", "opt"}
    assert point["opt"]["name"] in ("adam", "sgd", "rmsprop")
    assert type(point["layers"]) is int and 1 <= point["layers"] <= 4
    assert type(point["opt"]["lr"]) is float and 1e-4 <= point["opt"]["lr"] <= 1e-1
    assert type(point["dropout"]) is float and 0.0 <= point["dropout"] <= 0.5
    assert round(point["dropout"] * 10) == pytest.approx(point["dropout"] * 10)
    assert point["epochs"] == 10


def test_bayes_suggests_values_in_each_parameters_support() -> None:
    config = mixed_config()
    rng = seeded(0)
    runs = []
    for i, point in enumerate(search.suggest(config, [], n=6, rng=rng)):
        loss = point["layers"] + np.log10(point["opt"]["lr"]) + point["dropout"]
        runs.append(finished(str(i), point, float(loss)))
    runs.append(RunRecord("p", "pending", runs[0].params))
    points = search.suggest(config, runs, n=4, rng=rng)
    assert len(points) == 4
    for point in points:
        check_valid(point)


def test_bayes_copes_with_a_small_space_it_has_fully_explored() -> None:
    config = make_config(Categorical(("a",), ("x", "y")), IntUniform(("b",), 0, 1))
    runs = [
        finished(f"{a}{b}", {"a": a, "b": b}, float(b))
        for a in ("x", "y")
        for b in (0, 1)
        for _ in range(3)
    ]
    for point in search.suggest(config, runs, n=3, rng=seeded(1)):
        assert point["a"] in ("x", "y") and point["b"] in (0, 1)


def test_runs_outside_the_space_are_left_out() -> None:
    config = make_config(Categorical(("a",), ("x", "y")), Uniform(("b",), 0.0, 1.0))
    runs = [
        finished("1", {"a": "x", "b": 0.5}, 1.0),
        finished("2", {"a": "z", "b": 0.5}, 2.0),  # not one of the values
        finished("3", {"a": "y"}, 3.0),  # no b
        finished("4", {"a": "y", "b": "high"}, 4.0),  # not a number
    ]
    X, y, pending = observations(config, runs)
    assert X.tolist() == [[0.5, 0.5]] and y.tolist() == [1.0] and len(pending) == 0


# ---- what the GP learns from -----------------------------------------------------------------


def imputation_runs() -> list[RunRecord]:
    return [
        RunRecord(
            "done", "finished", {"x": 0.1}, history=[{"loss": 5}, {"loss": 3}], summary={"loss": 4}
        ),
        RunRecord("fail", "failed", {"x": 0.2}, history=[{"loss": 1}, {"loss": 6}, {"loss": 2}]),
        RunRecord("crash", "crashed", {"x": 0.3}),
        RunRecord("live", "running", {"x": 0.4}, history=[{"loss": 0.5}]),
        RunRecord("queued", "pending", {"x": 0.5}),
    ]


@pytest.mark.parametrize(
    ("impute", "expected"),
    [
        # worst: the worst value any ended run logged (6); best: the run's own best (1);
        # latest: its last logged value (2); a run without values falls back to worst
        (Impute.WORST, [3.0, 6.0, 6.0]),
        (Impute.BEST, [3.0, 1.0, 6.0]),
        (Impute.LATEST, [3.0, 2.0, 6.0]),
    ],
)
def test_failed_and_crashed_runs_are_imputed(impute: Impute, expected: list[float]) -> None:
    config = make_config(Uniform(("x",), 0.0, 1.0), metric=Metric("loss", impute=impute))
    X, y, pending = observations(config, imputation_runs())
    assert X[:, 0].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert y.tolist() == expected
    assert pending[:, 0].tolist() == pytest.approx([0.4, 0.5])  # the fantasies


@pytest.mark.parametrize("impute", list(Impute))
def test_a_facts_cache_reads_each_ended_run_once_and_changes_nothing(impute: Impute) -> None:
    config = make_config(Uniform(("x",), 0.0, 1.0), metric=Metric("loss", impute=impute))
    cache = FactsCache()
    plain = observations(config, imputation_runs())
    first = observations(config, imputation_runs(), cache)
    assert set(cache.facts) == {"done", "fail", "crash"}  # ended; not the live or queued ones
    again = observations(config, imputation_runs(), cache)
    for seen in (first, again):
        assert seen.X.tolist() == plain.X.tolist() and seen.y.tolist() == plain.y.tolist()
        assert seen.pending.tolist() == plain.pending.tolist()
    other = make_config(Uniform(("x",), 0.0, 2.0), metric=Metric("loss", impute=impute))
    assert observations(other, imputation_runs(), cache).X[:, 0].tolist() == pytest.approx(
        [0.05, 0.1, 0.15]  # another space: the cache starts again, nothing stale is used
    )


def test_a_facts_cache_of_many_runs_grows_and_gives_what_reading_them_gives() -> None:
    """Past its first rows the cache grows; runs that end later join it; a run read again
    in another state is read afresh. Each time, what a read without it gives."""
    config = make_config(Uniform(("x",), 0.0, 1.0), metric=Metric("loss"))
    runs = [finished(f"r{i}", {"x": i / 300}, (i / 300 - 0.4) ** 2) for i in range(200)]
    runs.append(RunRecord("live", "running", {"x": 0.9}))
    cache = FactsCache()
    for grown in (runs, [*runs[:200], finished("live", {"x": 0.9}, 0.25)], runs[50:]):
        plain, cached = observations(config, grown), observations(config, grown, cache)
        assert cached.X.tolist() == plain.X.tolist() and cached.y.tolist() == plain.y.tolist()
        assert cached.pending.tolist() == plain.pending.tolist()
    assert len(cache.facts) == 201 and cache.size == 201  # every ended run, each once


def test_running_runs_count_when_imputed_while_running() -> None:
    metric = Metric("loss", impute_while_running=Impute.BEST)
    seen = observations(make_config(Uniform(("x",), 0.0, 1.0), metric=metric), imputation_runs())
    assert seen.y.tolist() == [3.0, 6.0, 6.0, 0.5]
    assert seen.pending[:, 0].tolist() == pytest.approx([0.5])


def test_a_maximised_metric_is_negated() -> None:
    config = make_config(Uniform(("x",), 0.0, 1.0), metric=Metric("acc", goal=Goal.MAXIMIZE))
    runs = [
        RunRecord("a", "finished", {"x": 0.1}, history=[{"acc": 0.2}, {"acc": 0.9}]),
        RunRecord("b", "killed", {"x": 0.2}, history=[{"acc": 0.4}]),
    ]
    # the killed run gets the worst (lowest) accuracy any ended run logged: 0.2
    assert observations(config, runs).y.tolist() == [-0.9, -0.2]


# ---- parallel suggestions --------------------------------------------------------------------


def one_d_runs() -> list[RunRecord]:
    xs = (0.05, 0.3, 0.5, 0.8, 0.95)
    return [finished(str(i), {"x": x}, (x - 0.62) ** 2) for i, x in enumerate(xs)]


def test_a_pending_run_pushes_the_next_suggestion_elsewhere() -> None:
    config = make_config(Uniform(("x",), 0.0, 1.0))
    alone = search.suggest(config, one_d_runs(), n=1, rng=seeded(0))[0]["x"]
    assert abs(alone - 0.62) < 0.05
    runs = [*one_d_runs(), RunRecord("p", "pending", {"x": alone})]
    beside = search.suggest(config, runs, n=1, rng=seeded(0))[0]["x"]
    assert abs(beside - alone) > 0.01  # ~0.03: the other side of the optimum


def test_a_batch_spreads_out() -> None:
    config = make_config(Uniform(("x",), 0.0, 1.0))
    xs = sorted(p["x"] for p in search.suggest(config, one_d_runs(), n=4, rng=seeded(0)))
    assert min(np.diff(xs)) > 0.002
    assert xs[-1] - xs[0] > 0.03  # ~0.06 around the optimum at 0.62


# ---- the Gaussian process --------------------------------------------------------------------


def test_likelihood_gradient_matches_finite_differences() -> None:
    rng = seeded(1)
    X, y = rng.random((30, 3)), rng.standard_normal(30)
    d2 = ((X.T[:, :, None] - X.T[:, None, :]) ** 2).reshape(3, -1)
    theta = np.array([-1.0, -0.5, 0.3, 0.2, -4.0])  # log length scales, amplitude, noise
    _, grad = gp.neg_log_likelihood(theta, y, d2)
    numeric = optimize.approx_fprime(theta, lambda t: gp.neg_log_likelihood(t, y, d2)[0], 1e-6)
    assert grad == pytest.approx(numeric, rel=1e-4, abs=1e-4)


def test_the_predictions_gradients_match_finite_differences() -> None:
    rng = seeded(3)
    X, y = rng.random((40, 3)), rng.standard_normal(40)
    model = gp.GP(X, y, np.array([-1.0, -0.5, 0.3, 0.2, -4.0]))
    points = rng.random((5, 3))
    mean, std, dmean, dstd = model.predict_grads(points)
    assert (mean, std) == (pytest.approx(model.predict(points)[0]),
                           pytest.approx(model.predict(points)[1]))  # fmt: skip
    step = 1e-6
    for j in range(3):
        up, down = points.copy(), points.copy()
        up[:, j] += step
        down[:, j] -= step
        (mean_up, std_up), (mean_down, std_down) = model.predict(up), model.predict(down)
        assert dmean[:, j] == pytest.approx((mean_up - mean_down) / (2 * step), rel=1e-4, abs=1e-6)
        assert dstd[:, j] == pytest.approx((std_up - std_down) / (2 * step), rel=1e-4, abs=1e-6)


def test_polishing_climbs_expected_improvement_and_holds_discrete_dimensions() -> None:
    rng = seeded(4)
    X = rng.random((30, 2))
    y = ((X - 0.3) ** 2).sum(1)
    y = (y - y.mean()) / y.std()
    model = gp.GP(X, y, gp.fit(X, y, rng))
    starts = rng.random((4, 2))
    before = bayes._ei_and_gradient(model, float(y.min()), starts)[0]
    free = np.array([True, False])
    after_x, after = bayes._polish(model, float(y.min()), starts, free, np.ones(2))
    assert (after >= before).all() and after.max() > before.max()
    assert (after_x[:, 1] == starts[:, 1]).all()  # the held dimension never moves


def test_gp_interpolates_its_data_and_is_unsure_far_from_it() -> None:
    X = np.array([[0.1], [0.4], [0.5], [0.9]])
    y = np.array([1.0, -0.5, -0.7, 0.8])
    model = gp.GP(X, y, np.array([np.log(0.2), 0.0, np.log(1e-6)]))
    mean, std = model.predict(np.array([[0.4], [0.7], [0.99]]))
    assert mean[0] == pytest.approx(-0.5, abs=1e-3) and std[0] < 0.01
    assert std[1] > 0.1 and std[2] > 0.1
    model.add(np.array([0.7]), 0.3)  # the rank-one extension equals a refit
    refit = gp.GP(np.vstack([X, [[0.7]]]), np.append(y, 0.3), np.log([0.2, 1.0, 1e-6]))
    grid = np.linspace(0, 1, 11)[:, None]
    assert model.predict(grid)[0] == pytest.approx(refit.predict(grid)[0], abs=1e-6)
    assert model.predict(grid)[1] == pytest.approx(refit.predict(grid)[1], abs=1e-6)


def test_hyperparameter_fit_finds_the_relevant_dimension() -> None:
    rng = seeded(2)
    X = rng.random((40, 2))
    y = np.sin(6 * X[:, 0])  # varies along x only
    theta = gp.fit(X, (y - y.mean()) / y.std(), rng)
    length_x, length_y = np.exp(theta[:2])
    assert length_x < 1.0 < length_y


# ---- it works --------------------------------------------------------------------------------


def best_found(method: Method, seed: int, metric: Metric = LOSS, budget: int = 25) -> float:
    config = xy_config(metric)
    config = SweepConfig(method=method, params=config.params, metric=metric)
    rng = seeded(seed)
    runs: list[RunRecord] = []
    for i in range(budget):
        point = search.suggest(config, runs, n=1, rng=rng)[0]
        value = quadratic(point) if metric.goal is Goal.MINIMIZE else -quadratic(point)
        runs.append(finished(str(i), point, value, metric.name))
    return min(quadratic(r.params) for r in runs)


def test_bayes_beats_random_on_a_quadratic_at_equal_budget() -> None:
    # 5 seeds of 15 runs (the first two random for bayes too): cheap, and still clear
    seeds, budget = range(5), 15
    bayes_best = [best_found(Method.BAYES, seed, budget=budget) for seed in seeds]
    random_best = [best_found(Method.RANDOM, seed, budget=budget) for seed in seeds]
    # hand check: random's median best of 15 uniform draws on [-1, 1]^2 is r with
    # 1 - (1 - pi r / 4)^15 = 1/2, r ~ 0.06 (seen: 0.055); bayes' median is ~4e-5
    assert np.median(random_best) > 1e-2
    assert np.median(bayes_best) < np.median(random_best) / 100  # seen: / 1500
    # every bayes sweep beats every random one (1 chance in 252 were they alike), by far
    assert max(bayes_best) < min(random_best) / 10, (bayes_best, random_best)  # seen: / 45


def test_bayes_maximises_too() -> None:
    assert best_found(Method.BAYES, 0, Metric("score", goal=Goal.MAXIMIZE), budget=20) < 1e-3


def thousand_runs() -> tuple[list[RunRecord], np.random.Generator]:
    rng = seeded(0)
    points = search.suggest(xy_config(), [], n=1000, rng=rng)
    return [finished(str(i), p, quadratic(p)) for i, p in enumerate(points)], rng


def test_a_suggestion_at_a_thousand_runs_is_good() -> None:
    runs, rng = thousand_runs()
    point = search.suggest(xy_config(), runs, n=1, rng=rng)[0]
    assert quadratic(point) < 0.01


@pytest.mark.perf
def test_a_suggestion_at_a_thousand_runs_is_quick() -> None:
    runs, rng = thousand_runs()
    started = time.perf_counter()
    search.suggest(xy_config(), runs, n=1, rng=rng)
    assert time.perf_counter() - started < 2.0  # ~0.03 s unloaded; W&B's sweeps takes ~0.2 s


# ---- a memo: the controller's warm start -----------------------------------------------------


def sweep_with_memo(seed: int, budget: int, memo: bayes.FitMemo | None) -> list[RunRecord]:
    config, rng, runs = xy_config(), seeded(seed), []
    for i in range(budget):
        point = search.suggest(config, runs, n=1, rng=rng, memo=memo)[0]
        runs.append(finished(str(i), point, quadratic(point)))
    return runs


def test_a_memo_keeps_suggestions_reproducible() -> None:
    first = sweep_with_memo(3, 12, bayes.FitMemo())
    again = sweep_with_memo(3, 12, bayes.FitMemo())
    assert [r.params for r in first] == [r.params for r in again]


def test_a_memo_starts_each_fit_from_the_last_and_refits_when_results_double() -> None:
    memo = bayes.FitMemo()
    runs = sweep_with_memo(0, 6, None)  # six results
    search.suggest(xy_config(), runs, n=1, rng=seeded(1), memo=memo)
    assert memo.cold_results == 6 and memo.theta is not None  # the first fit: from scratch
    cold_theta = memo.theta.copy()
    more = [
        *runs,
        *(finished(f"m{i}", r.params, quadratic(r.params)) for i, r in enumerate(runs[:5])),
    ]
    search.suggest(xy_config(), more, n=1, rng=seeded(1), memo=memo)
    assert memo.cold_results == 6  # 11 < 2 x 6: warm, from the last optimum
    assert not np.array_equal(memo.theta, cold_theta)  # it moved on with the data
    twice = [*more, finished("z", runs[0].params, quadratic(runs[0].params))]
    search.suggest(xy_config(), twice, n=1, rng=seeded(1), memo=memo)
    assert memo.cold_results == 12  # the results doubled: from scratch again


def test_a_memo_keeps_the_fit_until_the_results_grew_by_a_thirty_second() -> None:
    memo = bayes.FitMemo()
    runs = sweep_with_memo(0, 70, None)
    search.suggest(xy_config(), runs[:64], n=1, rng=seeded(1), memo=memo)
    assert memo.fit_results == 64 and memo.theta is not None
    theta = memo.theta
    search.suggest(xy_config(), runs[:65], n=1, rng=seeded(1), memo=memo)
    assert memo.fit_results == 64 and memo.theta is theta  # one more result: the same fit
    search.suggest(xy_config(), runs[:66], n=1, rng=seeded(1), memo=memo)
    assert memo.fit_results == 66  # 66 // 32 = 2 more: fitted again (warm)
    assert memo.cold_results == 64


def test_a_memo_finds_the_optimum_as_well_as_fitting_from_scratch() -> None:
    seeds = range(4)
    warm = [
        min(quadratic(r.params) for r in sweep_with_memo(s, 15, bayes.FitMemo())) for s in seeds
    ]
    cold = [min(quadratic(r.params) for r in sweep_with_memo(s, 15, None)) for s in seeds]
    # seen: medians ~1e-4 both ways; random search's is ~0.06 at this budget
    assert np.median(warm) < 1e-2 and np.median(cold) < 1e-2
    assert np.median(warm) < 10 * np.median(cold) + 1e-4
