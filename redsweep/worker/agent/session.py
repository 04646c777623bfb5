"""An agent session: pop trials of one sweep, claim them, run them, until done.

The session ends by itself when ``count`` trials ran here (failures count, as in W&B) or the
sweep is over; it waits while the sweep is paused or pending (the store refuses to start a
trial of a paused sweep: an entry popped just then goes back to the head of the queue). When
the sweep is canceled, the running trial is killed within a heartbeat. When no controller
holds the sweep's lease, it runs one in a background thread until it exits; when that one
fails, the agent says so at once. An agent with nothing to run, or leaving a sweep that is
over, crashes the trials whose lease lapsed while no controller held the sweep
(:class:`~redsweep.worker.agent.reaper.Reaper`), so that none stays ``running`` for ever. A
sweep that vanishes while the session serves it (Redis restarted without persistence,
flushed) ends the session with :class:`~redsweep.errors.SweepLostError`, writing nothing
into the emptied server. A Redis outage of any length is waited out (back-off, one line
"Redis at URL unreachable for N s; retrying", then on as before): the loop's calls are
tried again; a trial that ended meanwhile has its finish held and delivered when Redis is
back; a trial still running when its lease can no longer be trusted is stopped in time
(:mod:`redsweep.worker.trial.fence`) and ends crashed, so its point runs again.

Signals (main thread only), as W&B's agent: the first SIGINT/SIGTERM lets the current trial
finish and then exits; the second terminates the trial (SIGTERM to a child's process group,
SIGKILL after the grace period; StopTrial raised into an in-process function); the third kills
it at once (SIGKILL; KeyboardInterrupt into a function). Every path kills the trial's process
group before the agent returns, so no child outlives it. A trial that outlives
``trial_timeout`` (else the config's ``redsweep.trial_timeout``) is stopped like the second
signal stops it and ends failed (:mod:`redsweep.worker.trial.deadline`); the session goes on.

:class:`AgentSession` composes the parts, each handed what it needs:

* :class:`~redsweep.worker.trial.runner.TrialRunner` runs one claimed trial and finishes it;
* :class:`~redsweep.worker.agent.hand.QueueHand` holds the queue entries: the next one, its
  claim, its ack, the one taken along with a trial's finish (:class:`~.hand.Budget` says
  whether to take one);
* :class:`~redsweep.worker.agent.watch.SweepWatch` says when to look at the sweep again and
  whether the session goes on, waits or ends (:class:`~.result.EndReason`);
* :class:`~redsweep.worker.agent.signals.Signals` counts SIGINT/SIGTERM and acts on the runner;
* :class:`~redsweep.worker.agent.output.AgentOutput` prints;
* :class:`~redsweep.worker.agent.heartbeat.Heartbeat` says the agent lives;
* :mod:`~redsweep.worker.agent.companion` starts the background controller and lets it
  finish a done sweep.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from redsweep.errors import NotFoundError, RedsweepError, SweepLostError, UnreachableError
from redsweep.shared.engine.config import parse_config
from redsweep.shared.points import RETRIES
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.server import embedded
from redsweep.shared.store import Lane, Store, SweepInfo, Taken, new_id
from redsweep.shared.store.outage import FIRST_BACKOFF_S, MAX_BACKOFF_S, Outage
from redsweep.worker.agent.companion import Companion, let_controller_finish, queue_first
from redsweep.worker.agent.guards import FailureGuard
from redsweep.worker.agent.hand import Budget, Claimed, QueueHand, Skip
from redsweep.worker.agent.heartbeat import Heartbeat
from redsweep.worker.agent.output import AgentOutput
from redsweep.worker.agent.reaper import Reaper
from redsweep.worker.agent.result import AgentResult, EndReason
from redsweep.worker.agent.signals import Signals
from redsweep.worker.agent.watch import Ending, Look, SweepWatch
from redsweep.worker.api.run import host
from redsweep.worker.trial.deadline import check_timeout
from redsweep.worker.trial.output import log_cap_from_env
from redsweep.worker.trial.runner import TrialOutcome, TrialRunner

#: How long the session's calls wait for an answer (longer than any blocking pop's wait).
SOCKET_TIMEOUT_S = 5.0


def new_agent_id() -> str:
    """``{hostname}-{pid}-{random}``."""
    return f"{host()}-{os.getpid()}-{new_id(4)}"


class AgentSession:
    """Serve sweep ``sweep_id`` on the Redis at ``url``: run ``function`` (or, without one, the
    sweep's command) for each trial, up to ``count`` trials; :meth:`run` until done. A command
    trial's log file keeps at most ``log_cap`` bytes (default ``REDSWEEP_LOG_CAP``, else
    64 MiB): the head and the tail."""

    # the parts of a session, made by run()
    _runner: TrialRunner
    _output: AgentOutput
    _signals: Signals
    _hand: QueueHand
    _watch: SweepWatch
    _heart: Heartbeat
    _reaper: Reaper
    _outage: Outage
    _store: Store
    _lane: Lane
    _companion: Companion

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
        history_cap: int | None = None,
        trial_timeout: float | None = None,
        out: TextIO | None = None,
        log_cap: int | None = None,
        forward_signals: bool = False,
        retries: int | None = None,
    ) -> None:
        if count is not None and count < 0:
            raise ValueError(f"count must not be negative, got {count}")
        if log_cap is not None and log_cap < 2:
            raise ValueError(f"log_cap must be at least 2 (bytes), got {log_cap}")
        if trial_timeout is not None:
            trial_timeout = check_timeout(trial_timeout)
        self.url = url
        self.sweep_id = sweep_id
        self.function = function
        self.count = count
        self.isolate = isolate
        self.lease_ms = int(lease_ms)
        self.grace_s = float(grace_s)
        self.log_cap = log_cap if log_cap is not None else log_cap_from_env()
        if history_cap is not None and history_cap < 2:
            raise ValueError(f"history_cap must be at least 2, got {history_cap}")
        self.history_cap = history_cap
        self.trial_timeout = trial_timeout
        if retries is not None and (isinstance(retries, bool) or retries < 0):
            raise ValueError(f"retries must be 0 or more, got {retries!r}")
        self.retries = retries  # for its background controller and its reaper
        self.agent_id = new_agent_id()
        base = embedded.home() / "agents" / self.agent_id  # the project's .redsweep/
        self.agent_dir = Path(agent_dir) if agent_dir is not None else base.absolute()
        self.out = out if out is not None else sys.stderr
        self.forward_signals = forward_signals
        self.guard = FailureGuard(os.environ)
        self.result = AgentResult(self.agent_id, sweep_id)
        self._config_raw: Any = None

    # ---- the session -------------------------------------------------------------------------

    def run(self) -> AgentResult:
        """Run trials until the count is reached or the sweep is over; returns what was done."""
        # no call blocks for long (a blocking pop waits at most IDLE_POP_S): in a partition
        # the session keeps failing and retrying, and says so, instead of hanging on a socket
        store = self._store = Store.from_url(self.url, socket_timeout=SOCKET_TIMEOUT_S, retries=2)
        output: AgentOutput | None = None

        def say(text: str) -> None:
            if output is not None:
                output.message(text)
            else:
                print(f"redsweep: {text}", file=self.out, flush=True)

        outage = self._outage = Outage(store.url, say)
        try:
            info = outage.wait_out(lambda: store.sweeps.get(self.sweep_id))
            config = parse_config(info.config)
            self._config_raw = info.config
            if self.function is None and config.program is None and not config.command:
                raise RedsweepError(
                    f"sweep {self.sweep_id} has neither a program nor a command to run; "
                    "give the agent a function"
                )
            output = self._output = AgentOutput(
                store,
                self.sweep_id,
                metric=config.metric,
                total=info.grid_size or info.run_cap,
                out=self.out,
                summary_in_store=self.function is None or self.isolate,  # a child reports
                warnings_in_store=self.function is None,
                log_dir=self.agent_dir if self.function is None else None,
            )
            if info.state.is_over:  # nothing to run: say so, and leave at once
                reason = info.done_reason
                done = f" ({reason})" if reason and reason != info.state.value else ""
                output.message(f"sweep {self.sweep_id} is {info.state.value}{done}: nothing to run")
                # no controller runs on it: crash its runs whose agent is gone, as the loop does
                Reaper(store, self.sweep_id, say=output.message).now(over=True)
                output.closing(self.result)
                self.result.reason = EndReason.over(info.state)
                self.result.done_reason = info.done_reason
                return self.result
            runner = self._runner = TrialRunner(
                store,
                self.url,
                self.sweep_id,
                config,
                agent_dir=self.agent_dir,
                function=self.function,
                isolate=self.isolate,
                lease_ms=self.lease_ms,
                grace_s=self.grace_s,
                log_cap=self.log_cap,
                history_cap=self.history_cap,
                trial_timeout=self.trial_timeout,
                outage=outage,
            )
            signals = self._signals = Signals(runner, output.message, forward=self.forward_signals)
            budget = Budget(self.count, stopped=lambda: signals.received > 0)
            lane = self._lane = store.lane()
            hand = self._hand = QueueHand(
                store,
                self.sweep_id,
                self.agent_id,
                lease_ms=self.lease_ms,
                budget=budget,
                lane=lane,
            )
            watch = self._watch = SweepWatch(
                store,
                self.sweep_id,
                on_read=self._follow_config,
                say=output.message,
                wake=signals.wake,
            )
            # the policy the sweep's controller follows (see Controller.retries)
            policy = next(p for p in (self.retries, config.retries, RETRIES) if p is not None)
            self._reaper = Reaper(
                store,
                self.sweep_id,
                say=output.message,
                retries=policy,
                lease_ms=self.lease_ms,
                outage=outage,
            )
            heart = self._heart = Heartbeat(
                store,
                self.sweep_id,
                self.agent_id,
                remaining=budget.remaining,
                on_canceled=runner.check_now,
                outage=outage,
            )
            companion = self._companion = Companion(
                self.url, self.sweep_id, self._controller_failed, self.lease_ms, self.retries
            )
            lost: SweepLostError | None = None
            try:
                with signals.installed():
                    outage.wait_out(heart.start, signals.wake)
                    if info.state is SweepState.PENDING:  # nobody started it: we do
                        started = outage.wait_out(lambda: queue_first(store, self.sweep_id, config))
                        if started is not None:
                            watch.saw(started)  # the first look needs no second read
                    else:
                        watch.saw(info)
                    ending = self._loop()
                    controller = companion.controller
                    self.result.reason, self.result.done_reason = ending.reason, ending.done_reason
                    if controller is not None and ending.reason is EndReason.SWEEP_DONE:
                        over = let_controller_finish(
                            store,
                            self.sweep_id,
                            controller,
                            signals.wake,
                            lambda: signals.received > 0,
                        )
                        if over is not None and over.done_reason:  # said as it ended (honest)
                            self.result.done_reason = over.done_reason
            except NotFoundError:
                lost = store.sweeps.lost(self.sweep_id)  # read once at the start: not a typo
                if lost is None:
                    raise
                raise lost from None
            finally:
                heart.stop()
                with contextlib.suppress(RedsweepError):
                    hand.close()
                    store.agents.remove(self.sweep_id, self.agent_id)
                with contextlib.suppress(RedsweepError):
                    lane.close()
                if companion.controller is not None:
                    companion.controller.stop()  # a failure was said when it happened (on_error)
                runner.close()
                output.closing(self.result, line=lost is None)
            return self.result
        finally:
            store.close()

    def _loop(self) -> Ending:
        """Take and run trials until the session ends; a call Redis did not answer is tried
        again after a back-off (:meth:`_step` picks up where it was: an entry taken is kept)."""
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                ending = self._step()
            except UnreachableError:
                self._outage.failed()
                self._signals.wake.wait(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                continue
            if ending is not None:
                return ending

    def _step(self) -> Ending | None:
        """Run until the session ends (the Ending) or Redis does not answer (raises)."""
        watch, hand, signals = self._watch, self._hand, self._signals
        outage = self._outage
        while True:
            if signals.received:
                return Ending(EndReason.INTERRUPTED)
            if self.count is not None and self.result.ran >= self.count:
                return Ending(EndReason.COUNT_REACHED)
            look = watch.check()
            if isinstance(look, Ending):
                if look.reason in (EndReason.SWEEP_FINISHED, EndReason.SWEEP_CANCELED):
                    self._reaper.now(over=True)  # no controller runs on it to crash them
                elif look.reason is EndReason.SWEEP_DONE:
                    self._companion.start()  # to mark it finished, if no other controller does
                return look
            if look is Look.WAITED:
                self._companion.start()  # a pending sweep waits for a controller
                continue
            # the first pop does not wait; the controller starts after it (see Companion)
            before, timeout = (0.0, 0.0) if self._companion.due else watch.pop_waits()
            if before and not hand.has_next:  # a trial in hand (taken with a finish) goes now
                signals.wake.wait(before)
            taken = hand.next(timeout)
            self._companion.start()
            outage.ok()
            looked = hand.looked
            watch.popped(taken is not None, looked.sweep if looked is not None else None)
            if taken is None:
                # the pop looked at the lease after its wait too: no read of its own
                self._reaper.idle(None if looked is None else looked.holder is not None)
                continue
            if signals.received:
                hand.keep(taken)  # given back at the end of the session
                return Ending(EndReason.INTERRUPTED)
            fresh = self._handle(taken)
            self._reaper.worked()
            why = self.guard.tripped()
            if why is not None:
                self._output.message(f"agent {self.agent_id}: {why}")
                return Ending(EndReason.FAILING, why)
            hand.settle()  # whether the finish took a next trial, if none is in hand yet
            if fresh is not None:
                watch.saw(fresh)
            elif not hand.has_next:  # the queue was empty: the sweep may be over, look at
                watch.look_now()  # it before waiting on the queue

    def _handle(self, taken: Taken) -> SweepInfo | None:
        """Handle one queue entry; after a trial, the sweep when it was read for its line."""
        try:
            claimed = self._hand.claim(taken)
        except UnreachableError:
            self._hand.keep(taken)  # claimed when Redis answers again
            raise
        if isinstance(claimed, Skip):
            if claimed is Skip.DEAD_LETTERED:
                self.result.dead_lettered += 1
            return None
        outcome = self._run(claimed)
        self.result.count(outcome)
        state = outcome.state
        # W&B's guards count the objective's failures: a crash is this infrastructure's (an
        # outage, a lost lease), and the point runs again
        self.guard.record(failed=state is RunState.FAILED, succeeded=state is RunState.FINISHED)
        return self._output.trial_ended(outcome)

    def _run(self, claimed: Claimed) -> TrialOutcome:
        """Run the claimed trial; its finish acks the entry and takes (and claims) the next,
        in one round trip."""
        self._heart.busy(True)
        moved: tuple[Any, ...] = ()  # what the calls after the finish answered
        deferred = None  # or their answer, still to read (a finish on the lane)
        try:
            outcome = self._runner.run(
                claimed.trial_id,
                claimed.token,
                claimed.params,
                after=self._hand.after(claimed),
                claimed_at=claimed.claimed_at,
                lane=self._hand.starting(),
            )
            moved, deferred = outcome.after, outcome.deferred
        finally:
            # before the heartbeat says how many remain
            self._hand.finished(claimed, moved, deferred)
            self._heart.busy(False)
        if outcome.interrupt is not None:  # the function raised KeyboardInterrupt: pass it on
            raise outcome.interrupt
        return outcome

    def _follow_config(self, info: SweepInfo) -> None:
        """Take in a config replaced by ``sweep --update`` (only before any trial started)."""
        if info.config == self._config_raw:
            return
        self._config_raw = info.config
        config = parse_config(info.config)
        self._runner.config = config
        self._output.follow(config.metric, info.grid_size or info.run_cap)

    def _controller_failed(self, error: BaseException) -> None:
        """The background controller failed with a bug (called from its thread)."""
        from redsweep.controller.lifecycle import describe

        self._output.message(f"the sweep's controller failed: {describe(error)}")
