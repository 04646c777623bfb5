"""The controller's rounds: reconcile, suggest, enqueue, consume events, stop, finish.

One controller runs per sweep, by a lease with a fencing epoch in Redis
(:mod:`~redsweep.controller.lease`). It derives all its state from Redis
(:class:`~redsweep.controller.view.SweepView`), so a restarted controller, or another host
taking over, continues where the last one stopped: no grid point skipped or repeated,
``run_cap`` never exceeded (the store enforces it in the same Lua call that adds a trial).
:mod:`~redsweep.controller.lifecycle` runs the rounds, the same for ``redsweep controller``
(:meth:`Controller.run`), an agent's background controller
(:mod:`~redsweep.controller.background`) and ``controller --all``
(:mod:`~redsweep.controller.many`); a dedicated controller takes precedence over an agent's.
"""

from __future__ import annotations

import hashlib
import threading
import time

from redsweep.controller.lease import LEASE_MS, ControllerBusy, Lease
from redsweep.controller.lifecycle import Lifecycle
from redsweep.controller.pace import Pace
from redsweep.controller.view import SweepView
from redsweep.progress import Progress
from redsweep.shared import points
from redsweep.shared.engine import search, stopping
from redsweep.shared.engine.config import parse_config
from redsweep.shared.engine.rng import new_rng
from redsweep.shared.records import Method, RunState, SweepState
from redsweep.shared.store import Store
from redsweep.shared.store.replies import AgentInfo, Event, SweepInfo

__all__ = ["AGENTS_EVERY_S", "LEASE_MS", "RETRIES", "Controller", "ControllerBusy"]

#: how often a crashed trial runs again, unless the sweep's ``redsweep: {retries: N}`` or the
#: process running the controller says otherwise (see Controller.retries)
RETRIES = points.RETRIES
POLL_MS = 200
AGENTS_EVERY_S = 0.5  # how stale the controller's list of live agents may be
EVENTS_CONSUMER = "controller"  # one name for every controller: a successor re-reads the backlog


class Controller:
    """The controller of one sweep: :meth:`acquire` the lease, then :meth:`step` a round at a
    time; ``run()`` does both until the sweep is over."""

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        *,
        background: bool = False,
        lease_ms: int = LEASE_MS,
        retries: int | None = None,
        poll_ms: int = POLL_MS,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.sweep_id = sweep_id
        self.background = background
        self.lease = Lease(store, sweep_id, background=background, lease_ms=lease_ms)
        self.lease_ms = lease_ms
        self._retries = retries
        self.poll_ms = poll_ms
        #: how long to pause before the next round (see Pace.linger)
        self.linger_s = 0.0
        self.progress = progress
        self.view: SweepView | None = None
        self._next_reap = 0.0
        self._agents: list[AgentInfo] = []
        self._agents_at = float("-inf")
        self._seed = int(hashlib.sha256(sweep_id.encode()).hexdigest()[:8], 16)
        self._config_raw: object = None
        self._pace = Pace(Method.RANDOM)  # set with the view, by its config's method
        self._handled: list[str] = []  # ids of the events of the last round, acked next round
        self._memo: object = None  # bayes: the last fit, a warm start for the next (per config)
        # the grace after an outage: reap nothing before this (monotonic), so that live agents
        # cut off with us get a full lease to renew or deliver (see note_outage)
        self._grace_until = 0.0
        self._grace_due = False  # an outage was seen: the grace starts once Redis answers
        self._server_run: str | None = None  # Redis's run_id when last looked (a restart)
        self._last_round = float("inf")  # when the last round ended (monotonic)

    @property
    def retries(self) -> int:
        """How often a crashed trial runs again: as this process was told (``retries=``,
        ``--retries``), else as the sweep's config says (``redsweep: {retries: N}``), else
        :data:`RETRIES`. A failed trial (the objective's own error) is not retried."""
        if self._retries is not None:
            return self._retries
        if self.view is not None and self.view.config.retries is not None:
            return self.view.config.retries
        return RETRIES

    def note_outage(self) -> None:
        """This controller was cut off from Redis (or Redis restarted, or this process stood
        still): the agents may have been cut off too, their leases lapsing through no fault
        of theirs. Reap nothing for one full lease once Redis answers again (from the first
        reap due then), so that every live agent can renew its trials (renew.lua takes a
        lapsed lease again) or deliver their finish."""
        self._grace_due = True

    @property
    def holder(self) -> str:
        """This controller's name in the lease (``ctl:…`` or ``bg:…``)."""
        return self.lease.holder

    @property
    def epoch(self) -> int | None:
        """The fencing epoch while this controller holds the lease."""
        return self.lease.epoch

    # ---- the lease -------------------------------------------------------------------------

    def acquire(self, wait_s: float = 0.0) -> bool:
        """Take the lease (waiting up to ``wait_s``, as :meth:`Lease.take`); load the sweep's
        state from Redis and start a pending sweep."""
        if not self.lease.take(wait_s):
            return False
        self._last_round = float("inf")  # a stall is measured within one tenure
        self._check_server()
        info = self.store.sweeps.get(self.sweep_id)
        self._load_view(info)
        if info.state is SweepState.PENDING:
            self.store.sweeps.set_state(
                self.sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING]
            )
        return True

    def _load_view(self, info: SweepInfo) -> None:
        """(Re)build the view of the sweep from Redis, with the config it has now."""
        self._config_raw = info.config
        self._memo = None
        self.view = SweepView(self.store, self.sweep_id, parse_config(info.config))
        self._pace = Pace(self.view.config.method)
        self.store.sweeps.set_tell_claims(self.sweep_id, self.view.follows_reports)
        self.view.load()

    def release(self) -> None:
        """Give the lease up, if held (once: see :meth:`Lease.release`)."""
        self.lease.release()

    # ---- the loop --------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> SweepInfo:
        """The foreground controller: take the lease (ControllerBusy if another controller keeps
        it for a whole lease period, also after being fenced) and run rounds until the sweep is
        finished or canceled, or ``stop`` is set. Returns the sweep as it ended."""
        try:
            # a holder that just died still holds the lease until it lapses: wait that long;
            # Redis being away is waited out, said in one line (and one when it is back)
            life = Lifecycle(
                self,
                stop=stop,
                wait_s=self.lease_ms / 1000 + 0.5,
                ride_out=True,
                on_outage=None if self.progress is None else self.progress.message,
            )
            info = life.run()
        finally:
            if self.progress is not None:
                self.progress.close()
        return info if info is not None else self.store.sweeps.get(self.sweep_id)

    def step(self) -> bool:
        """One round: renew, read events, reap, retry, stop, top up, finish. False when the
        sweep is over or this controller must yield (a handover was asked); FencedError when
        another controller took the lease."""
        assert self.view is not None
        if time.monotonic() - self._last_round > self.lease_ms / 1000:
            self.note_outage()  # this process stood still (stopped, starved) for a lease
        self.lease.renew()
        if self.background and self.lease.handover_asked():
            self.release()
            return False
        # events say what to re-read, or carry what the view needs: the last round's are acked
        # with this round's read, in the same round trip
        events, info, queued = self.store.events.round(
            self.sweep_id,
            EVENTS_CONSUMER,
            ack=self._handled,
            block_ms=self.poll_ms,
            count=500,
        )
        self._handled = [e.id for e in events]
        if info.state.is_over:
            return False
        if info.config != self._config_raw:  # `sweep --update` replaced it (nothing had run)
            self._load_view(info)
            self._say(f"sweep {self.sweep_id}: the config was updated")
        # claims and reports matter only to hyperband, bayes and a target; ends to all
        follow = self.view.follows_reports
        touched = {
            e.trial_id
            for e in events
            if e.trial_id and (follow or e.type in ("finish", "crash", "retry"))
        }
        if not follow:
            touched -= self._marked(events)  # only their state matters: the event has it
        self.view.refresh(touched)
        self._reap()
        if any(e.type == "report" for e in events):
            self._apply_stopping()
        if self.progress is not None:
            for event in events:
                if event.type in ("finish", "crash") and event.trial_id:
                    self._report_end(event, info)
        ends = [e for e in events if e.type in ("finish", "crash")]
        self._pace.ended(len(ends), took_ms=[e.fields.get("took_ms") for e in ends])
        self._retry(info)
        # every crash the view knows has now been retried or is out of retries; agents of a
        # done sweep stay while the store counts more crashes than that (a retry may come)
        if self.view.crashed() > info.crashes_handled:
            self.store.sweeps.set_crashes_handled(self.sweep_id, self.view.crashed())
        reason = self._note_done_reason(info.done_reason)
        self._last_round = time.monotonic()
        self.linger_s = 0.0
        if reason is None and info.state is SweepState.RUNNING:
            added = self._top_up(info, queued)
            self.linger_s = self._pace.linger(bool(events), queued)
            if added:
                # they may be the last ones: said now, not a round later, an agent whose
                # queue runs dry looks for the sweep's end at once (watch.pop_waits)
                self._note_done_reason(None)
        elif reason is not None and self.view.alive() == 0 and info.state is SweepState.RUNNING:
            # said honestly: a point whose every attempt crashed is no result
            reason = points.honest_reason(reason, points.points(self.view.trials.values()))
            if not self.store.sweeps.finish(self.sweep_id, reason):
                return True  # a retry was added meanwhile (its event comes next round)
            if self.progress is not None:
                self.progress.message(f"sweep {self.sweep_id} finished ({reason})")
            return False
        return True

    # ---- the parts of a round --------------------------------------------------------------

    def _note_done_reason(self, stored: str | None) -> str | None:
        """Why no more trials will be issued, as the view has it now, stored on the sweep
        unless ``stored`` already says so; None while trials go on being issued."""
        reason = self.view.done_reason()
        if reason is not None and stored != reason:
            self.store.sweeps.set_done_reason(self.sweep_id, reason)
        return reason

    def _reap(self) -> None:
        """Crash trials whose lease lapsed; put orphaned queue entries back. Not in the grace
        after an outage (:meth:`note_outage`)."""
        if time.monotonic() < self._next_reap:
            return
        self._next_reap = time.monotonic() + min(1.0, self.lease_ms / 4000)
        self._check_server()
        if self._grace_due:
            self._grace_due = False
            self._grace_until = time.monotonic() + self.lease_ms / 1000
        if time.monotonic() < self._grace_until:
            return
        lapsed = self.store.trials.lapsed(self.sweep_id)
        for trial_id in lapsed:
            self.store.trials.reap(self.sweep_id, trial_id)
        self.view.refresh(lapsed)
        self.store.queue.requeue_orphans(self.sweep_id)

    def _check_server(self) -> None:
        """A Redis that restarted (its run_id changed, or it is younger than a lease at the
        first look) cut every agent off: grace."""
        run, uptime = self.store.controllers.server()
        first = self._server_run is None and uptime < self.lease_ms / 1000
        if run is not None and run != self._server_run and (self._server_run or first):
            self.note_outage()
        self._server_run = run or self._server_run

    def _retry(self, info: SweepInfo) -> None:
        if info.state is SweepState.CANCELED:
            return
        for trial in self.view.to_retry(self.retries):
            trial_id = self.store.trials.retry(
                self.sweep_id, trial.id, trial.params, trial.attempt, epoch=self.lease.current()
            )
            if trial_id is None:  # retried already (`redsweep retry`, an agent): its event comes
                self.view.note_retried(trial.id)
                continue
            self.view.refresh([trial_id])
            self._say(
                f"run {trial.id} crashed (attempt {trial.attempt} of {self.retries + 1}); "
                f"running it again as {trial_id}"
            )

    def _apply_stopping(self) -> None:
        """Ask running trials hyperband would stop to stop (stored on the trial)."""
        if self.view.config.early_terminate is None:
            return
        for decision in stopping.stop_decisions(self.view.config, self.view.all_runs()):
            trial = self.view.trials.get(decision.run_id)
            if trial is None or trial.stop_requested:
                continue
            reason = {
                "rule": "hyperband",
                "band": decision.band,
                "threshold": decision.threshold,
                "value": decision.value,
            }
            if self.store.trials.request_stop(self.sweep_id, decision.run_id, reason):
                self.view.refresh([decision.run_id])

    def _top_up(self, info: SweepInfo, queued: int) -> int:
        """Keep the queue at the number of idle agents, plus a prefetch for grid/random; how
        many trials it added."""
        agents = self._live_agents()
        idle = sum(1 for a in agents if not a.busy)
        prefetch = self._pace.prefetch(len(agents))
        if queued > idle + prefetch // 2:
            return 0  # enough queued: top up in batches, not a trial or two every round
        want = idle + prefetch - queued
        demand = self._demand(agents)
        if demand is not None:  # every agent has a --count: queue no more than they will take
            want = min(want, demand - queued)
        if self.view.config.run_cap is not None:
            want = min(want, self.view.config.run_cap - info.issued)
        if want <= 0:
            return 0
        config = self.view.config
        rng = new_rng(config, [self._seed, info.seq])  # numpy only for bayes
        runs = self.view.all_runs() if search.needs_runs(config) else ()
        if config.method is Method.BAYES and self._memo is None:
            from redsweep.shared.engine.bayes import FitMemo  # scipy: bayes sweeps only

            self._memo = FitMemo()
        suggested = search.suggest(config, runs, want, rng, self._memo)
        # the store checks run_cap atomically: fewer are added once it is reached
        added = self.store.trials.add(
            self.sweep_id, suggested, epoch=self.lease.current(), run_cap=self.view.config.run_cap
        )
        for trial_id, params in zip(added, suggested, strict=False):
            self.view.add_pending(trial_id, params)
        return len(added)

    def _demand(self, agents: list[AgentInfo]) -> int | None:
        """How many more trials the live agents will start, when every one has a count (as W&B,
        an agent with ``count=10`` runs ten trials: none should be left queued for nobody);
        None while any agent has no limit, or none is known yet."""
        if not agents or any(a.remaining is None for a in agents):
            return None
        fresh = self.store.agents.remaining(self.sweep_id, [a.id for a in agents])
        return sum(n or 0 for n in fresh.values())

    def _marked(self, events: list[Event]) -> set[str]:
        """Trials whose end the view took from the events themselves (no re-read)."""
        marked = set()
        for event in events:
            if not event.trial_id:
                continue
            if self.progress is not None and "took_ms" not in event.fields:
                continue  # its line needs the trial's times and value: read it back
            if event.type == "crash":
                state = RunState.CRASHED
            elif event.type == "finish" and event.fields.get("state"):
                state = RunState(event.fields["state"])
            else:
                continue
            if self.view.mark(event.trial_id, state):
                marked.add(event.trial_id)
        return marked

    def _live_agents(self) -> list[AgentInfo]:
        now = time.monotonic()  # read at most every AGENTS_EVERY_S
        if now >= self._agents_at + AGENTS_EVERY_S:
            self._agents = self.store.agents.live(self.sweep_id)
            self._agents_at = now
        return self._agents

    def _report_end(self, event: Event, info: SweepInfo) -> None:
        """Say a trial ended: from its finish event (finish.lua's took_ms, best), else as read."""
        assert self.progress is not None and event.trial_id is not None
        trial_id, took, best = event.trial_id, event.fields.get("took_ms"), event.fields.get("best")
        trial = self.view.trials.get(trial_id)
        if trial is None or not trial.state.is_terminal:
            return
        seconds, value, note = None, None, ""
        if took:
            seconds = int(took) / 1000
            value = float(best) if best and self.view.config.metric is not None else None
        else:
            value = self.view.value(trial_id)
            if trial.finished_ms and trial.claimed_ms:
                seconds = (trial.finished_ms - trial.claimed_ms) / 1000
        if trial.state is RunState.STOPPED and trial.stop_reason:
            note = "stopped early at band {band}".format(**trial.stop_reason)
        # the sweep's counters and best value as this round read them: no pass over the trials
        self.progress.trial_ended(
            trial_id,
            trial.state.value,
            value=value,
            seconds=seconds,
            counts=info.counts,
            best=info.best_value,
            note=note,
        )

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.message(text)
