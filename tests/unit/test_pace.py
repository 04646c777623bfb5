"""The controller's pace: how many short trials it keeps queued beyond the idle agents."""

from __future__ import annotations

from redsweep.controller.pace import MAX_PREFETCH, PREFETCH_S, Pace
from redsweep.shared.records import Method


def near(value: int, expected: float) -> bool:
    return abs(value - expected) <= 0.1 * expected


def ended_at_rate(pace: Pace, per_s: int, seconds: float, start: float = 100.0) -> float:
    """Trials end at ``per_s`` for ``seconds`` (in rounds of 10 ms); the time at the end."""
    rounds = round(seconds / 0.01)
    for i in range(1, rounds + 1):
        pace.ended(per_s // 100, now=start + i * 0.01)
    return start + rounds * 0.01


def test_a_sweep_just_started_gets_the_prefetch_of_its_rate() -> None:
    """0.3 s into a sweep whose trials end at 2,000/s, the prefetch is 0.05 s worth of them:
    the rate is not averaged over the second that has not passed yet."""
    pace = Pace(Method.RANDOM)
    now = ended_at_rate(pace, 2000, 0.3)
    assert near(pace.prefetch(2, now=now), 2000 * PREFETCH_S)


def test_the_prefetch_follows_the_rate_of_the_last_second() -> None:
    pace = Pace(Method.GRID)
    now = ended_at_rate(pace, 4000, 2.0)
    assert near(pace.prefetch(2, now=now), 4000 * PREFETCH_S)
    now = ended_at_rate(pace, 400, 2.0, start=now)  # slower trials now: a smaller prefetch
    assert near(pace.prefetch(2, now=now), 400 * PREFETCH_S)
    assert pace.prefetch(2, now=now + 5) == 4 + 2 * 2  # nothing ended lately: the floor


def test_a_burst_of_first_ends_does_not_flood_the_queue() -> None:
    """The first round's ends, all at once, count over at least 0.1 s; never more than the
    cap; and bayes keeps nothing queued (its suggestions wait for results)."""
    pace = Pace(Method.RANDOM)
    pace.ended(30, now=10.0)
    assert pace.prefetch(2, now=10.0) == round(30 / 0.1 * PREFETCH_S)
    pace.ended(100_000, now=10.5)
    assert pace.prefetch(2, now=10.5) == MAX_PREFETCH
    bayes = Pace(Method.BAYES)
    ended_at_rate(bayes, 2000, 0.3)
    assert bayes.prefetch(2) == 0


def test_the_first_ends_say_how_fast_short_trials_can_go() -> None:
    """Three trials of a millisecond or less ended: two agents can do 2,000 a second, so the
    next round queues 0.05 s of that, where the rate of three ends over 0.1 s said 30/s."""
    pace = Pace(Method.RANDOM)
    pace.ended(3, now=10.0, took_ms=[0, b"1", "0"])
    assert pace.prefetch(2, now=10.001) == round(2 / 0.001 * PREFETCH_S)
    # long trials say nothing beyond their rate; durations older than a second, nothing
    slow = Pace(Method.GRID)
    slow.ended(2, now=10.0, took_ms=[60_000, 50_000])
    assert slow.prefetch(2, now=10.0) == 4 + 2 * 2
    assert pace.prefetch(2, now=12.0) == 4 + 2 * 2
    # a crash says no duration: only its count
    crashed = Pace(Method.RANDOM)
    crashed.ended(1, now=10.0, took_ms=[None])
    assert crashed.prefetch(2, now=10.0) == 4 + 2 * 2
