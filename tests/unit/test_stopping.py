"""Hyperband early termination: bands, thresholds and which running runs stop.

Every expectation below is computed by hand from W&B's rules (see the comments).
"""

from __future__ import annotations

import math

import pytest

from redsweep.errors import ConfigError
from redsweep.shared.engine.stopping import StopDecision, bands, stop_decisions, stop_runs
from redsweep.shared.records import Goal, Hyperband, Method, Metric, RunRecord, SweepConfig


def make_config(hyperband: Hyperband | None, goal: Goal = Goal.MINIMIZE, name: str = "loss"):
    return SweepConfig(
        method=Method.RANDOM, params=(), metric=Metric(name, goal), early_terminate=hyperband
    )


def curve(run_id: str, state: str, values: list, name: str = "loss") -> RunRecord:
    return RunRecord(run_id, state, {}, tuple({name: v} for v in values))


# ---- bands ------------------------------------------------------------------------------------


def test_bands_from_min_iter_grow_by_eta():
    hyperband = Hyperband(min_iter=1, eta=3)
    assert bands(hyperband, limit=100) == [1, 3, 9, 27, 81]
    assert bands(hyperband)[:5] == [1, 3, 9, 27, 81]
    assert len(bands(hyperband)) == 100  # W&B makes 100 bands from min_iter


def test_bands_from_max_iter_shrink_by_eta():
    # 27/3 = 9, 9/3 = 3 (s = 2 divisions), ascending
    assert bands(Hyperband(max_iter=27, s=2, eta=3)) == [3, 9]
    assert bands(Hyperband(max_iter=27, s=3, eta=3)) == [1, 3, 9]
    # 27/81 < 1: no band below one iteration
    assert bands(Hyperband(max_iter=27, s=5, eta=3)) == [1, 3, 9]


def test_bands_with_a_non_integer_eta_truncate_each_step():
    # 100/2.5 = 40, 40/2.5 = 16, 16/2.5 = 6.4 -> 6
    assert bands(Hyperband(max_iter=100, s=3, eta=2.5)) == [6, 16, 40]
    # 2, 5, 12.5 -> 12, 31.25 -> 31, 78.125 -> 78, 195.3 -> 195
    assert bands(Hyperband(min_iter=2, eta=2.5), limit=100) == [2, 5, 12, 31, 78]
    # 1, 1.5 -> 1, 2.25 -> 2, 3.375 -> 3, 5.06 -> 5, 7.59 -> 7, 11.39 -> 11: repeats dropped
    assert bands(Hyperband(min_iter=1, eta=1.5), limit=12) == [1, 2, 3, 5, 7, 11]


def test_a_limit_keeps_only_bands_a_run_can_reach():
    assert bands(Hyperband(max_iter=27, s=3, eta=3), limit=4) == [1, 3]
    assert bands(Hyperband(min_iter=2, eta=3), limit=1) == []


@pytest.mark.parametrize(
    ("hyperband", "path"),
    [
        (Hyperband(max_iter=2, s=1, eta=3), "early_terminate"),  # 2/3 < 1: no band
        (Hyperband(min_iter=1, eta=1), "early_terminate.eta"),
        (Hyperband(min_iter=0, eta=3), "early_terminate.min_iter"),
        (Hyperband(max_iter=27, eta=3), "early_terminate.s"),
        (Hyperband(eta=3), "early_terminate"),
    ],
)
def test_hyperband_without_usable_bands_is_a_config_error(hyperband, path):
    with pytest.raises(ConfigError) as excinfo:
        bands(hyperband)
    assert excinfo.value.path == path


# ---- decisions ----------------------------------------------------------------------------------

# min_iter=1, eta=3: bands 1, 3, 9; a band's threshold is sorted(values)[int(n / 3)].
LOSS_RUNS = [
    curve("A", "finished", [1.0, 0.8, 0.6, 0.5]),
    curve("B", "running", [2.0, 1.0, 0.9, 0.85]),
    curve("C", "running", [1.5, 1.4, 1.3]),
    curve("D", "running", [0.9, 0.95, 0.7]),
    curve("E", "running", [3.0]),
    curve("F", "running", [1.2, 0.5, 2.0]),
]
# band 1: 0.9 1.0 1.2 1.5 2.0 3.0 -> index int(6/3) = 2 -> threshold 1.2
# band 3: 0.6 0.7 0.9 1.3 2.0     -> index int(5/3) = 1 -> threshold 0.7
# band 9: nobody got there.


def test_strict_stops_runs_whose_value_at_their_last_band_is_worse():
    config = make_config(Hyperband(min_iter=1, eta=3, strict=True))
    assert stop_decisions(config, LOSS_RUNS) == [
        StopDecision("B", 3, 0.7, 0.9),
        StopDecision("C", 3, 0.7, 1.3),
        # D: 0.7 at band 3 equals the threshold: not strictly worse, keeps running
        StopDecision("E", 1, 1.2, 3.0),
        StopDecision("F", 3, 0.7, 2.0),
    ]
    assert stop_runs(config, LOSS_RUNS) == ["B", "C", "E", "F"]


def test_non_strict_judges_the_best_value_so_far():
    config = make_config(Hyperband(min_iter=1, eta=3, strict=False))
    assert stop_decisions(config, LOSS_RUNS) == [
        StopDecision("B", 3, 0.7, 0.85),  # best so far, logged after band 3
        StopDecision("C", 3, 0.7, 1.3),
        StopDecision("E", 1, 1.2, 3.0),
        # F reached 0.5 at iteration 2: better than 0.7, keeps running
    ]


# The same curves as accuracies (10 - loss), maximized: best first is descending.
ACC_RUNS = [
    curve("A", "finished", [9.0, 9.2, 9.4, 9.5], "acc"),
    curve("B", "running", [8.0, 9.0, 9.1, 9.15], "acc"),
    curve("C", "running", [8.5, 8.6, 8.7], "acc"),
    curve("D", "running", [9.1, 9.05, 9.3], "acc"),
    curve("E", "running", [7.0], "acc"),
    curve("F", "running", [8.8, 9.5, 8.0], "acc"),
]
# band 1: 9.1 9.0 8.8 8.5 8.0 7.0 -> index 2 -> threshold 8.8
# band 3: 9.4 9.3 9.1 8.7 8.0     -> index 1 -> threshold 9.3


def test_maximize_strict():
    config = make_config(Hyperband(min_iter=1, eta=3), Goal.MAXIMIZE, "acc")
    assert stop_decisions(config, ACC_RUNS) == [
        StopDecision("B", 3, 9.3, 9.1),
        StopDecision("C", 3, 9.3, 8.7),
        StopDecision("E", 1, 8.8, 7.0),
        StopDecision("F", 3, 9.3, 8.0),
    ]


def test_maximize_non_strict():
    config = make_config(Hyperband(min_iter=1, eta=3, strict=False), Goal.MAXIMIZE, "acc")
    assert stop_runs(config, ACC_RUNS) == ["B", "C", "E"]
    assert stop_decisions(config, ACC_RUNS)[0] == StopDecision("B", 3, 9.3, 9.15)


def test_bands_from_max_iter_decide_too():
    # max_iter=9, s=1, eta=3: one band at 3 -> band 1 is never judged, so E keeps running
    config = make_config(Hyperband(max_iter=9, s=1, eta=3))
    assert stop_runs(config, LOSS_RUNS) == ["B", "C", "F"]


def test_finished_runs_set_thresholds_but_are_never_stopped():
    config = make_config(Hyperband(min_iter=1, eta=3))
    # with the finished A, band 3's threshold is 0.7 and B (0.9) stops (see above); without
    # A: 0.7 0.9 1.3 2.0 -> index int(4/3) = 1 -> 0.9, and B keeps running
    without_a = [r for r in LOSS_RUNS if r.id != "A"]
    assert stop_decisions(config, without_a) == [
        StopDecision("C", 3, 0.9, 1.3),
        StopDecision("E", 1, 1.2, 3.0),  # band 1: 0.9 1.2 1.5 2.0 3.0 -> index 1
        StopDecision("F", 3, 0.9, 2.0),
    ]
    # a finished run far worse than everyone is not stopped (it is done) but raises the bar:
    # band 3: 0.6 0.7 0.9 1.3 2.0 99 -> index 2 -> 0.9, so B survives again
    awful = curve("Z", "finished", [99.0, 99.0, 99.0])
    assert stop_runs(config, [*LOSS_RUNS, awful]) == ["C", "E", "F"]


@pytest.mark.parametrize("state", ["finished", "failed", "crashed", "killed", "stopped", "pending"])
def test_only_running_runs_are_candidates(state):
    config = make_config(Hyperband(min_iter=1, eta=3))
    runs = [curve("good", "running", [0.1]), curve("bad", state, [5.0])]
    assert stop_runs(config, runs) == []


def test_non_finite_and_missing_values_are_not_iterations():
    config = make_config(Hyperband(min_iter=2, eta=3))  # bands 2, 6, ...
    rows = [
        {"loss": math.nan},
        {"other": 1.0},
        {"loss": None},
        {"loss": 1.0},
        {"loss": math.inf},
        {"loss": "1.5"},
        {"loss": True},
        {"loss": 2.0},
    ]
    runs = [
        RunRecord("X", "running", {}, tuple(rows)),  # iterations: 1.0, 2.0
        RunRecord("Y", "running", {}, ({"loss": -math.inf}, {"loss": 50.0}, {"loss": math.nan})),
        curve("done", "finished", [0.5, 0.5]),
    ]
    # band 2: X 2.0 and done 0.5 -> 0.5 2.0 -> index int(2/3) = 0 -> 0.5
    # Y has one iteration: no band reached yet, however bad
    assert stop_decisions(config, runs) == [StopDecision("X", 2, 0.5, 2.0)]


def test_threshold_index_is_computed_like_wandb():
    # W&B takes index int((1/eta) * count); (1/49) * 49 = 0.9999999999999999 -> index 0,
    # so every running run but the best is stopped (int(49/49) would have spared one more)
    config = make_config(Hyperband(min_iter=1, eta=49))
    runs = [curve(f"r{i}", "running", [float(i)]) for i in range(49)]
    assert stop_runs(config, runs) == [f"r{i}" for i in range(1, 49)]


def test_no_early_terminate_stops_nothing():
    runs = [curve("a", "running", [1.0]), curve("b", "running", [100.0])]
    assert stop_decisions(make_config(None), runs) == []
    assert stop_runs(make_config(None), runs) == []


def test_no_runs_or_no_iterations_stop_nothing():
    config = make_config(Hyperband(min_iter=1, eta=3))
    assert stop_runs(config, []) == []
    assert stop_runs(config, [curve("a", "running", [])]) == []


def test_a_bad_hyperband_fails_even_before_any_iteration():
    config = make_config(Hyperband(max_iter=2, s=1, eta=3))
    with pytest.raises(ConfigError):
        stop_runs(config, [])
