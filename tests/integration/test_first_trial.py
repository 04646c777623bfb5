"""The first agent on a new grid or random sweep queues its first trial itself (no controller
round to wait for), and only the first: agents that race to it never queue a point twice."""

from __future__ import annotations

from collections import Counter

import redsweep
from redsweep.api import create_sweep
from redsweep.controller.first import queue_first
from redsweep.shared.engine.config import load_config
from redsweep.shared.records import SweepState
from redsweep.shared.store import Store

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}},
}


def test_only_the_first_of_two_agents_queues_the_first_trial(store: Store, redis_url: str):
    sweep_id, config, _ = create_sweep(GRID, redis=redis_url)
    assert store.sweeps.get(sweep_id).state is SweepState.PENDING
    first = queue_first(store, sweep_id, config)
    assert first is not None and first.state is SweepState.RUNNING
    # a second agent after it (the sweep is running now, with its first trial queued)
    assert queue_first(store, sweep_id, config) is None
    assert [t.params for t in store.reads.trials(sweep_id)] == [{"a": 1}]

    seen: list[int] = []
    redsweep.agent(sweep_id, function=lambda: seen.append(redsweep.config.a), redis=redis_url)
    assert Counter(seen) == Counter({1: 1, 2: 1, 3: 1})  # each point once, the first included
    assert Counter(t.params["a"] for t in store.reads.trials(sweep_id)) == Counter([1, 2, 3])


def test_a_bayes_sweep_waits_for_its_controller(store: Store, redis_url: str):
    raw = {**GRID, "method": "bayes", "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    sweep_id, _, _ = create_sweep(raw, redis=redis_url)
    assert queue_first(store, sweep_id, load_config(raw)) is None
    assert store.reads.trials(sweep_id) == []
