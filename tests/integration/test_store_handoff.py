"""The store's one-round-trip paths against the session's private Redis: several rows in one
report, a batch that sends the last rows, the finish, and acks and takes (and claims) the next
trial, giving back a trial claimed but not started, adding several trials at once, and scripts
the server forgot."""

from __future__ import annotations

import os

import pytest
import redis
from helpers import wait_for
from redis.connection import AbstractConnection

from redsweep.errors import UnreachableError
from redsweep.shared import protocol
from redsweep.shared.records import RunState, SweepState, TrialMessage
from redsweep.shared.store import Renewal, Store, keys, new_id, new_token
from redsweep.shared.store.calls import Ack, Finish, ReportRows, Take
from redsweep.shared.store.scripts import lua_source

LONG = 30_000  # a lease that does not lapse during a test (ms)


@pytest.fixture
def sweep(store: Store) -> tuple[str, int]:
    """A running sweep with a controller at ``epoch``: (sweep_id, epoch)."""
    sweep_id = store.sweeps.create({"method": "random"}, project="proj")
    epoch = store.controllers.acquire(sweep_id, "ctl-1", LONG)
    assert epoch is not None
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING])
    return sweep_id, epoch


def start_one(store: Store, sweep_id: str, epoch: int, agent: str = "a1") -> tuple[str, str, bytes]:
    """Add a trial, pop and claim it: (trial_id, token, queue entry)."""
    [trial_id] = store.trials.add(sweep_id, [{"lr": 0.1}], epoch=epoch)
    assert trial_id is not None
    raw = store.queue.pop(sweep_id, agent, 0)
    assert raw is not None
    token, _ = store.trials.claim(sweep_id, trial_id, 1, agent, LONG)
    assert token is not None
    return trial_id, token, raw


def event_types(store: Store, sweep_id: str) -> list[tuple[str, str | None]]:
    events = store.events.read(sweep_id, "test")
    store.events.ack(sweep_id, [e.id for e in events])
    return [(e.type, e.trial_id) for e in events]


# ---- several rows, one call ----------------------------------------------------------------------


def test_report_rows_appends_every_row_and_keeps_the_best_of_them(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    trial_id, token, _ = start_one(store, sweep_id, epoch)
    event_types(store, sweep_id)  # the claim
    rows = [(0, {"loss": 0.9, "acc": 0.1}), (1, {"loss": 0.2}), (2, {"loss": 0.5, "acc": 0.7})]
    renewal = store.trials.report(
        sweep_id, trial_id, token, rows, metric_name="loss", goal="minimize", lease_ms=LONG
    )
    assert renewal.ok and not renewal.stop_requested
    history = store.reads.history(sweep_id, trial_id)
    assert [(r["_step"], r.get("loss")) for r in history] == [(0, 0.9), (1, 0.2), (2, 0.5)]
    assert store.reads.summary(sweep_id, trial_id) == {"loss": 0.5, "acc": 0.7}
    assert store.reads.trial(sweep_id, trial_id).best == 0.2
    info = store.sweeps.get(sweep_id)
    assert (info.best_value, info.best_trial) == (0.2, trial_id)
    assert event_types(store, sweep_id) == [("report", trial_id)]  # one event for the batch


def test_report_rows_with_a_stale_token_changes_nothing(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    trial_id, _token, _ = start_one(store, sweep_id, epoch)
    renewal = store.trials.report(
        sweep_id, trial_id, "not-the-token", [(0, {"loss": 1.0})], metric_name="loss", lease_ms=LONG
    )
    assert not renewal.ok
    assert store.reads.history(sweep_id, trial_id) == []
    assert store.reads.summary(sweep_id, trial_id) == {}


# ---- finish, ack and take the next, in one round trip ----------------------------------------


def test_one_batch_sends_the_last_rows_finishes_acks_and_claims_the_next_trial(
    store: Store, sweep: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id, epoch = sweep
    first, token, raw = start_one(store, sweep_id, epoch)
    [second] = store.trials.add(sweep_id, [{"lr": 0.2}], epoch=epoch)
    assert second is not None
    for call in (ReportRows, Finish, Take):  # known to the server, as after a first trial
        store.client.script_load(lua_source(call.script))
    sent = []  # what went to the server: one entry per round trip
    send = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        send(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    renewal, ok, taken = store.batch(
        ReportRows(sweep_id, first, token, [(0, {"loss": 0.3})], metric_name="loss", lease_ms=LONG),
        Finish(
            sweep_id, first, token, RunState.FINISHED, summary={"loss": 0.3}, metric_name="loss"
        ),
        Take(sweep_id, "a1", LONG, ack=raw),
    )
    monkeypatch.undo()
    assert len(sent) == 1  # rows, finish, ack and take: one round trip
    assert isinstance(renewal, Renewal) and renewal.ok
    assert ok
    assert store.reads.trial(sweep_id, first).state is RunState.FINISHED
    assert [r["loss"] for r in store.reads.history(sweep_id, first)] == [0.3]
    assert taken is not None and taken.trial_id == second and taken.params == {"lr": 0.2}
    trial = store.reads.trial(sweep_id, second)
    assert (trial.state, trial.worker) == (RunState.RUNNING, "a1")
    # the finished trial's entry left the in-flight list; the new one is in it
    assert store.queue.in_flight(sweep_id, "a1") == [taken.entry]
    assert protocol.decode(taken.entry) == TrialMessage(sweep_id, second, 1)
    # the claim holds: the token reports and finishes the new trial
    assert store.trials.finish(sweep_id, second, taken.token, RunState.FINISHED)
    assert store.sweeps.get(sweep_id).counts == {"finished": 2}


def test_the_last_rows_sent_with_the_finish_tell_the_controller_once(
    store: Store, sweep: tuple[str, int]
) -> None:
    """Rows sent with their trial's finish (``final``) are stored as any report's, but the
    controller gets one event for the trial's end, not a report event before it as well."""
    sweep_id, epoch = sweep
    first, token, _ = start_one(store, sweep_id, epoch)
    events = keys.events(sweep_id)

    def told() -> list[bytes]:
        return [fields[b"type"] for _, fields in store.client.xrange(events)]

    assert told() == [b"claim"]
    store.trials.report(
        sweep_id, first, token, [(0, {"loss": 0.5})], metric_name="loss", lease_ms=LONG
    )
    assert told() == [b"claim", b"report"]  # a report while it runs tells the controller
    rows = [(1, {"loss": 0.3}), (2, {"loss": 0.4})]
    renewal, ok = store.batch(
        ReportRows(sweep_id, first, token, rows, metric_name="loss", lease_ms=LONG, final=True),
        Finish(sweep_id, first, token, RunState.FINISHED, metric_name="loss"),
    )
    assert renewal.ok and ok
    assert told() == [b"claim", b"report", b"finish"]
    assert [r["loss"] for r in store.reads.history(sweep_id, first)] == [0.5, 0.3, 0.4]
    assert store.reads.summary(sweep_id, first)["loss"] == 0.4
    info = store.sweeps.get(sweep_id)
    assert (info.best_value, info.best_trial, info.counts) == (0.3, first, {"finished": 1})


def test_a_finish_with_an_ack_only_acks_and_an_empty_queue_takes_nothing(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    first, token, raw = start_one(store, sweep_id, epoch)
    store.trials.add(sweep_id, [{"lr": 0.2}], epoch=epoch)
    ok, acked = store.batch(
        Finish(sweep_id, first, token, RunState.FAILED), Ack(sweep_id, "a1", raw)
    )
    assert ok and acked
    assert store.queue.in_flight(sweep_id, "a1") == [] and store.queue.length(sweep_id) == 1

    second = store.queue.take(sweep_id, "a1", LONG)  # the trial left on the queue
    assert second is not None and second.trial_id is not None and second.token is not None
    ok, taken = store.batch(
        Finish(sweep_id, second.trial_id, second.token, "finished"),
        Take(sweep_id, "a1", LONG, ack=second.entry),
    )
    assert ok and taken is None  # nothing was queued
    assert store.queue.in_flight(sweep_id, "a1") == []
    # an ack of an entry no longer in flight says so
    assert store.batch(Ack(sweep_id, "a1", second.entry)) == (False,)


def test_a_refused_finish_in_a_batch_leaves_the_other_calls_their_answers(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    first, _token, raw = start_one(store, sweep_id, epoch)
    [second] = store.trials.add(sweep_id, [{"lr": 0.2}], epoch=epoch)
    ok, taken = store.batch(
        Finish(sweep_id, first, "not-the-token", RunState.FINISHED),
        Take(sweep_id, "a1", LONG, ack=raw),
    )
    assert not ok
    assert store.reads.trial(sweep_id, first).state is RunState.RUNNING
    assert taken is not None and taken.trial_id == second


# ---- take_trial: what it claims and what it leaves to the agent --------------------------------


def test_take_claims_a_trial_message_of_this_sweep(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.trial_id == trial_id and taken.params == {"x": 1}
    assert store.reads.trial(sweep_id, trial_id).state is RunState.RUNNING
    assert store.queue.take(sweep_id, "a1", LONG) is None  # the queue is empty


@pytest.mark.parametrize(
    "entry",
    [
        b"\xff\xfe not msgpack",
        b"\x93\x01\x02\x03",  # a msgpack list
        protocol.encode(TrialMessage("othersweep", "t1", 1)),
        protocol.encode(TrialMessage("SWEEP", "nosuchtrial", 1)),
    ],
    ids=["garbage", "a-list", "another-sweep", "unknown-trial"],
)
def test_take_leaves_entries_it_cannot_claim_to_the_agent(
    store: Store, sweep: tuple[str, int], entry: bytes
) -> None:
    sweep_id, _ = sweep
    entry = entry.replace(b"SWEEP", sweep_id.encode())
    store.client.rpush(keys.queue(sweep_id), entry)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.entry == entry
    assert taken.trial_id is None and taken.token is None
    assert store.queue.in_flight(sweep_id, "a1") == [entry]  # for the agent to dead-letter
    assert store.sweeps.get(sweep_id).counts == {}


@pytest.mark.parametrize(
    "trial_id", ["t1", "a.b@c-d_e", "x" * 128, "", "a:b", "a{b}", "a b", "x" * 129, "caf\u00e9"]
)
def test_take_checks_a_trial_id_by_the_rule_of_valid_id(store: Store, trial_id: str) -> None:
    """take.lua is given the rule of a trial id (a Lua pattern and a length limit) by Python:
    it says what keys.valid_id says."""
    check = "return (#ARGV[1] <= tonumber(ARGV[2]) and string.match(ARGV[1], ARGV[3])) and 1 or 0"
    matched = store.client.eval(check, 0, trial_id, keys.MAX_ID_CHARS, keys.ID_LUA_PATTERN)
    assert bool(matched) is keys.valid_id(trial_id)


def test_take_does_not_claim_in_a_paused_sweep(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    store.sweeps.set_state(sweep_id, SweepState.PAUSED, allowed_from=[SweepState.RUNNING])
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.token is None
    assert store.reads.trial(sweep_id, trial_id).state is RunState.PENDING


# ---- release: a claimed trial that will not run --------------------------------------------------


def test_release_makes_a_taken_trial_pending_again_at_the_head_of_the_queue(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    [first] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    store.trials.add(sweep_id, [{"x": 2}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.trial_id == first
    event_types(store, sweep_id)
    assert store.queue.release(sweep_id, "a1", taken)
    trial = store.reads.trial(sweep_id, first)
    assert (trial.state, trial.worker, trial.attempt) == (RunState.PENDING, None, 1)
    assert store.sweeps.get(sweep_id).counts == {"pending": 2}
    assert store.trials.lapsed(sweep_id) == []
    assert store.queue.in_flight(sweep_id, "a1") == []
    assert event_types(store, sweep_id) == [("release", first)]
    # another agent takes it first, as the same attempt
    again = store.queue.take(sweep_id, "a2", LONG)
    assert again is not None and again.trial_id == first


def test_release_refuses_a_trial_that_reported(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.token is not None
    store.trials.report(sweep_id, trial_id, taken.token, [(0, {"loss": 1.0})], lease_ms=LONG)
    assert not store.queue.release(sweep_id, "a1", taken)
    assert store.reads.trial(sweep_id, trial_id).state is RunState.RUNNING
    assert store.queue.length(sweep_id) == 0


# ---- several trials added at once --------------------------------------------------------------


def test_add_trials_adds_in_order_and_stops_at_the_cap(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    added = store.trials.add(sweep_id, [{"x": i} for i in range(5)], epoch=epoch, run_cap=3)
    assert len(added) == 3 and len(set(added)) == 3
    assert [store.reads.trial(sweep_id, t).params for t in added] == [{"x": 0}, {"x": 1}, {"x": 2}]
    assert store.queue.length(sweep_id) == 3
    assert store.trials.add(sweep_id, [{"x": 9}], epoch=epoch, run_cap=3) == []
    assert store.sweeps.get(sweep_id).issued == 3


# ---- a server that forgot its scripts (restarted) ----------------------------------------------


def test_a_batch_reloads_scripts_the_server_forgot(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    first, token, raw = start_one(store, sweep_id, epoch)
    [second] = store.trials.add(sweep_id, [{"lr": 0.2}], epoch=epoch)
    store.client.script_flush()
    _, ok, taken = store.batch(
        ReportRows(sweep_id, first, token, [(0, {"loss": 1.0})], lease_ms=LONG),
        Finish(sweep_id, first, token, RunState.FINISHED),
        Take(sweep_id, "a1", LONG, ack=raw),
    )
    assert ok
    assert store.reads.history(sweep_id, first)[0]["loss"] == 1.0
    assert taken is not None and taken.trial_id == second
    assert store.queue.in_flight(sweep_id, "a1") == [taken.entry]
    store.client.script_flush()
    assert len(store.trials.add(sweep_id, [{"x": 1}, {"x": 2}], epoch=epoch)) == 2
    store.client.script_flush()
    assert store.queue.take(sweep_id, "a2", LONG) is not None  # one call on its own too


# ---- a lane: sent now, answered later -------------------------------------------------------


def test_a_lane_runs_a_batch_at_once_and_reads_its_answer_when_asked(
    store: Store, sweep: tuple[str, int], redis_client: redis.Redis
) -> None:
    """An agent's pipelined finish: the server applies the batch as it arrives, whoever reads
    the answer and whenever; answers come back in the order the batches went out."""
    sweep_id, epoch = sweep
    first, token, raw = start_one(store, sweep_id, epoch)
    second, third = store.trials.add(sweep_id, [{"lr": 0.2}, {"lr": 0.3}], epoch=epoch)
    for call in (Finish, Take):  # known to the server, as after a first trial
        store.client.script_load(lua_source(call.script))
    lane = store.lane()
    try:
        sent = lane.send(
            Finish(sweep_id, first, token, RunState.FINISHED),
            Take(sweep_id, "a1", LONG, ack=raw),
            Take(sweep_id, "a1", LONG),
        )
        # nobody read the answer, and the server has done it all: both taken and claimed
        wait_for(
            lambda: store.reads.trial(sweep_id, third).state is RunState.RUNNING,
            5,
            "the second take claims the third trial",
        )
        assert store.reads.trial(sweep_id, first).state is RunState.FINISHED
        assert not sent.answered
        later = lane.send(Ack(sweep_id, "a1", b"not in flight"))
        assert later.result() == (False,)  # reads the earlier answer first
        assert sent.answered
        ok, taken_second, taken_third = sent.result()
        assert ok
        assert (taken_second.trial_id, taken_third.trial_id) == (second, third)
        assert store.reads.trial(sweep_id, second).worker == "a1"

        # a server that forgot its scripts: the call is run again on its own
        redis_client.script_flush()
        again = lane.send(Finish(sweep_id, second, taken_second.token, RunState.FINISHED))
        assert again.result() == (True,)
        assert store.reads.trial(sweep_id, second).state is RunState.FINISHED

        # the connection died (a Redis restart, a proxy): no answer, said as an outage (the
        # agent sends its finish again, as after any outage); the lane carries on over a new
        # connection
        redis_client.client_kill_filter(_type="normal", skipme=True)
        finish_third = Finish(sweep_id, third, taken_third.token, RunState.FINISHED)
        with pytest.raises(UnreachableError):
            lane.send(finish_third).result()
        assert lane.send(finish_third).result() == (True,)
        assert store.reads.trial(sweep_id, third).state is RunState.FINISHED
    finally:
        lane.close()


# ---- ids and tokens ----------------------------------------------------------------------------


def test_ids_and_tokens_differ_in_a_forked_child() -> None:
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id and token, then out
        os.write(write_fd, f"{new_id()} {new_token()}".encode())
        os._exit(0)
    os.close(write_fd)
    mine = f"{new_id()} {new_token()}"
    os.waitpid(pid, 0)
    with os.fdopen(read_fd) as pipe:
        theirs = pipe.read()
    assert theirs and theirs.split()[0] != mine.split()[0] and theirs.split()[1] != mine.split()[1]


# ---- a controller's round in one round trip --------------------------------------------------


def test_a_controller_round_acks_reads_events_and_the_sweep_together(
    store: Store, sweep: tuple[str, int], redis_url: str
) -> None:
    sweep_id, epoch = sweep
    [first] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    store.trials.add(sweep_id, [{"x": 2}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.trial_id == first
    # the first round of a consumer reads the backlog
    events, info, queued = store.events.round(sweep_id, "ctl", block_ms=10)
    assert [(e.type, e.trial_id) for e in events] == [("claim", first)]
    assert (info.counts, queued) == ({"pending": 1, "running": 1}, 1)
    assert taken.token is not None
    store.trials.finish(sweep_id, first, taken.token, RunState.FINISHED)
    events2, info, queued = store.events.round(
        sweep_id, "ctl", ack=[e.id for e in events], block_ms=1000
    )
    assert [(e.type, e.trial_id) for e in events2] == [("finish", first)]
    assert info.counts == {"pending": 1, "finished": 1}
    # a restarted controller reads again what was read but not acked (the finish), not the
    # claim acked with the last round
    with Store.from_url(redis_url) as restarted:
        again, _, _ = restarted.events.round(sweep_id, "ctl", ack=[e.id for e in events2])
        assert [(e.type, e.trial_id) for e in again] == [("finish", first)]
        assert restarted.events.round(sweep_id, "ctl", ack=[e.id for e in again])[0] == []


def test_a_controller_round_survives_its_inbox_being_deleted(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    assert store.events.round(sweep_id, "ctl")[0] == []
    store.client.delete(keys.events(sweep_id))
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert store.events.round(sweep_id, "ctl")[0] == []  # the group is made again
    assert store.queue.take(sweep_id, "a1", LONG) is not None
    events, _, _ = store.events.round(sweep_id, "ctl", block_ms=1000)
    assert [(e.type, e.trial_id) for e in events] == [("claim", trial_id)]


def test_a_claim_records_how_many_more_trials_its_agent_will_start(
    store: Store, sweep: tuple[str, int]
) -> None:
    sweep_id, epoch = sweep
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h", remaining=2)
    assert [a.remaining for a in store.agents.live(sweep_id)] == [2]
    [first] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    assert first is not None
    assert store.trials.claim(sweep_id, first, 1, "a1", LONG, remaining=2) is not None
    assert store.agents.remaining(sweep_id, ["a1"]) == {"a1": 1}
    assert (
        store.trials.claim(sweep_id, first, 1, "a1", LONG, remaining=1) is None
    )  # refused: as was
    assert store.agents.remaining(sweep_id, ["a1"]) == {"a1": 1}
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=True, host="h")  # no count any more
    assert store.agents.remaining(sweep_id, ["a1"]) == {"a1": None}
