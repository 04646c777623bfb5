"""The fence's timing (what stops a trial before its lease can lapse), the one outage line,
and the rows a trial hands its agent when Redis is away."""

from __future__ import annotations

import threading
import time

import pytest

from redsweep.errors import UnreachableError
from redsweep.shared.store.connection import lease_options
from redsweep.shared.store.outage import NOTICE_AFTER_S, Outage
from redsweep.worker.api.away import read_unsent, write_unsent
from redsweep.worker.trial.fence import FENCED, Fence, fence_timing


@pytest.mark.parametrize(
    ("lease_ms", "grace_s", "after", "grace"),
    [
        (10_000, 10.0, 7.0, 2.0),  # the defaults: SIGTERM 7 s after the last renewal, KILL at 9
        (10_000, 0.5, 8.5, 0.5),  # a short grace is kept
        (3_000, 10.0, 2.1, 0.6),
        (200, 10.0, 0.06, 0.04),  # the margin's floor, 0.1 s
    ],
)
def test_a_fenced_trial_is_killed_a_margin_before_its_lease_can_lapse(
    lease_ms: int, grace_s: float, after: float, grace: float
) -> None:
    got_after, got_grace = fence_timing(lease_ms, grace_s)
    assert got_after == pytest.approx(after) and got_grace == pytest.approx(grace)
    margin = lease_ms / 1000 - (got_after + got_grace)
    assert margin >= max(0.1, lease_ms / 10_000) - 1e-9


def test_no_call_on_the_lease_connection_blocks_for_most_of_the_lease() -> None:
    options = lease_options(10_000)
    # two attempts, each a connect and a read
    worst = (options["retries"] + 1) * (
        options["socket_timeout"] + options["socket_connect_timeout"]
    )
    assert worst < fence_timing(10_000, 10.0)[0] / 2


def test_an_outage_is_said_once_when_it_is_long_and_again_for_the_next_one() -> None:
    said: list[str] = []
    outage = Outage("redis://:***@h:6379/0", said.append)
    outage.failed()
    outage.failed()
    assert said == []  # a blip says nothing
    outage._since = time.monotonic() - NOTICE_AFTER_S - 12  # as if 14 s ago
    for _ in range(5):
        outage.failed()
    assert said == ["Redis at redis://:***@h:6379/0 unreachable for 14 s; retrying"]
    outage.ok()
    outage.failed()
    outage._since = time.monotonic() - NOTICE_AFTER_S
    outage.failed()
    assert len(said) == 2


def test_wait_out_retries_until_redis_answers_and_stops_on_a_signal() -> None:
    outage = Outage("u", lambda text: None)
    calls = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise UnreachableError("cannot reach Redis at u")
        return "ok"

    assert outage.wait_out(flaky) == "ok" and len(calls) == 3
    assert outage.down_for is None
    wake = threading.Event()
    wake.set()
    with pytest.raises(UnreachableError):
        outage.wait_out(lambda: (_ for _ in ()).throw(UnreachableError("away")), wake)


def test_unsent_rows_reach_the_agent_in_order_and_a_cut_tail_is_left_out(tmp_path) -> None:
    path = tmp_path / "agent" / "t.unsent"
    rows = [(0, {"loss": 0.5}), (1, {"loss": 0.25, "tag": "x"})]
    assert write_unsent(path, rows) == 2
    assert write_unsent(path, [(2, {"bad": object()}), (3, {"loss": 0.1})]) == 1
    with open(path, "ab") as fh:
        fh.write(b"\x00\x00\x00\x09\x92")  # the process was killed while writing a row
    assert read_unsent(path).rows == [*rows, (3, {"loss": 0.1})]
    assert not path.exists() and read_unsent(path).rows == []


def test_summary_keys_a_trial_could_not_store_reach_the_agent_the_last_write_winning(
    tmp_path,
) -> None:
    path = tmp_path / "t.unsent"
    assert write_unsent(path, [(0, {"loss": 0.5})], {"best": 1, "_files": ["a.txt"]}) == 1
    assert write_unsent(path, [], {"best": 2}) == 0
    unsent = read_unsent(path)
    assert unsent.rows == [(0, {"loss": 0.5})]
    assert unsent.summary == {"best": 2, "_files": ["a.txt"]}


def test_the_end_of_an_outage_is_said_once_and_only_after_one_that_was_said() -> None:
    said: list[str] = []
    outage = Outage("redis://:***@h:6379/0", said.append, back=True)
    outage.failed()
    outage.ok()
    assert said == []  # a blip: neither its start nor its end
    outage.failed()
    outage._since = time.monotonic() - NOTICE_AFTER_S - 1
    outage.failed()
    outage.ok()
    outage.ok()
    assert said == [
        "Redis at redis://:***@h:6379/0 unreachable for 3 s; retrying",
        "Redis at redis://:***@h:6379/0 answers again; carrying on",
    ]
    assert outage.begun == 2


class _Counted(Outage):
    """An Outage that counts the failed calls told to it."""

    failures = 0

    def failed(self) -> None:
        self.failures += 1
        super().failed()


def test_a_reporter_closed_in_an_outage_ends_at_once_not_after_its_back_off() -> None:
    """A command trial's exit path closes its reporter: in a long outage the reporter backs
    off 2 s between tries, and a close() that waited that out kept the finished trial alive
    into its agent's self-fencing deadline (stopped, crashed, run again: work done twice)."""
    from helpers import wait_for

    from redsweep.shared.server.local import free_port
    from redsweep.shared.store import Store
    from redsweep.worker.api.link import TrialLink
    from redsweep.worker.api.reporter import Reporter

    store = Store.from_url(f"redis://127.0.0.1:{free_port()}/0", **lease_options(3000))
    link = TrialLink(store, "s", "t", "tok", params={}, lease_ms=3000)
    outage = _Counted(store.url, lambda line: None)
    reporter = Reporter(link, outage=outage)
    reporter.add(0, {"loss": 1.0})
    # back-offs of 0.1, 0.2, 0.4, 0.8 and 1.6 s: after the sixth failure it waits 2 s
    wait_for(lambda: outage.failures >= 6, 30, "six failed sends")
    assert not reporter.close(0.5)  # the row is not sent
    thread = reporter._thread
    assert thread is not None and not thread.is_alive()
    store.close()


def test_a_fenced_command_is_recorded_as_it_ended_only_once_it_marked_its_end(tmp_path) -> None:
    from redsweep.shared.records import RunState
    from redsweep.worker.trial.fence import FENCED, ended_before_fence

    path = tmp_path / "t.unsent"
    write_unsent(path, [(0, {"loss": 0.5})])
    assert read_unsent(path).done is None  # rows, but the objective had not ended
    write_unsent(path, [], {"best": 1}, done=0)
    assert read_unsent(path).done == 0
    assert ended_before_fence(FENCED, None, -15) is None  # fenced mid-work: crashed
    assert ended_before_fence("the trial was stopped", 0, 0) is None  # not a fence
    assert ended_before_fence(FENCED, 0, -9) == (RunState.FINISHED, None)  # killed after
    assert ended_before_fence(FENCED, 0, 2)[0] is RunState.FAILED  # its own exit code


class _Link:
    """What the fence reads of a trial's link: when it was last renewed, whether it is lost."""

    def __init__(self, renewed_at: float) -> None:
        self.renewed_at = renewed_at
        self.lost = False
        self.fenced = threading.Event()
        self.why = ""

    def mark_lost(self, why: str) -> None:
        self.why, self.lost = why, True
        self.fenced.set()


def test_the_fence_stops_each_trial_at_its_own_deadline_trial_after_trial() -> None:
    """The fence's thread is not woken per trial, yet a trial whose deadline comes before the
    moment it would look next (its claim went out long ago) is fenced on time, and a released
    trial never is."""
    fence = Fence(2_000, 10.0)  # fenced 1.4 s after the last renewal
    try:
        first = _Link(time.monotonic())
        fence.watch(first)  # the thread now looks 1.4 s from now
        fence.release()
        late = _Link(time.monotonic() - fence.after + 0.2)  # due in 0.2 s
        fence.watch(late)
        assert late.fenced.wait(1.0), "fenced at its own deadline, not the last trial's"
        assert late.why == FENCED and not first.fenced.is_set()
        fence.release()
        fresh = _Link(time.monotonic())
        fence.watch(fresh)
        assert not fresh.fenced.wait(fence.after - 0.3)  # not before its deadline
        assert fresh.fenced.wait(2.0)
    finally:
        fence.close()
