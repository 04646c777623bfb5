"""One lifecycle for every kind of controller (``redsweep controller``, an agent's background
controller, ``controller --all``), against the suite's private Redis: a bug is said at once,
fencing means standing by, a handover is honoured, an outage is ridden out, a release that
fails is given up. Bugs and outages are injected into the controller's own code in-process."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from helpers import wait_for

from redsweep.controller.background import start_background
from redsweep.controller.controller import Controller, ControllerBusy
from redsweep.controller.lifecycle import describe
from redsweep.controller.many import ManyControllers
from redsweep.errors import FencedError, StoreError
from redsweep.shared.records import SweepState
from redsweep.shared.store import Store, keys

LEASE = 1000  # ms: renewed every third of a second
LONG = 30_000
CONFIG = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


def steal(store: Store, sweep_id: str, holder: str = "ctl:thief", ttl_ms: int = LONG) -> int:
    """Take the lease from whoever holds it, as a controller that took over: its epoch."""
    store.client.delete(keys.controller(sweep_id))
    epoch = store.controllers.acquire(sweep_id, holder, ttl_ms)
    assert epoch is not None
    return epoch


def background_holder(store: Store, sweep_id: str) -> str:
    holder = store.controllers.holder(sweep_id) or ""
    return holder if holder.startswith("bg:") else ""


def watch_fencing(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event set when a controller's round finds it was fenced (renewing its lease, or
    adding trials with its stale epoch)."""
    fenced = threading.Event()
    step = Controller.step

    def watched(self: Controller) -> bool:
        try:
            return step(self)
        except FencedError:
            fenced.set()
            raise

    monkeypatch.setattr(Controller, "step", watched)
    return fenced


class Errors:
    """An ``on_error`` that keeps what it was given and from which thread."""

    def __init__(self) -> None:
        self.got: list[tuple[BaseException, str]] = []
        self.said = threading.Event()

    def __call__(self, error: BaseException) -> None:
        self.got.append((error, threading.current_thread().name))
        self.said.set()


def test_a_background_controller_with_a_bug_says_so_at_once_and_ends(
    store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)

    def broken(self: Controller) -> bool:
        raise KeyError("bug")

    monkeypatch.setattr(Controller, "step", broken)
    errors = Errors()
    bg = start_background(redis_url, sweep_id, on_error=errors, lease_ms=LEASE)
    try:
        assert errors.said.wait(10)
        ((error, thread),) = errors.got
        assert isinstance(error, KeyError) and thread == f"redsweep-controller-{sweep_id}"
        assert describe(error) == "KeyError: 'bug'"
        assert bg.failed and bg.error is error
        assert store.controllers.holder(sweep_id) is None  # released before it said so
        wait_for(lambda: not bg.alive, 5, "the controller's thread to end")
    finally:
        bg.stop()
    assert errors.got == [(error, thread)]  # said once


def test_a_bug_is_said_even_when_the_release_fails_too(
    store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    monkeypatch.setattr(Controller, "step", lambda self: 1 / 0)
    releases: list[tuple[Any, ...]] = []

    def failing_release(self: Any, *args: Any) -> bool:
        releases.append(args)
        raise StoreError("cannot reach Redis at redis://somewhere: gone")

    monkeypatch.setattr(type(store.controllers), "release", failing_release)
    errors = Errors()
    bg = start_background(redis_url, sweep_id, on_error=errors, lease_ms=LEASE)
    try:
        assert errors.said.wait(10)
        assert isinstance(errors.got[0][0], ZeroDivisionError)
        assert len(releases) == 1  # tried once, then left to lapse
    finally:
        bg.stop()


def test_a_fenced_background_controller_stands_by_and_resumes_when_the_lease_is_free(
    store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    fenced = watch_fencing(monkeypatch)
    errors = Errors()
    bg = start_background(redis_url, sweep_id, on_error=errors, lease_ms=LEASE)
    try:
        first = wait_for(lambda: background_holder(store, sweep_id), 10, "its controller")
        epoch = steal(store, sweep_id)
        assert fenced.wait(10)  # at its next round
        assert bg.alive and not bg.failed
        assert store.controllers.holder(sweep_id) == "ctl:thief"  # it did not take it back
        store.controllers.release(sweep_id, "ctl:thief", epoch)
        wait_for(lambda: background_holder(store, sweep_id) == first, 10, "it takes over again")
        assert store.sweeps.get(sweep_id).epoch == epoch + 1
    finally:
        bg.stop()
    assert errors.got == []
    assert store.controllers.holder(sweep_id) is None  # stop() released it


def test_a_background_controller_hands_over_to_a_dedicated_one_and_stands_by(
    store: Store, redis_url: str
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    errors = Errors()
    bg = start_background(redis_url, sweep_id, on_error=errors, lease_ms=LEASE)
    try:
        first = wait_for(lambda: background_holder(store, sweep_id), 10, "its controller")
        dedicated = Controller(store, sweep_id, lease_ms=LEASE)
        assert dedicated.acquire(wait_s=0.0)  # it asks for a handover and waits for it
        assert store.controllers.holder(sweep_id) == dedicated.holder
        assert store.controllers.handover_requested(sweep_id) == dedicated.holder
        assert dedicated.step()
        dedicated.release()
        # once the handover request lapses, the background controller takes the sweep again
        wait_for(lambda: background_holder(store, sweep_id) == first, 10, "it takes over again")
        assert store.controllers.handover_requested(sweep_id) is None
    finally:
        bg.stop()
    assert errors.got == [] and not bg.failed


def test_a_background_controller_rides_out_an_outage_without_saying_it_failed(
    store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    step, acquire = Controller.step, Controller.acquire
    outages: list[int] = []
    taken: list[int] = []

    def flaky(self: Controller) -> bool:
        if not outages:
            outages.append(1)
            raise StoreError("cannot reach Redis at redis://somewhere: Connection refused")
        return step(self)

    def counted(self: Controller, wait_s: float = 0.0) -> bool:
        got = acquire(self, wait_s)
        if got:
            taken.append(1)
        return got

    monkeypatch.setattr(Controller, "step", flaky)
    monkeypatch.setattr(Controller, "acquire", counted)
    errors = Errors()
    bg = start_background(redis_url, sweep_id, on_error=errors, lease_ms=LEASE)
    try:
        wait_for(lambda: len(taken) >= 2, 10, "the lease taken again after the outage")
        assert bg.alive and not bg.failed
        assert background_holder(store, sweep_id)
    finally:
        bg.stop()
    assert errors.got == []


def test_a_fenced_foreground_controller_takes_the_lease_again_once_it_lapses(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    fenced = watch_fencing(monkeypatch)
    stop = threading.Event()
    ctl = Controller(store, sweep_id, lease_ms=LEASE, poll_ms=10)
    ended: list[Any] = []
    thread = threading.Thread(target=lambda: ended.append(ctl.run(stop)))
    thread.start()
    try:
        wait_for(lambda: store.controllers.holder(sweep_id) == ctl.holder, 10, "the lease")
        # a controller that took over and died: its lease lapses within the foreground
        # controller's wait (a lease period and a half second)
        epoch = steal(store, sweep_id, ttl_ms=LEASE // 2)
        assert fenced.wait(10)
        # the holder is in Redis a moment before the controller stores its new epoch
        wait_for(
            lambda: store.controllers.holder(sweep_id) == ctl.holder and ctl.epoch is not None,
            10,
            "it takes over",
        )
        assert ctl.epoch > epoch
    finally:
        stop.set()
        thread.join(10)
    assert [info.state for info in ended] == [SweepState.RUNNING]
    assert store.controllers.holder(sweep_id) is None


def test_a_fenced_foreground_controller_names_a_live_new_holder_and_ends(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    fenced = watch_fencing(monkeypatch)
    ctl = Controller(store, sweep_id, lease_ms=LEASE, poll_ms=10)
    failed: list[BaseException] = []

    def run() -> None:
        try:
            ctl.run()
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: store.controllers.holder(sweep_id) == ctl.holder, 10, "the lease")
        epoch = steal(store, sweep_id, ttl_ms=LEASE)
        assert fenced.wait(10)

        def renewed_until_it_ended() -> bool:  # the new holder is alive: it renews
            assert store.controllers.renew(sweep_id, "ctl:thief", epoch, LEASE)
            return not thread.is_alive()

        wait_for(renewed_until_it_ended, 10, "the fenced controller to give up", interval=0.1)
    finally:
        thread.join(10)
    (error,) = failed
    assert isinstance(error, ControllerBusy) and error.holder == "ctl:thief"
    assert store.controllers.holder(sweep_id) == "ctl:thief"


def test_a_release_that_fails_is_tried_once_and_the_lease_lapses(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep_id = store.sweeps.create(CONFIG)
    releases: list[tuple[Any, ...]] = []

    def failing_release(*args: Any) -> bool:
        releases.append(args)
        raise StoreError("cannot reach Redis at redis://somewhere: gone")

    monkeypatch.setattr(store.controllers, "release", failing_release)
    stop = threading.Event()
    step = Controller.step

    def once(self: Controller) -> bool:
        stop.set()
        return step(self)

    monkeypatch.setattr(Controller, "step", once)
    ctl = Controller(store, sweep_id, lease_ms=LEASE, poll_ms=10)
    info = ctl.run(stop)  # no error: the release's is suppressed
    assert info.state is SweepState.RUNNING
    assert len(releases) == 1 and ctl.epoch is None
    assert store.controllers.holder(sweep_id) == ctl.holder  # not released: it lapses
    wait_for(lambda: store.controllers.holder(sweep_id) is None, 10, "the lease to lapse")


def test_controller_all_says_a_failed_controller_once_and_keeps_the_others(
    store: Store, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad, good = store.sweeps.create(CONFIG), store.sweeps.create(CONFIG)
    step, scan = Controller.step, ManyControllers._scan
    scans: list[int] = []

    def broken_for_bad(self: Controller) -> bool:
        if self.sweep_id == bad:
            raise KeyError("bug")
        return step(self)

    def counted(self: ManyControllers, store: Store) -> None:
        scan(self, store)
        scans.append(1)

    monkeypatch.setattr(Controller, "step", broken_for_bad)
    monkeypatch.setattr(ManyControllers, "_scan", counted)
    out = io.StringIO()
    many = ManyControllers(redis_url, lease_ms=LEASE, out=out)
    stop = threading.Event()
    thread = threading.Thread(target=many.run, args=(stop,))
    thread.start()
    try:
        failed = f"sweep {bad}: the controller failed: KeyError: 'bug'"
        wait_for(lambda: failed in out.getvalue(), 15, "the failure said")
        wait_for(lambda: many.running() == [good], 10, "only the good sweep's controller")
        seen = len(scans)
        wait_for(lambda: len(scans) >= seen + 2, 10, "two more scans")
        said = out.getvalue()
        assert said.count("the controller failed") == 1, said  # not started again
        assert "Traceback" in said and "KeyError: 'bug'" in said
        assert many.running() == [good]
        assert store.controllers.holder(bad) is None
        assert (store.controllers.holder(good) or "").startswith("ctl:")
        assert f"controlling sweep {good}" in said
    finally:
        stop.set()
        thread.join(10)
    assert store.controllers.holder(good) is None  # released on the way out
