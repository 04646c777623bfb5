"""The controller's rounds, stepped by hand against the session's private Redis: how it keeps
the queue topped up, retries a crashed trial once, and finishes the sweep."""

from __future__ import annotations

import io

from helpers import wait_for

from redsweep.controller.controller import Controller
from redsweep.progress import Progress
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store, keys

LONG = 30_000
CONFIG = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


def controller_for(store: Store, **config: object) -> tuple[str, Controller]:
    sweep_id = store.sweeps.create({**CONFIG, **config})
    controller = Controller(store, sweep_id, poll_ms=10, lease_ms=400)  # reaps every 0.1 s
    assert controller.acquire()
    return sweep_id, controller


def finish(store: Store, sweep_id: str, agent: str, loss: float = 0.5) -> str:
    """Take the next trial as ``agent`` and finish it with ``loss``: its id."""
    taken = store.queue.take(sweep_id, agent, LONG)
    assert taken is not None and taken.trial_id and taken.token
    store.queue.ack(sweep_id, agent, taken.entry)
    assert store.trials.finish(
        sweep_id,
        taken.trial_id,
        taken.token,
        RunState.FINISHED,
        summary={"loss": loss},
        metric_name="loss",
    )
    return taken.trial_id


def test_the_queue_is_topped_up_in_batches_up_to_the_cap(store: Store) -> None:
    """What the prefetch is for, not its size: the idle agent never finds the queue empty
    before the cap is reached, the cap is never exceeded, and the queue is topped up in
    batches (rounds that add nothing, then several at once), not by a trial per round."""
    cap = 20
    sweep_id, controller = controller_for(store, run_cap=cap)
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h")
    assert controller.step()
    queued = store.queue.length(sweep_id)
    assert queued > 1  # the idle agent's next trial and more: it need not wait for a round
    done, batches, rounds_adding_nothing = 0, [], 0
    while queued:
        finish(store, sweep_id, "a1")  # the agent takes the next trial and finishes it
        done += 1
        left = queued - 1
        controller.step()
        info = store.sweeps.get(sweep_id)
        queued = store.queue.length(sweep_id)
        assert info.issued <= cap
        assert info.issued == done + queued  # every trial issued is finished or queued
        if info.issued < cap:
            assert queued >= 1  # the agent is idle and the sweep not done: never empty
        if queued > left:
            batches.append((queued - left, cap - (info.issued - (queued - left))))
        elif left:
            rounds_adding_nothing += 1
    assert batches and rounds_adding_nothing  # it topped up, and not every round
    # each top-up brings several trials, unless the cap left room for fewer
    assert all(added > 1 or added == room for added, room in batches), batches
    info = store.sweeps.get(sweep_id)
    assert info.issued == cap and info.counts == {"finished": cap}
    assert controller.step() is False  # nothing alive, cap reached: finished
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.FINISHED, "run_cap")


def test_the_round_that_issues_the_last_trial_says_no_more_will_come(store: Store) -> None:
    """The sweep says why no more trials come (``done_reason``) as soon as the cap's last trial
    is queued, not a round later: an agent whose queue runs dry then looks for the sweep's end
    every few milliseconds instead of waiting on the queue."""
    sweep_id, controller = controller_for(store, run_cap=3)
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h")
    assert controller.step()
    info = store.sweeps.get(sweep_id)
    assert (info.issued, info.counts) == (3, {"pending": 3})
    assert (info.state, info.done_reason) == (SweepState.RUNNING, "run_cap")


def test_claims_tell_the_controller_only_when_it_follows_them(store: Store) -> None:
    """A random sweep's controller needs only the ends of trials: claims add no event (a
    stream entry and a parse per trial saved). One with a target follows running trials, and
    is told of each claim."""
    for target, told in ((None, False), (0.01, True)):
        metric = {"name": "loss", "goal": "minimize"}
        if target is not None:
            metric["target"] = target
        sweep_id, controller = controller_for(store, run_cap=4, metric=metric)
        store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h")
        assert controller.step()
        finish(store, sweep_id, "a1")
        types = [f[b"type"] for _, f in store.client.xrange(keys.events(sweep_id))]
        assert types.count(b"finish") == 1
        assert (b"claim" in types) is told, types


def test_a_crashed_trial_runs_once_more_then_the_sweep_finishes(store: Store) -> None:
    sweep_id, controller = controller_for(store, run_cap=2)
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h")
    assert controller.step()
    assert store.queue.length(sweep_id) == 2  # the cap bounds the prefetch
    lapsing = store.queue.take(sweep_id, "a1", 50)  # a lease that lapses: its agent "died"
    assert lapsing is not None and lapsing.trial_id
    finish(store, sweep_id, "a1")
    # rounds until one reaps the lapsed trial (once the lease lapsed and a reap is due) and
    # adds its retry
    crashed = wait_for(
        lambda: (
            controller.step()
            and (t := store.reads.trial(sweep_id, lapsing.trial_id)).state is RunState.CRASHED
            and t
        ),
        10,
        "the controller to reap the lapsed trial",
    )
    assert store.sweeps.get(sweep_id).crashes_handled == 1  # agents may leave once it is done
    retry = [t for t in store.reads.trials(sweep_id) if t.retry_of == lapsing.trial_id]
    assert len(retry) == 1 and retry[0].attempt == 2
    assert retry[0].params == crashed.params
    assert controller.step()  # running or queued: not finished yet, no second retry
    assert len(store.reads.trials(sweep_id)) == 3
    assert finish(store, sweep_id, "a1") == retry[0].id
    assert controller.step() is False
    info = store.sweeps.get(sweep_id)
    assert info.state is SweepState.FINISHED
    assert info.counts == {"finished": 2, "crashed": 1}


def test_a_foreground_controller_prints_a_line_per_ended_trial(store: Store) -> None:
    sweep_id, controller = controller_for(store, run_cap=3)
    out = io.StringIO()
    config = controller.view.config if controller.view else None
    assert config is not None
    controller.progress = Progress(sweep_id, total=3, metric=config.metric, out=out, tty=False)
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h")
    assert controller.step()
    ids = [finish(store, sweep_id, "a1", loss) for loss in (0.5, 0.25)]
    controller.step()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"run {ids[0]} finished") and "loss=0.5" in lines[0]
    assert lines[1].startswith(f"run {ids[1]} finished") and "loss=0.25" in lines[1]
    assert "2/3 done · 0 running · best loss (min) 0.25" in lines[1]


def test_agents_with_a_count_get_no_more_queued_than_they_will_take(store: Store) -> None:
    sweep_id, controller = controller_for(store)
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h", remaining=3)
    store.agents.heartbeat(sweep_id, "a2", LONG, busy=False, host="h", remaining=1)
    assert controller.step()
    assert store.queue.length(sweep_id) == 4  # not 2 idle + a prefetch of 8
    # each take says how many that agent has left once it claimed
    for agent, left in (("a1", 3), ("a1", 2), ("a2", 1), ("a1", 1)):
        taken = store.queue.take(sweep_id, agent, LONG, remaining=left)
        assert taken is not None and taken.token is not None
    assert store.agents.remaining(sweep_id, ["a1", "a2", "gone"]) == {"a1": 0, "a2": 0, "gone": 0}
    assert controller.step()
    assert store.queue.length(sweep_id) == 0 and len(store.reads.trials(sweep_id)) == 4
    # an agent without a count joins: once the controller sees it (its list of agents may be
    # a little stale) the prefetch is back, more queued than the one agent's next trial
    store.agents.heartbeat(sweep_id, "a3", LONG, busy=False, host="h")
    wait_for(
        lambda: controller.step() and store.queue.length(sweep_id) > 1,
        10,
        "a prefetch for the agent without a count",
    )
