"""Bounds on what one trial can pour into the store: the history cap (report.lua thins the
stored history, the summary and best value stay exact) and the limits of one logged row (the
offending keys are dropped, the rest kept, one warning per trial), against the session's
private Redis, through the store, a function trial and a command trial."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import redis

from redsweep.shared.records import SweepState
from redsweep.shared.store import Store, keys

ROOT = Path(__file__).resolve().parents[2]
LONG = 120_000
CAP = 16
ROWS = 2_000


def running_trial(store: Store, config: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """(sweep id, trial id, token) of a trial claimed by hand."""
    sweep_id = store.sweeps.create(config or {"method": "random"})
    epoch = store.controllers.acquire(sweep_id, "ctl", LONG)
    assert epoch is not None
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING])
    store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.trial_id and taken.token
    return sweep_id, taken.trial_id, taken.token


def assert_thinned(store: Store, sweep_id: str, trial_id: str, rows: int, cap: int) -> None:
    """What a user reading the history of a trial that logged ``rows`` rows sees."""
    history = store.reads.history(sweep_id, trial_id)
    steps = [r["_step"] for r in history]
    assert len(history) <= cap + 1  # the cap, and the latest row
    assert steps[0] == 0 and steps[-1] == rows - 1  # the first and the latest row
    assert steps == sorted(steps)
    stride = steps[1] - steps[0]
    assert stride > 1 and all(s % stride == 0 for s in steps[:-1])  # every k-th row
    assert len(history) >= cap // 2  # thinned, not emptied
    assert history[-1]["loss"] == 1.0 / rows
    summary = store.reads.summary(sweep_id, trial_id)
    assert summary["loss"] == 1.0 / rows and summary["i"] == rows - 1  # the summary is exact
    trial = store.reads.trial(sweep_id, trial_id)
    assert trial.best == 1.0 / rows and trial.history_rows == rows


def test_report_thins_the_history_past_the_cap_for_any_writer(store: Store) -> None:
    sweep_id, trial_id, token = running_trial(store)
    step = 0
    for size in [1, 5, 3, 100, 7, 500, 1, 383, 1000]:  # batches of any size: 2000 rows
        rows = [(s, {"loss": 1.0 / (s + 1), "i": s}) for s in range(step, step + size)]
        renewal = store.trials.report(
            sweep_id, trial_id, token, rows, metric_name="loss", lease_ms=LONG, history_cap=CAP
        )
        assert renewal.ok
        step += size
    assert step == ROWS
    assert_thinned(store, sweep_id, trial_id, ROWS, CAP)
    assert store.sweeps.get(sweep_id).best_value == 1.0 / ROWS


def test_the_default_cap_holds_without_being_asked(store: Store, redis_client: redis.Redis) -> None:
    sweep_id, trial_id, token = running_trial(store)
    cap = 10_000
    for start in range(0, 25_000, 500):
        rows = [(s, {"loss": 1.0 / (s + 1), "i": s}) for s in range(start, start + 500)]
        store.trials.report(sweep_id, trial_id, token, rows, metric_name="loss", lease_ms=LONG)
    assert_thinned(store, sweep_id, trial_id, 25_000, cap)
    assert redis_client.xlen(keys.trial_history(sweep_id, trial_id)) <= cap
