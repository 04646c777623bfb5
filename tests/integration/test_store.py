"""The store against the session's private Redis (TCP with a password): what agents, the
controller and users see of sweeps, trials, leases, queues and events."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from redsweep.errors import FencedError, NotFoundError, ProtocolError, StoreError, SweepStateError
from redsweep.shared import protocol
from redsweep.shared.records import RunState, SweepState, TrialMessage
from redsweep.shared.store import Store, keys

LONG = 30_000  # a lease that does not lapse during a test (ms)


@pytest.fixture
def sweep(store: Store) -> tuple[str, int]:
    """A sweep with a controller holding epoch ``epoch``: (sweep_id, epoch)."""
    sweep_id = store.sweeps.create({"method": "random"}, project="proj", name="first")
    epoch = store.controllers.acquire(sweep_id, "ctl-1", LONG)
    assert epoch == 1
    return sweep_id, epoch


def start(
    store: Store, sweep_id: str, epoch: int, *, agent: str = "a1", lease_ms: int = LONG
) -> tuple[str, str]:
    """Add a trial, pop it as ``agent`` and claim it: (trial_id, token)."""
    [trial_id] = store.trials.add(sweep_id, [{"lr": 0.1}], epoch=epoch)
    assert trial_id is not None
    raw = store.queue.pop(sweep_id, agent, 0)
    assert raw is not None
    message = protocol.decode(raw, TrialMessage)
    assert message.trial_id == trial_id
    token, _ = store.trials.claim(sweep_id, trial_id, message.attempt, agent, lease_ms)
    assert token is not None
    store.queue.ack(sweep_id, agent, raw)
    return trial_id, token


def snapshot(store: Store, sweep_id: str, trial_id: str) -> tuple[Any, ...]:
    """Everything a user can see of a trial and the sweep's counters."""
    return (
        store.reads.trial(sweep_id, trial_id),
        store.reads.summary(sweep_id, trial_id),
        store.reads.history(sweep_id, trial_id),
        store.sweeps.get(sweep_id).counts,
        store.sweeps.get(sweep_id).best_value,
    )


# ---- the happy path ----------------------------------------------------------------------------


def test_a_trial_from_queue_to_finished_keeps_history_summary_and_best(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{"lr": 0.01, "net": {"depth": 3}}], epoch=epoch)
    assert trial_id is not None and len(trial_id) == 8
    assert store.reads.trial(sweep_id, trial_id).state is RunState.PENDING
    assert store.queue.length(sweep_id) == 1

    store.agents.heartbeat(sweep_id, "agent-1", LONG, busy=False, host="gpu-box")
    raw = store.queue.pop(sweep_id, "agent-1", timeout_s=1)
    assert raw is not None
    assert protocol.decode(raw) == TrialMessage(sweep_id, trial_id, 1)
    assert store.queue.length(sweep_id) == 0
    assert store.queue.in_flight(sweep_id, "agent-1") == [raw]

    token, _ = store.trials.claim(sweep_id, trial_id, 1, "agent-1", LONG)
    assert token
    assert store.queue.ack(sweep_id, "agent-1", raw)
    assert store.queue.in_flight(sweep_id, "agent-1") == []
    running = store.reads.trial(sweep_id, trial_id)
    assert (running.state, running.worker) == (RunState.RUNNING, "agent-1")
    assert running.claimed_ms is not None and running.claimed_ms >= running.created_ms

    for step, loss in enumerate([0.9, 0.4, 0.6]):
        renewal = store.trials.report(
            sweep_id,
            trial_id,
            token,
            [(step, {"loss": loss, "epoch": step})],
            metric_name="loss",
            goal="minimize",
            lease_ms=LONG,
        )
        assert renewal.ok and not renewal.stop_requested
    assert store.trials.finish(sweep_id, trial_id, token, "finished", summary={"final": True})

    done = store.reads.trial(sweep_id, trial_id)
    assert done.state is RunState.FINISHED
    assert done.params == {"lr": 0.01, "net": {"depth": 3}}
    assert done.best == 0.4  # the lowest loss: minimize
    assert done.last_step == 2
    assert done.finished_ms is not None and done.finished_ms >= done.claimed_ms
    assert store.reads.history(sweep_id, trial_id) == [
        {"loss": 0.9, "epoch": 0, "_step": 0},
        {"loss": 0.4, "epoch": 1, "_step": 1},
        {"loss": 0.6, "epoch": 2, "_step": 2},
    ]
    assert store.reads.summary(sweep_id, trial_id) == {"loss": 0.6, "epoch": 2, "final": True}
    info = store.sweeps.get(sweep_id)
    assert (info.best_value, info.best_trial) == (0.4, trial_id)
    assert info.counts == {"finished": 1}
    assert info.issued == 1
    [(_, run)] = store.reads.runs(sweep_id)
    assert run.metric_values("loss") == [0.9, 0.4, 0.6]
    assert run.summary["loss"] == 0.6


def test_best_follows_the_goal_across_trials(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    values = {}
    for acc in ([0.5, 0.8, 0.7], [0.6, 0.9]):
        trial_id, token = start(store, sweep_id, epoch)
        for step, value in enumerate(acc):
            store.trials.report(
                sweep_id,
                trial_id,
                token,
                [(step, {"acc": value})],
                metric_name="acc",
                goal="maximize",
                lease_ms=LONG,
            )
        values[trial_id] = store.reads.trial(sweep_id, trial_id).best
    assert sorted(values.values()) == [0.8, 0.9]
    info = store.sweeps.get(sweep_id)
    assert info.best_value == 0.9
    assert values[info.best_trial] == 0.9


def test_sweeps_are_listed_and_unknown_ids_are_not_found(store: Store) -> None:
    a = store.sweeps.create({"method": "grid"}, project="p1", grid_size=12, run_cap=5)
    b = store.sweeps.create({"method": "random"}, project="p2")
    info = store.sweeps.get(a)
    assert (info.state, info.config, info.grid_size, info.run_cap) == (
        SweepState.PENDING,
        {"method": "grid"},
        12,
        5,
    )
    assert [s.id for s in store.sweeps.list()] == [a, b]
    assert [s.id for s in store.sweeps.list(project="p2")] == [b]
    with pytest.raises(NotFoundError, match="zzzzzzzz"):
        store.sweeps.get("zzzzzzzz")
    with pytest.raises(NotFoundError):
        store.sweeps.get("bad{id}")
    with pytest.raises(NotFoundError):
        store.reads.trial(a, "nope1234")


# ---- run_cap and fencing -----------------------------------------------------------------------


def test_run_cap_holds_under_twenty_racing_controllers(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    results: list[str | None] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def add() -> None:
        barrier.wait()
        got = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch, run_cap=7)
        with lock:
            results.append(got[0] if got else None)

    threads = [threading.Thread(target=add) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    issued = [r for r in results if r is not None]
    assert len(issued) == 7 and len(set(issued)) == 7
    assert results.count(None) == 13
    assert store.queue.length(sweep_id) == 7
    assert len(store.reads.trials(sweep_id)) == 7
    assert store.sweeps.get(sweep_id).issued == 7
    # a retry is not a new run: it does not count toward the cap (only a trial that ended
    # without a result may be retried: kill it first)
    assert store.trials.kill(sweep_id, issued[0])
    [retry] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch, attempt=2, retry_of=issued[0])
    info = store.reads.trial(sweep_id, retry)
    assert (info.attempt, info.retry_of) == (2, issued[0])
    assert store.trials.add(sweep_id, [{"x": 1}], epoch=epoch, run_cap=7) == []


def test_the_sweeps_own_run_cap_applies_without_an_argument(store: Store) -> None:
    sweep_id = store.sweeps.create({"method": "random"}, run_cap=2)
    epoch = store.controllers.acquire(sweep_id, "c", LONG)
    assert epoch is not None
    got = [store.trials.add(sweep_id, [{}], epoch=epoch) for _ in range(3)]
    assert [len(ids) for ids in got] == [1, 1, 0]


def test_an_old_controller_is_fenced_after_another_took_over(store: Store) -> None:
    sweep_id = store.sweeps.create({"method": "grid"})
    old = store.controllers.acquire(sweep_id, "ctl-old", 300)
    assert old == 1
    assert store.controllers.acquire(sweep_id, "ctl-new", LONG) is None  # held
    assert store.controllers.holder(sweep_id) == "ctl-old"
    assert store.controllers.acquire(sweep_id, "ctl-old", 300) == 1  # a retried acquire
    time.sleep(0.35)  # the old holder stalls past its lease
    new = store.controllers.acquire(sweep_id, "ctl-new", LONG)
    assert new == 2
    assert store.controllers.holder(sweep_id) == "ctl-new"

    with pytest.raises(FencedError, match="another controller"):
        store.trials.add(sweep_id, [{"x": 1}], epoch=old)
    assert store.queue.length(sweep_id) == 0 and store.reads.trials(sweep_id) == []
    assert not store.controllers.renew(sweep_id, "ctl-old", old, LONG)
    assert not store.controllers.release(sweep_id, "ctl-old", old)
    assert store.controllers.holder(sweep_id) == "ctl-new"

    assert len(store.trials.add(sweep_id, [{"x": 1}], epoch=new)) == 1
    assert store.controllers.renew(sweep_id, "ctl-new", new, LONG)
    assert store.controllers.release(sweep_id, "ctl-new", new)
    assert store.controllers.holder(sweep_id) is None
    assert store.controllers.acquire(sweep_id, "ctl-third", LONG) == 3


def test_no_trials_are_added_to_a_finished_sweep(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    store.sweeps.set_state(sweep_id, "finished", allowed_from=["pending", "running"])
    with pytest.raises(StoreError, match="finished"):
        store.trials.add(sweep_id, [{}], epoch=epoch)
    assert store.queue.length(sweep_id) == 0


# ---- illegal transitions -----------------------------------------------------------------------


def test_a_trial_is_claimed_once_and_only_at_its_attempt(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{}], epoch=epoch)
    assert trial_id is not None
    assert store.trials.claim(sweep_id, trial_id, 2, "a1", LONG) is None  # wrong attempt
    assert store.reads.trial(sweep_id, trial_id).state is RunState.PENDING
    token, _ = store.trials.claim(sweep_id, trial_id, 1, "a1", LONG)
    assert token is not None
    before = snapshot(store, sweep_id, trial_id)
    assert store.trials.claim(sweep_id, trial_id, 1, "a2", LONG) is None  # claimed twice
    assert snapshot(store, sweep_id, trial_id) == before
    assert store.reads.trial(sweep_id, trial_id).worker == "a1"
    with pytest.raises(NotFoundError):
        store.trials.claim(sweep_id, "unknown1", 1, "a1", LONG)


def test_report_and_finish_need_the_current_token(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch)
    before = snapshot(store, sweep_id, trial_id)
    wrong = "0" * len(token)
    assert not store.trials.report(
        sweep_id, trial_id, wrong, [(0, {"loss": 0.1})], metric_name="loss", lease_ms=LONG
    ).ok
    assert not store.trials.renew(sweep_id, trial_id, wrong, LONG).ok
    assert not store.trials.finish(sweep_id, trial_id, wrong, "finished")
    assert snapshot(store, sweep_id, trial_id) == before
    assert store.trials.renew(sweep_id, trial_id, token, LONG).ok


def test_a_pending_trial_takes_no_reports(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{}], epoch=epoch)
    assert trial_id is not None
    before = snapshot(store, sweep_id, trial_id)
    assert not store.trials.report(sweep_id, trial_id, "", [(0, {"loss": 1.0})], lease_ms=LONG).ok
    assert not store.trials.finish(sweep_id, trial_id, "", "finished")
    assert not store.trials.reap(sweep_id, trial_id)
    assert not store.trials.request_stop(sweep_id, trial_id, {"why": "x"})
    assert snapshot(store, sweep_id, trial_id) == before


def _end(store: Store, sweep_id: str, epoch: int, state: RunState) -> tuple[str, str]:
    """A trial ended in ``state`` the way it happens for real; (trial_id, its last token)."""
    lease = 50 if state is RunState.CRASHED else LONG
    trial_id, token = start(store, sweep_id, epoch, lease_ms=lease)
    store.trials.report(
        sweep_id, trial_id, token, [(0, {"loss": 0.5})], metric_name="loss", lease_ms=lease
    )
    if state is RunState.CRASHED:
        time.sleep(0.1)
        assert store.trials.reap(sweep_id, trial_id)
    elif state in (RunState.KILLED, RunState.STOPPED):
        assert store.trials.kill(sweep_id, trial_id, state)
    else:
        assert store.trials.finish(sweep_id, trial_id, token, state)
    return trial_id, token


@pytest.mark.parametrize("state", sorted(keys.FINISH_STATES, key=lambda s: s.value))
def test_nothing_changes_a_terminal_trial(
    store: Store, sweep: tuple[str, int], state: RunState
) -> None:
    sweep_id, epoch = sweep
    trial_id, token = _end(store, sweep_id, epoch, state)
    before = snapshot(store, sweep_id, trial_id)
    assert before[0].state is state
    assert store.trials.claim(sweep_id, trial_id, 1, "a2", LONG) is None
    assert not store.trials.renew(sweep_id, trial_id, token, LONG).ok
    assert not store.trials.report(
        sweep_id, trial_id, token, [(1, {"loss": 0.0})], metric_name="loss", lease_ms=LONG
    ).ok
    for final in keys.FINISH_STATES - {state}:
        assert not store.trials.finish(sweep_id, trial_id, token, final, summary={"loss": 0.0})
    if state in (RunState.CRASHED, RunState.KILLED, RunState.STOPPED):  # not ended by finish
        assert not store.trials.finish(sweep_id, trial_id, token, state)
    assert not store.trials.kill(sweep_id, trial_id, "killed")
    assert not store.trials.kill(sweep_id, trial_id, "stopped")
    assert not store.trials.reap(sweep_id, trial_id)
    assert not store.trials.request_stop(sweep_id, trial_id, {"why": "late"})
    assert snapshot(store, sweep_id, trial_id) == before


def test_retried_calls_change_nothing_twice(store: Store, sweep: tuple[str, int]) -> None:
    """redis-py retries a call whose connection broke, and the server may have run it already.
    Every script is run twice here (the first reply "lost"): nothing is added, logged or
    finished twice, and the retry gets the same answer."""
    sweep_id, epoch = sweep
    call = store.conn.call

    def twice(c: Any) -> Any:
        first = call(c)
        again = call(c)
        assert again == first, c
        return again

    store.conn.call = twice  # type: ignore[method-assign]
    other = store.sweeps.create({"method": "grid"})
    [trial_id] = store.trials.add(sweep_id, [{"lr": 0.1}], epoch=epoch)
    assert trial_id is not None
    token, _ = store.trials.claim(sweep_id, trial_id, 1, "a1", LONG)
    assert token is not None
    store.trials.report(
        sweep_id, trial_id, token, [(0, {"loss": 0.5})], metric_name="loss", lease_ms=LONG
    )
    assert store.trials.finish(sweep_id, trial_id, token, "finished")
    store.conn.call = call  # type: ignore[method-assign]

    assert [s.id for s in store.sweeps.list()] == [sweep_id, other]
    assert [t.id for t in store.reads.trials(sweep_id)] == [trial_id]
    assert store.queue.length(sweep_id) == 1
    assert store.sweeps.get(sweep_id).issued == 1
    assert store.reads.history(sweep_id, trial_id) == [{"loss": 0.5, "_step": 0}]
    assert store.sweeps.get(sweep_id).counts == {"finished": 1}
    events = store.events.read(sweep_id, "ctl")
    assert [e.type for e in events] == ["claim", "report", "finish"]
    # the same finish later, by the same agent, is still a retry; a different end is refused
    before = snapshot(store, sweep_id, trial_id)
    assert store.trials.finish(sweep_id, trial_id, token, "finished")
    assert not store.trials.finish(sweep_id, trial_id, token, "failed")
    assert snapshot(store, sweep_id, trial_id) == before
    assert store.events.read(sweep_id, "ctl") == []


def test_finish_only_into_a_terminal_state(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch)
    for state in ("pending", "running", "preempted"):
        with pytest.raises(ValueError, match="cannot finish"):
            store.trials.finish(sweep_id, trial_id, token, state)
    with pytest.raises(ValueError):
        store.trials.kill(sweep_id, trial_id, "finished")
    assert store.reads.trial(sweep_id, trial_id).state is RunState.RUNNING


def test_failed_trial_keeps_its_error_and_log_tail(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch)
    log = "x" * 100_000 + "\nTraceback: boom"
    assert store.trials.finish(
        sweep_id, trial_id, token, "failed", error="ValueError: boom", log_tail=log
    )
    info = store.reads.trial(sweep_id, trial_id)
    assert info.state is RunState.FAILED and info.error == "ValueError: boom"
    assert info.log_tail is not None and info.log_tail.endswith("Traceback: boom")
    assert len(info.log_tail) <= 64 * 1024
    assert store.sweeps.get(sweep_id).counts == {"failed": 1}


def test_killing_a_pending_trial_makes_its_queue_entry_unclaimable(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{}], epoch=epoch)
    assert trial_id is not None
    assert store.trials.kill(sweep_id, trial_id, "killed", reason="user asked")
    raw = store.queue.pop(sweep_id, "a1", 0)
    assert raw is not None
    assert store.trials.claim(sweep_id, trial_id, 1, "a1", LONG) is None
    info = store.reads.trial(sweep_id, trial_id)
    assert (info.state, info.error) == (RunState.KILLED, "user asked")
    assert store.sweeps.get(sweep_id).counts == {"killed": 1}


# ---- leases and stop requests ------------------------------------------------------------------


def test_a_lapsed_lease_is_reaped_as_crashed(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch, lease_ms=400)
    assert store.trials.lapsed(sweep_id) == []
    assert not store.trials.reap(sweep_id, trial_id)  # the lease lives
    assert store.reads.trial(sweep_id, trial_id).state is RunState.RUNNING
    time.sleep(0.45)
    assert store.trials.lapsed(sweep_id) == [trial_id]
    assert store.trials.reap(sweep_id, trial_id)
    crashed = store.reads.trial(sweep_id, trial_id)
    assert crashed.state is RunState.CRASHED and "lease" in (crashed.error or "")
    assert store.trials.lapsed(sweep_id) == []
    assert not store.trials.reap(sweep_id, trial_id)
    assert not store.trials.renew(sweep_id, trial_id, token, LONG).ok  # the agent self-fences
    assert not store.trials.finish(sweep_id, trial_id, token, "finished")
    assert store.sweeps.get(sweep_id).counts == {"crashed": 1}
    events = store.events.read(sweep_id, "ctl")
    assert [(e.type, e.trial_id) for e in events][-1] == ("crash", trial_id)


def test_renewing_keeps_a_trial_alive_and_a_late_renew_revives_it(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch, lease_ms=400)
    for _ in range(3):
        time.sleep(0.15)  # 0.45 s in all: longer than one lease
        assert store.trials.renew(sweep_id, trial_id, token, 400).ok
    assert store.trials.lapsed(sweep_id) == []
    time.sleep(0.45)  # lapsed, but the controller has not reaped it yet
    assert store.trials.lapsed(sweep_id) == [trial_id]
    assert store.trials.renew(sweep_id, trial_id, token, LONG).ok
    assert store.trials.lapsed(sweep_id) == []
    assert not store.trials.reap(sweep_id, trial_id)


def test_a_stop_request_reaches_the_agent_on_renew_and_report(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch)
    assert not store.trials.renew(sweep_id, trial_id, token, LONG).stop_requested
    reason = {"by": "hyperband", "band": 1}
    assert store.trials.request_stop(sweep_id, trial_id, reason)
    assert store.trials.request_stop(sweep_id, trial_id, {"by": "second"})  # the first reason stays
    renewal = store.trials.renew(sweep_id, trial_id, token, LONG)
    assert renewal.ok and renewal.stop_requested and renewal.stop_reason == reason
    renewal = store.trials.report(sweep_id, trial_id, token, [(0, {"loss": 1.0})], lease_ms=LONG)
    assert renewal.ok and renewal.stop_requested and renewal.stop_reason == reason
    assert store.trials.finish(sweep_id, trial_id, token, "stopped")
    info = store.reads.trial(sweep_id, trial_id)
    assert info.state is RunState.STOPPED and info.stop_reason == reason


# ---- the queue: dead letters and orphans -------------------------------------------------------


def test_garbage_on_the_queue_is_dead_lettered(
    store: Store, sweep: tuple[str, int], redis_client: redis.Redis
) -> None:
    sweep_id, _ = sweep
    redis_client.rpush(keys.queue(sweep_id), b"\xc1garbage")
    raw = store.queue.pop(sweep_id, "a1", 1)
    assert raw == b"\xc1garbage"
    with pytest.raises(ProtocolError) as info:
        protocol.decode(raw)
    assert store.queue.dead_letter(sweep_id, "a1", raw, str(info.value))
    assert store.queue.in_flight(sweep_id, "a1") == []
    assert store.queue.length(sweep_id) == 0
    [letter] = store.queue.dead_letters(sweep_id)
    assert (letter.raw, letter.agent) == (b"\xc1garbage", "a1")
    assert "not msgpack" in letter.reason
    assert letter.at_ms > 0
    assert not store.queue.dead_letter(sweep_id, "a1", raw, "again")  # nothing in flight to move
    assert len(store.queue.dead_letters(sweep_id)) == 1


def test_in_flight_entries_of_dead_agents_go_back_on_the_queue(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    [first] = store.trials.add(sweep_id, [{"n": 1}], epoch=epoch)
    [second] = store.trials.add(sweep_id, [{"n": 2}], epoch=epoch)
    store.trials.add(sweep_id, [{"n": 3}], epoch=epoch)
    store.agents.heartbeat(sweep_id, "dies", 300, busy=True, host="h1")
    store.agents.heartbeat(sweep_id, "lives", LONG, busy=True, host="h2")
    lost = store.queue.pop(sweep_id, "dies", 0)
    kept = store.queue.pop(sweep_id, "lives", 0)
    assert protocol.decode(lost).trial_id == first
    assert protocol.decode(kept).trial_id == second
    assert store.queue.requeue_orphans(sweep_id) == 0  # both alive
    time.sleep(0.35)
    assert [a.id for a in store.agents.live(sweep_id)] == ["lives"]
    assert store.queue.requeue_orphans(sweep_id) == 1
    assert store.queue.in_flight(sweep_id, "dies") == []
    assert store.queue.in_flight(sweep_id, "lives") == [kept]
    assert store.queue.length(sweep_id) == 2
    again = store.queue.pop(sweep_id, "lives", 0)  # the orphan comes first
    assert again == lost
    assert store.agents.remove(sweep_id, "lives") == 2  # leaving hands both entries back
    assert store.queue.length(sweep_id) == 3
    assert store.agents.live(sweep_id) == []


def test_live_agents_tell_busy_from_idle(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, _ = sweep
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=True, host="box-1")
    store.agents.heartbeat(sweep_id, "a2", LONG, busy=False, host="box-2")
    store.agents.heartbeat(sweep_id, "a2", LONG, busy=True, host="box-2")
    agents = {a.id: a for a in store.agents.live(sweep_id)}
    assert {k: (a.host, a.busy) for k, a in agents.items()} == {
        "a1": ("box-1", True),
        "a2": ("box-2", True),
    }
    assert agents["a1"].expires_ms - agents["a1"].seen_ms == LONG


def test_pop_waits_for_the_timeout_on_an_empty_queue(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, _ = sweep
    began = time.monotonic()
    assert store.queue.pop(sweep_id, "a1", 0.2) is None
    assert time.monotonic() - began >= 0.15


# ---- events ------------------------------------------------------------------------------------


def test_events_survive_a_controller_restart(
    store: Store, sweep: tuple[str, int], redis_url: str
) -> None:
    sweep_id, epoch = sweep
    trial_id, token = start(store, sweep_id, epoch)
    store.trials.report(
        sweep_id, trial_id, token, [(0, {"loss": 0.3})], metric_name="loss", lease_ms=LONG
    )
    store.trials.report(
        sweep_id, trial_id, token, [(1, {"other": 1})], metric_name="loss", lease_ms=LONG
    )
    store.trials.finish(sweep_id, trial_id, token, "finished")

    events = store.events.read(sweep_id, "ctl-1", count=10)
    assert [(e.type, e.trial_id) for e in events] == [
        ("claim", trial_id),
        ("report", trial_id),
        ("report", trial_id),
        ("finish", trial_id),
    ]
    assert events[1].fields == {"step": "0", "value": "0.3"}
    assert events[2].fields == {"step": "1"}
    # a finish says its state, how long the trial ran and its best value: the controller
    # need not read the trial back to say it ended
    took = events[3].fields.pop("took_ms")
    assert int(took) >= 0
    assert events[3].fields == {"state": "finished", "best": "0.3"}
    assert store.events.ack(sweep_id, [events[0].id, events[1].id]) == 2
    assert store.events.read(sweep_id, "ctl-1") == []

    # the controller dies before acking the rest; its successor picks them up
    with Store.from_url(redis_url) as restarted:
        again = restarted.events.read(sweep_id, "ctl-2", count=1)
        again += restarted.events.read(sweep_id, "ctl-2", count=1)
        assert [e.id for e in again] == [events[2].id, events[3].id]
        assert restarted.events.ack(sweep_id, [e.id for e in again]) == 2
        assert restarted.events.read(sweep_id, "ctl-2", block_ms=50) == []
        trial2, _ = start(store, sweep_id, epoch)
        fresh = restarted.events.read(sweep_id, "ctl-2", block_ms=1000)
        assert [(e.type, e.trial_id) for e in fresh] == [("claim", trial2)]


# ---- sweep state -------------------------------------------------------------------------------


def test_sweep_state_changes_are_compare_and_set(store: Store) -> None:
    sweep_id = store.sweeps.create({"method": "grid"})
    assert store.sweeps.set_state(sweep_id, "running", allowed_from=["pending"]).state == "running"
    with pytest.raises(SweepStateError, match=f"sweep {sweep_id} is running; cannot pause"):
        store.sweeps.set_state(sweep_id, "paused", allowed_from=["pending"])
    # asking for the state it has is a harmless no-op (a retried call)
    again = store.sweeps.set_state(sweep_id, "running", allowed_from=["pending"])
    assert again.state is SweepState.RUNNING
    paused = store.sweeps.set_state(sweep_id, SweepState.PAUSED, allowed_from=["running"])
    assert paused.state is SweepState.PAUSED
    done = store.sweeps.set_state(
        sweep_id, "finished", allowed_from=["running", "paused"], reason="grid exhausted"
    )
    assert (done.state, done.done_reason) == (SweepState.FINISHED, "grid exhausted")
    assert done.finished_ms is not None
    with pytest.raises(SweepStateError, match=f"sweep {sweep_id} is finished; cannot pause") as e:
        store.sweeps.set_state(sweep_id, "paused", allowed_from=["running"])
    assert e.value.state == "finished"
    # a finished sweep only resumes (running) or is canceled, even when the caller allows more
    for new in ("paused", "pending"):
        with pytest.raises(SweepStateError):
            store.sweeps.set_state(sweep_id, new, allowed_from=list(SweepState))
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED
    # resuming clears what finishing recorded: the controller works out afresh what is left
    resumed = store.sweeps.set_state(sweep_id, "running", allowed_from=["finished"])
    assert (resumed.state, resumed.done_reason, resumed.finished_ms) == ("running", None, None)
    canceled = store.sweeps.set_state(
        sweep_id, "canceled", allowed_from=list(SweepState), reason="canceled"
    )
    assert (canceled.state, canceled.done_reason) == ("canceled", "canceled")
    for new in ("paused", "pending", "finished"):  # canceled: only a resume
        with pytest.raises(SweepStateError, match="is canceled"):
            store.sweeps.set_state(sweep_id, new, allowed_from=list(SweepState))
    assert store.sweeps.set_state(sweep_id, "running", allowed_from=["canceled"]).state == "running"
    with pytest.raises(NotFoundError):
        store.sweeps.set_state("nosweep1", "paused", allowed_from=["running"])


# ---- connections -------------------------------------------------------------------------------


def test_unix_socket_urls_work(redis_client: redis.Redis, redis_unix_url: str) -> None:
    with Store.from_url(redis_unix_url) as store:
        assert store.ping()
        sweep_id = store.sweeps.create({"method": "grid"})
        assert store.sweeps.get(sweep_id).id == sweep_id


def test_an_unreachable_server_is_a_store_error_without_the_password(
    redis_server: Any,
) -> None:
    from redsweep.shared.server.local import free_port

    url = f"redis://:hunter2secret@127.0.0.1:{free_port()}/0"
    store = Store.from_url(url, retries=1)
    assert not store.ping()
    with pytest.raises(StoreError) as info:
        store.sweeps.get("abcdefgh")
    assert "hunter2secret" not in str(info.value)
    assert "redis://:***@127.0.0.1" in str(info.value)


def test_a_wrong_password_is_a_store_error_without_the_password(
    redis_client: redis.Redis, redis_server: Any
) -> None:
    url = f"redis://:wrong-pw-123@127.0.0.1:{redis_server.port}/0"
    store = Store.from_url(url, retries=0)
    assert not store.ping()
    with pytest.raises(StoreError) as info:
        store.sweeps.create({"method": "grid"})
    assert "wrong-pw-123" not in str(info.value)


def test_a_url_that_is_not_redis_is_refused() -> None:
    with pytest.raises(StoreError, match="not a Redis URL: http://u:\\*\\*\\*@host"):
        Store.from_url("http://u:pw@host/")
