"""An agent session: pop trials of one sweep, claim them, run them, until done.

Each trial id travels on the sweep's queue as a msgpack :class:`TrialMessage`; the agent moves
it into its own in-flight list (BLMOVE), claims the trial (compare-and-set on the attempt),
runs it (:mod:`redsweep.worker.trial.runner`) and acks the entry. Anything on the queue that is not a
trial message of this sweep goes to the dead letters, with a line on stderr.

The session ends by itself when ``count`` trials ran here (failures count, as in W&B) or the
sweep is over; it waits while the sweep is paused or pending (the store refuses to start a
trial of a paused sweep: an entry popped just then goes back to the head of the queue). When
the sweep is canceled, the running trial is killed within a heartbeat. When no controller
holds the sweep's lease, it runs one in a background thread until it exits.

Signals (main thread only), as W&B's agent: the first SIGINT/SIGTERM lets the current trial
finish and then exits; the second terminates the trial (SIGTERM to a child's process group,
SIGKILL after the grace period; StopTrial raised into an in-process function); the third kills
it at once (SIGKILL; KeyboardInterrupt into a function). Every path kills the trial's process
group before the agent returns, so no child outlives it.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from redsweep.connect import resolve_url
from redsweep.errors import (
    NotFoundError,
    ProtocolError,
    RedsweepError,
    SweepStateError,
)
from redsweep.progress import Progress
from redsweep.shared.engine.config import parse_config
from redsweep.shared.protocol import decode
from redsweep.shared.records import RunState, SweepState, TrialMessage
from redsweep.shared.store import Handoff, Store, SweepInfo, Taken, new_id
from redsweep.worker.agent.output import ProgressMixin
from redsweep.worker.agent.result import AgentResult
from redsweep.worker.api.run import host
from redsweep.worker.agent.signals import SignalsMixin
from redsweep.worker.trial.runner import TrialRunner

#: How often the agent says it is alive, and for how long each heartbeat counts.
HEARTBEAT_S = 1.0
HEARTBEAT_TTL_MS = 5_000
MIN_BEAT_GAP_S = 0.2
#: How long one pop waits for a trial, and how stale the agent's view of the sweep may get.
POP_TIMEOUT_S = 1.0
ENDING_POP_S = 0.05  # the first wait on the queue of an ending sweep (doubling to POP_TIMEOUT_S)
CHECK_EVERY_S = 1.0
#: How long an agent that ends with its sweep waits for the controller to mark it finished.
FINISH_WAIT_S = 3.0
#: Waiting on a pending or paused sweep is said after this long.
WAIT_NOTICE_S = 3.0


def new_agent_id() -> str:
    """``{hostname}-{pid}-{random}``."""
    return f"{host()}-{os.getpid()}-{new_id(4)}"


def _start_controller(url: str, sweep_id: str) -> Any:
    """Start a controller in a background thread when none holds the sweep's lease."""
    try:
        from redsweep.controller.background import start_background
    except ImportError as exc:  # not there: a separate controller process must run
        if exc.name not in ("redsweep.controller.background", None):
            raise
        return None
    return start_background(url, sweep_id)


class AgentSession(SignalsMixin, ProgressMixin):
    """Serve sweep ``sweep_id`` on the Redis at ``url``: run ``function`` (or, without one, the
    sweep's command) for each trial, up to ``count`` trials; :meth:`run` until done."""

    def __init__(
        self,
        url: str,
        sweep_id: str,
        *,
        function: Callable[[], Any] | None = None,
        count: int | None = None,
        isolate: bool = False,
        agent_dir: str | os.PathLike[str] | None = None,
        lease_ms: int = 10_000,
        grace_s: float = 10.0,
        out: TextIO | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        self.url = url
        self.sweep_id = sweep_id
        self.function = function
        self.count = count
        self.isolate = isolate
        self.lease_ms = int(lease_ms)
        self.grace_s = float(grace_s)
        self.agent_id = new_agent_id()
        base = Path(".redsweep") / "agents" / self.agent_id
        self.agent_dir = Path(agent_dir) if agent_dir is not None else base.absolute()
        self.out = out if out is not None else sys.stderr
        self.result = AgentResult(self.agent_id, sweep_id)
        self._busy = False
        self._signals = 0
        self._stop = threading.Event()  # ends the heartbeat thread
        self._interrupted = threading.Event()  # wakes the loop on a signal
        self._beat_now = threading.Event()
        self._runner: TrialRunner | None = None
        self._unacked: bytes | None = None  # the entry of the trial just run, if not acked
        self._next: Taken | None = None  # the entry taken along with the last trial's finish
        self._handoff: Handoff | None = None  # what the running trial's finish will do
        self._started = 0  # trials claimed by this session
        self._shown: SweepInfo | None = None  # the sweep as last shown in a progress line
        self._shown_at = float("-inf")
        self._ended_since: list[tuple[str, float | None]] = []  # trials ended since _shown
        self._config_raw: Any = None

    # ---- the session -------------------------------------------------------------------------

    def run(self) -> AgentResult:
        """Run trials until the count is reached or the sweep is over; returns what was done."""
        store = Store.from_url(self.url)
        try:
            info = store.get_sweep(self.sweep_id)
            config = parse_config(info.config)
            self._config_raw = info.config
            if self.function is None and config.program is None and not config.command:
                raise RedsweepError(
                    f"sweep {self.sweep_id} has neither a program nor a command to run; "
                    "give the agent a function"
                )
            self._metric = config.metric
            self._progress = Progress(
                self.sweep_id,
                total=info.grid_size or info.run_cap,
                metric=config.metric,
                out=self.out,
            )
            self._runner = TrialRunner(
                store,
                self.url,
                self.sweep_id,
                config,
                agent_dir=self.agent_dir,
                function=self.function,
                isolate=self.isolate,
                lease_ms=self.lease_ms,
                grace_s=self.grace_s,
            )
            self._beat(store)
            heart = threading.Thread(
                target=self._heartbeat_loop, args=(store,), name="redsweep-heartbeat", daemon=True
            )
            heart.start()
            controller = None
            previous = self._install_signals()
            try:
                controller = _start_controller(self.url, self.sweep_id)
                self.result.reason = self._loop(store)
                if controller is not None and self.result.reason.startswith("sweep done"):
                    self._let_controller_finish(store)
            finally:
                self._restore_signals(previous)
                self._stop.set()
                self._beat_now.set()
                heart.join(2.0)
                with contextlib.suppress(RedsweepError):
                    if self._unacked is not None:
                        store.ack(self.sweep_id, self.agent_id, self._unacked)
                    if self._next is not None:  # taken, maybe claimed, but not to be run
                        store.release_trial(self.sweep_id, self.agent_id, self._next)
                    store.remove_agent(self.sweep_id, self.agent_id)
                if controller is not None:
                    controller.stop()
                    if getattr(controller, "error", None) is not None:
                        self._progress.message(f"the sweep's controller failed: {controller.error}")
                self._runner.close()
                self._say_best(store)
                self._progress.close()
            return self.result
        finally:
            store.close()

    def _loop(self, store: Store) -> str:
        checked_at = float("-inf")
        info: SweepInfo | None = None  # a fresh look at the sweep, when there is one
        waiting_since: float | None = None
        ending = False  # the sweep has a done_reason: no more trials but retries
        idle = 0  # empty pops in a row
        while True:
            if self._signals:
                return "interrupted"
            if self.count is not None and self.result.ran >= self.count:
                return f"ran {self.result.ran} trial{'s' if self.result.ran != 1 else ''}"
            if info is None and time.monotonic() - checked_at >= CHECK_EVERY_S:
                info = store.get_sweep(self.sweep_id)
            if info is not None:
                checked_at = time.monotonic()
                ending = bool(info.done_reason)
                self._follow_config(info)
                over = self._over(store, info)
                if over:
                    return over
                if info.state in (SweepState.PAUSED, SweepState.PENDING):
                    # pending: a controller is about to start it; paused: until resumed
                    waiting_since = waiting_since or checked_at
                    waited = checked_at - waiting_since
                    if waited >= WAIT_NOTICE_S > waited - CHECK_EVERY_S:
                        self._progress.message(
                            f"sweep {self.sweep_id} is {info.state.value}; waiting"
                        )
                    self._interrupted.wait(min(CHECK_EVERY_S, 0.1 + waited / 4))
                    info, checked_at = None, float("-inf")
                    continue
                info, waiting_since = None, None
            taken, self._next = self._next, None
            if taken is None:
                # near the end only retries may still come: wait briefly first, so that the
                # agent leaves soon after the sweep's last trial ends
                wait = min(POP_TIMEOUT_S, ENDING_POP_S * 2**idle) if ending else POP_TIMEOUT_S
                raw = store.pop_trial(self.sweep_id, self.agent_id, wait, ack=self._unacked)
                self._unacked = None
                taken = Taken(raw) if raw is not None else None
            if taken is None:
                idle += 1
                checked_at = float("-inf")  # idle: look at the sweep again before waiting
                continue
            idle = 0
            if self._signals:  # given back at the end of the session
                self._next = taken
                return "interrupted"
            info = self._handle(store, taken)
            if info is None and self._next is None:  # the queue was empty: the sweep may be
                checked_at = float("-inf")  # over, look at it before waiting on the queue

    def _follow_config(self, info: SweepInfo) -> None:
        """Take in a config replaced by ``sweep --update`` (only before any trial started)."""
        runner = self._runner
        if runner is None or info.config == self._config_raw:
            return
        self._config_raw = info.config
        config = parse_config(info.config)
        runner.config = config
        self._metric = config.metric
        self._progress.metric = config.metric
        self._progress.total = info.grid_size or info.run_cap

    def _let_controller_finish(self, store: Store) -> None:
        """The sweep is done and nothing of it runs: give the controller this agent may be
        running a moment to mark it finished before it is stopped."""
        deadline = time.monotonic() + FINISH_WAIT_S
        while time.monotonic() < deadline and not self._signals:
            info = store.get_sweep(self.sweep_id)
            if info.state in (SweepState.FINISHED, SweepState.CANCELED):
                return
            if info.count(RunState.RUNNING, RunState.PENDING):
                return  # other agents still run trials; their controllers finish it
            self._interrupted.wait(0.05)

    def _over(self, store: Store, info: SweepInfo) -> str:
        """Why the sweep is over for this agent ('' while it is not)."""
        if info.state in (SweepState.FINISHED, SweepState.CANCELED):
            why = f": {info.done_reason}" if info.done_reason else ""
            return f"sweep {info.state.value}{why}"
        # no more trials will be issued; but while a trial runs elsewhere it may still crash
        # and be issued again, so stay until nothing is pending or running, and until the
        # controller has handled every crash (a crashed trial's retry is added just after it)
        done = (
            info.done_reason
            and not info.count(RunState.PENDING, RunState.RUNNING)
            and info.count(RunState.CRASHED) <= info.crashes_handled
        )
        if done and store.queue_length(self.sweep_id) == 0:
            return f"sweep done: {info.done_reason}"
        return ""

    def _handle(self, store: Store, taken: Taken) -> SweepInfo | None:
        """Handle one queue entry; after a trial, the sweep as it is now."""
        raw = taken.entry
        if taken.trial_id is not None and taken.token is not None:
            claimed = taken.trial_id, taken.token, taken.params  # claimed as it was taken
        else:
            try:
                message = decode(raw, TrialMessage)
                if message.sweep_id != self.sweep_id:
                    raise ProtocolError(
                        f"a trial of sweep {message.sweep_id} on the queue of sweep "
                        f"{self.sweep_id}",
                        raw,
                    )
                trial_id = message.trial_id
                got = store.claim_with_params(
                    self.sweep_id,
                    trial_id,
                    message.attempt,
                    self.agent_id,
                    self.lease_ms,
                    remaining=self._remaining(),
                )
            except SweepStateError:  # paused, finished or canceled since we looked: not now
                store.return_trial(self.sweep_id, self.agent_id, raw)
                return store.get_sweep(self.sweep_id)
            except (ProtocolError, NotFoundError) as exc:
                self._dead_letter(store, raw, str(exc))
                return None
            if got is None:  # taken, retried or ended meanwhile: nothing to do
                store.ack(self.sweep_id, self.agent_id, raw)
                return None
            claimed = trial_id, *got
            self._started += 1
        self._set_busy(True)
        # the finish acks this entry and takes (and claims) the next, in one round trip
        handoff = self._handoff = Handoff(
            self.sweep_id,
            self.agent_id,
            raw,
            lease_ms=self.lease_ms,
            take=self._wants_more(),
            remaining=self._remaining(),
        )
        try:
            assert self._runner is not None
            outcome = self._runner.run(*claimed, handoff=handoff)
        finally:
            self._handoff = None
            if handoff.taken is not None and handoff.taken.token is not None:
                self._started += 1  # before the heartbeat below says how many remain
            self._set_busy(False)
            if not handoff.done:  # acked with the next pop instead
                self._unacked = raw
        self._next = handoff.taken
        self.result.count(outcome)
        return self._show(store, outcome)

    def _remaining(self) -> int | None:
        """How many more trials this session will start (None: no count)."""
        return None if self.count is None else max(0, self.count - self._started)

    def _wants_more(self) -> bool:
        """Whether another trial may follow the one starting now (count, signals)."""
        remaining = self._remaining()
        return (remaining is None or remaining > 0) and not self._signals

    def _dead_letter(self, store: Store, raw: bytes, reason: str) -> None:
        store.dead_letter(self.sweep_id, self.agent_id, raw, reason)
        self.result.dead_lettered += 1
        shown = raw[:40]
        more = "..." if len(raw) > 40 else ""
        print(
            f"redsweep: dead-lettered a queue entry of sweep {self.sweep_id} "
            f"({len(raw)} bytes: {shown!r}{more}): {reason}",
            file=sys.stderr,
        )

    # ---- liveness ----------------------------------------------------------------------------

    def _beat(self, store: Store) -> None:
        store.heartbeat_agent(
            self.sweep_id,
            self.agent_id,
            HEARTBEAT_TTL_MS,
            busy=self._busy,
            host=host(),
            remaining=self._remaining(),
        )

    def _heartbeat_loop(self, store: Store) -> None:
        while not self._stop.is_set():
            self._beat_now.wait(HEARTBEAT_S)
            self._beat_now.clear()
            if self._stop.is_set():
                return
            try:
                self._beat(store)
                if self._busy and store.sweep_state(self.sweep_id) is SweepState.CANCELED:
                    runner = self._runner
                    if runner is not None:
                        runner.check_now()  # the cancel killed its trial: stop it now
            except RedsweepError as exc:
                print(f"redsweep: agent heartbeat failed: {exc}", file=sys.stderr)
            self._stop.wait(MIN_BEAT_GAP_S)  # busy flips of short trials: a few beats a second

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        self._beat_now.set()


def run_agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    *,
    redis: str | None = None,
    isolate: bool = False,
    **options: Any,
) -> AgentResult:
    """W&B's ``wandb.agent(sweep_id, function=None, entity=None, project=None, count=None)``:
    run an agent session on ``redis`` (else ``REDSWEEP_REDIS_URL``, else the embedded local
    server). ``sweep_id`` may be W&B's ``entity/project/id`` path; only the id is used.
    ``options`` go to :class:`AgentSession` (agent_dir, lease_ms, grace_s, out)."""
    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]
    session = AgentSession(
        resolve_url(redis), sweep_id, function=function, count=count, isolate=isolate, **options
    )
    return session.run()
