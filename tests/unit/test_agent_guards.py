"""W&B's agent guards (worker/agent/guards.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from redsweep.errors import RedsweepError
from redsweep.worker.agent.guards import FailureGuard


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def run(guard: FailureGuard, outcomes: str) -> list[str | None]:
    """Feed outcomes (F failed, S succeeded); what tripped() said after each."""
    said = []
    for o in outcomes:
        guard.record(failed=o == "F", succeeded=o == "S")
        said.append(guard.tripped())
    return said


def test_three_failures_in_the_first_minute_trip_it() -> None:
    said = run(FailureGuard({}, Clock()), "SFF" + "F")
    assert said[:3] == [None, None, None]
    assert said[3] is not None and said[3].startswith("3 trials failed in the agent's first 60 s")


def test_failures_after_the_first_minute_are_no_flapping() -> None:
    clock = Clock()
    guard = FailureGuard({}, clock)
    clock.now += 61
    assert run(guard, "FFFF") == [None] * 4
    said = run(guard, "F")[0]  # the fifth, with no success: failing
    assert said is not None and said.startswith("5 trials failed and 0 succeeded")


def test_failing_needs_at_least_as_many_failures_as_successes() -> None:
    clock = Clock()
    guard = FailureGuard({"WANDB_AGENT_DISABLE_FLAPPING": "true"}, clock)
    assert run(guard, "SSSSSS" + "FFFFF") == [None] * 11  # 5 failures < 6 successes
    assert run(guard, "F")[0] is not None  # 6 >= 6


def test_the_switches() -> None:
    env = {"WANDB_AGENT_DISABLE_FLAPPING": "true", "WANDB_AGENT_MAX_INITIAL_FAILURES": "8"}
    said = run(FailureGuard(env, Clock()), "F" * 8)
    assert said[:7] == [None] * 7 and said[7] is not None
    with pytest.raises(RedsweepError, match="WANDB_AGENT_MAX_INITIAL_FAILURES='x'"):
        FailureGuard({"WANDB_AGENT_MAX_INITIAL_FAILURES": "x"})
