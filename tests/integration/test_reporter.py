"""The reporter thread behind ``log()`` against the session's private Redis: rows go in
batches, a flush sends at once, unsent rows can be handed to whoever finishes the trial, and a
row the wire format refuses is dropped alone."""

from __future__ import annotations

import time

import pytest

from redsweep.shared.records import SweepState
from redsweep.shared.store import Store
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.reporter import LINGER_S, Reporter

LONG = 30_000


@pytest.fixture
def link(store: Store) -> TrialLink:
    """A running trial, claimed: its link."""
    sweep_id = store.sweeps.create({"method": "random"})
    epoch = store.controllers.acquire(sweep_id, "ctl", LONG)
    assert epoch is not None
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING])
    store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.trial_id and taken.token
    return TrialLink(
        store, sweep_id, taken.trial_id, taken.token, params={"x": 1}, metric_name="loss"
    )


def reports(store: Store, link: TrialLink) -> int:
    events = store.events.read(link.sweep_id, "test")
    store.events.ack(link.sweep_id, [e.id for e in events])
    return sum(1 for e in events if e.type == "report")


def wait_rows(store: Store, link: TrialLink, n: int, timeout: float = 10.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = store.reads.history(link.sweep_id, link.trial_id)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.01)


def test_a_burst_of_rows_reaches_redis_in_a_few_calls_in_order(
    store: Store, link: TrialLink
) -> None:
    reports(store, link)  # the claim
    reporter = Reporter(link)
    try:
        for step in range(2000):
            reporter.add(step, {"loss": 1.0 / (step + 1)})
        rows = wait_rows(store, link, 2000)
        assert [r["_step"] for r in rows] == list(range(2000))
        assert reports(store, link) <= 20  # batches, not a call per row
        assert store.reads.trial(link.sweep_id, link.trial_id).best == 1.0 / 2000
    finally:
        reporter.close(5.0)


def test_rows_wait_a_moment_then_go_without_a_flush(store: Store, link: TrialLink) -> None:
    reporter = Reporter(link)
    try:
        reporter.add(0, {"loss": 0.5})
        rows = wait_rows(store, link, 1, timeout=20 * LINGER_S + 2)
        assert [r["loss"] for r in rows] == [0.5]
    finally:
        reporter.close(5.0)


def test_flush_sends_at_once_and_take_hands_over_what_is_unsent(
    store: Store, link: TrialLink
) -> None:
    reporter = Reporter(renew=True)
    try:
        reporter.attach(link)
        reporter.add(0, {"loss": 0.9})
        assert reporter.flush(5.0)
        assert [r["loss"] for r in store.reads.history(link.sweep_id, link.trial_id)] == [0.9]
        reporter.add(1, {"loss": 0.4})
        reporter.add(2, {"loss": 0.3})
        taken = reporter.take(5.0)
        sent = len(store.reads.history(link.sweep_id, link.trial_id))
        # whatever the thread had not sent is handed over, and it sends nothing more
        assert [step for step, _ in taken] == [1, 2][sent - 1 :]
        time.sleep(4 * LINGER_S)
        assert len(store.reads.history(link.sweep_id, link.trial_id)) == sent
        reporter.add(3, {"loss": 0.1})  # no trial attached: nowhere to go
        assert reporter.take(1.0) == []
    finally:
        reporter.close(5.0)


def test_a_row_the_wire_format_refuses_is_dropped_alone(
    store: Store, link: TrialLink, capsys: pytest.CaptureFixture[str]
) -> None:
    reporter = Reporter(link)
    try:
        reporter.add(0, {"loss": 0.5})
        reporter.add(1, {"loss": object()})
        reporter.add(2, {"loss": 0.25})
        assert reporter.flush(5.0)
        rows = store.reads.history(link.sweep_id, link.trial_id)
        assert [(r["_step"], r["loss"]) for r in rows] == [(0, 0.5), (2, 0.25)]
        assert "a logged row was dropped" in capsys.readouterr().err
    finally:
        reporter.close(5.0)
