"""The sweep's goal: run values, the best run, and when a sweep is done."""

from __future__ import annotations

import math

from redsweep.shared.engine import goal
from redsweep.shared.engine.params import Categorical, Param, Uniform
from redsweep.shared.records import Goal, Method, Metric, RunRecord, SweepConfig

MIN = Metric("loss")
MAX = Metric("acc", goal=Goal.MAXIMIZE)


def make_config(
    method: Method = Method.RANDOM,
    *params: Param,
    metric: Metric | None = MIN,
    run_cap: int | None = None,
) -> SweepConfig:
    params = params or (Uniform(("x",), 0.0, 1.0),)
    return SweepConfig(
        method=method,
        params=tuple(sorted(params, key=lambda p: p.path)),
        metric=metric,
        run_cap=run_cap,
    )


def run(rid: str, state: str = "finished", history=(), summary=None, params=None) -> RunRecord:
    return RunRecord(rid, state, params or {"x": 0.5}, history=history, summary=summary or {})


# ---- run values ------------------------------------------------------------------------------


def test_run_value_is_the_best_over_history_and_summary() -> None:
    r = run("r", history=[{"loss": 3.0}, {"loss": 1.0}, {"other": 0.0}, {"loss": 2.0}])
    assert goal.run_value(MIN, r) == 1.0
    assert goal.run_value(Metric("loss", goal=Goal.MAXIMIZE), r) == 3.0
    with_summary = run("s", history=[{"loss": 3.0}], summary={"loss": 0.5})
    assert goal.run_value(MIN, with_summary) == 0.5
    assert goal.run_value(MIN, run("t", summary={"loss": 4})) == 4.0


def test_run_value_ignores_what_is_not_a_finite_number() -> None:
    r = run(
        "r",
        history=[{"loss": math.nan}, {"loss": math.inf}, {"loss": True}, {"loss": "0.1"}],
        summary={"loss": -math.inf},
    )
    assert goal.run_value(MIN, r) is None
    r2 = run("r2", history=[{"loss": math.nan}, {"loss": 7}], summary={"loss": None})
    assert goal.run_value(MIN, r2) == 7.0


def test_best_run_takes_any_state_with_a_value() -> None:
    runs = [
        run("a", "finished", summary={"loss": 0.4}),
        run("b", "failed", history=[{"loss": 0.2}]),
        run("c", "running", history=[{"loss": 0.3}]),
        run("d", "crashed"),
    ]
    best = goal.best_run(make_config(), runs)
    assert best is not None and best.id == "b"
    acc_runs = [run("a", summary={"acc": 0.7}), run("b", summary={"acc": 0.9})]
    best = goal.best_run(make_config(metric=MAX), acc_runs)
    assert best is not None and best.id == "b"


def test_best_run_is_none_without_values_or_metric() -> None:
    assert goal.best_run(make_config(), [run("a"), run("b", "failed")]) is None
    assert goal.best_run(make_config(metric=None), [run("a", summary={"loss": 1})]) is None


def test_best_run_keeps_the_first_on_ties() -> None:
    runs = [run("a", summary={"loss": 1.0}), run("b", summary={"loss": 1.0})]
    best = goal.best_run(make_config(), runs)
    assert best is not None and best.id == "a"


# ---- target ----------------------------------------------------------------------------------


def test_target_is_reached_at_or_beyond_it_per_goal() -> None:
    minimise = make_config(metric=Metric("loss", target=0.1))
    assert not goal.target_reached(minimise, [run("a", summary={"loss": 0.11})])
    assert goal.target_reached(minimise, [run("a", history=[{"loss": 0.5}, {"loss": 0.1}])])
    maximise = make_config(metric=Metric("acc", goal=Goal.MAXIMIZE, target=0.9))
    assert not goal.target_reached(maximise, [run("a", summary={"acc": 0.89})])
    assert goal.target_reached(maximise, [run("a", "running", history=[{"acc": 0.95}])])


def test_no_target_is_never_reached() -> None:
    assert not goal.target_reached(make_config(), [run("a", summary={"loss": -1e9})])
    assert not goal.target_reached(make_config(metric=None), [run("a", summary={"loss": 0})])


# ---- done ------------------------------------------------------------------------------------


def test_run_cap_counts_runs_of_every_state() -> None:
    config = make_config(run_cap=3)
    runs = [run("a", "failed"), run("b", "crashed")]
    assert goal.done_reason(config, runs) is None
    runs.append(run("c", "pending"))
    assert goal.done_reason(config, runs) == "run_cap"


def test_done_when_the_target_is_reached() -> None:
    config = make_config(metric=Metric("loss", target=0.5), run_cap=10)
    assert goal.done_reason(config, [run("a", summary={"loss": 0.6})]) is None
    assert goal.done_reason(config, [run("a", summary={"loss": 0.5})]) == "target"


def test_done_when_the_grid_is_exhausted() -> None:
    config = make_config(Method.GRID, Categorical(("a",), (1, 2)))
    runs = [run("a", "failed", params={"a": 1})]
    assert goal.done_reason(config, runs) is None
    runs.append(run("b", "running", params={"a": 2}))
    assert goal.done_reason(config, runs) == "grid_exhausted"


def test_random_and_bayes_never_run_out() -> None:
    runs = [run(str(i)) for i in range(100)]
    assert goal.done_reason(make_config(Method.RANDOM), runs) is None
    assert goal.done_reason(make_config(Method.BAYES), runs) is None


def test_not_done_while_more_trials_may_be_issued() -> None:
    assert goal.done_reason(make_config(run_cap=5), [run("a"), run("b", "failed")]) is None
