"""Run one claimed trial: the function or the command, its lease, stops, and its end state.

While the objective runs, a thread renews the trial's lease every third of it. When a renewal
(or a report) says the trial must stop, or that this worker lost it, the objective is stopped:
a function's next ``log()`` raises :class:`~redsweep.worker.api.ending.StopTrial`; a child
process (command, or forked function) gets SIGTERM on its process group, SIGKILL after a grace
period. When the lease cannot be renewed (Redis away) the trial is stopped on time, before
the lease can lapse (:mod:`redsweep.worker.trial.fence`), and ends crashed (unless it had
ended: :func:`~.fence.ended_before_fence`). No child process outlives its trial.

A trial that ended while Redis was away keeps its end: the finish (with its unsent rows) is
held and delivered when Redis answers again, token-checked, so it lands if the trial still
runs in the store and is refused if it was crashed meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from redsweep.errors import RedsweepError, StoreError
from redsweep.shared.engine.command import command_argv
from redsweep.shared.records import RunState, SweepConfig
from redsweep.shared.store import Lane, Store
from redsweep.shared.store.calls import Call
from redsweep.shared.store.connection import lease_options
from redsweep.shared.store.outage import Outage
from redsweep.worker.api import functions as run_api
from redsweep.worker.api.away import Unsent, read_unsent
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.reporter import Reporter
from redsweep.worker.trial.children import kill_group, supervise, tail_of
from redsweep.worker.trial.deadline import TrialDeadline
from redsweep.worker.trial.fence import Fence, ended_before_fence
from redsweep.worker.trial.finish import DeferredEnd, finish_trial
from redsweep.worker.trial.forked import STOPPED_CODE, fork_trial, format_error
from redsweep.worker.trial.outcome import TrialOutcome
from redsweep.worker.trial.output import log_cap_from_env

if TYPE_CHECKING:
    from redsweep.worker.trial.command import CommandStarter

__all__ = ["TrialOutcome", "TrialRunner"]


class TrialRunner:
    """Runs trials of one sweep for one agent: ``function`` (in this process, or in a forked
    child with ``isolate``) or, without a function, the sweep's command (its log file capped
    at ``log_cap`` bytes, by default ``REDSWEEP_LOG_CAP`` or 64 MiB). ``outage`` is told of
    each call Redis did not answer (and says a long outage once)."""

    def __init__(
        self,
        store: Store,
        url: str,
        sweep_id: str,
        config: SweepConfig,
        *,
        agent_dir: str | os.PathLike[str],
        function: Callable[[], Any] | None = None,
        isolate: bool = False,
        lease_ms: int = 10_000,
        grace_s: float = 10.0,
        log_cap: int | None = None,
        history_cap: int | None = None,
        trial_timeout: float | None = None,
        outage: Outage | None = None,
    ) -> None:
        self.store = store
        self.url = url
        self.sweep_id = sweep_id
        self.config = config
        self.agent_dir = Path(agent_dir)
        self.function = function
        self.isolate = isolate
        self.lease_ms = lease_ms
        self.grace_s = grace_s
        self.log_cap = log_cap if log_cap is not None else log_cap_from_env()
        self.history_cap = history_cap  # rows of history the store keeps per trial
        self._deadline = TrialDeadline(trial_timeout, grace_s)  # else the config's, if any
        self.outage = outage or Outage(store.url, _say)
        # renewals and reports go on a connection of their own whose calls cannot block for
        # long (lease_options); the fence stops a trial whose lease was not renewed in time
        self._lease_store = Store.from_url(url, **lease_options(lease_ms))
        self._fence = Fence(lease_ms, grace_s, on_fence=self._fenced)
        self._keeper = Reporter(renew=True, outage=self.outage)  # for trial after trial
        self._wake = threading.Event()
        self._interrupts = 0
        self._in_function = False
        self._running = False
        self._link: TrialLink | None = None
        self._unsent = Unsent()  # what a command (or forked child) handed back
        self._exit_code: int | None = None  # the command's (negative: killed by a signal)
        self._commands: CommandStarter | None = None  # made with the first command

    def close(self) -> None:
        """End the runner's background threads and its launcher."""
        if self._commands is not None:
            self._commands.close()
        self._keeper.close(1.0)
        self._fence.close()
        self._lease_store.close()

    @property
    def running(self) -> bool:
        return self._running

    def interrupt(self, hard: bool) -> None:
        """The user wants the current trial stopped (``hard``: killed now). Called from a
        signal handler in the main thread: an in-process function is interrupted by raising
        into it."""
        self._interrupts = 2 if hard else max(self._interrupts, 1)
        self._wake.set()
        if self._in_function and self.function is not None and not self.isolate:
            if hard:
                raise KeyboardInterrupt
            raise run_api.StopTrial("interrupted by the user")

    def _fenced(self) -> None:
        """The running trial was fenced: an in-process function is interrupted (a child
        process is signalled by the runner's watch of it)."""
        if self._in_function and self.function is not None and not self.isolate:
            self._deadline.interrupt()

    def check_now(self) -> None:
        """Ask the store at once whether the running trial may go on (a canceled sweep killed
        it): renews its lease and takes in the answer. Safe from another thread."""
        link = self._link
        if link is not None and not link.lost:
            with contextlib.suppress(StoreError):
                link.renew()

    def run(
        self,
        trial_id: str,
        token: str,
        params: Mapping[str, Any] | None = None,
        *,
        after: Callable[[], Sequence[Call]] | None = None,
        claimed_at: float | None = None,
        lane: Lane | None = None,
    ) -> TrialOutcome:
        """Run the claimed trial ``trial_id`` held with ``token`` and finish it in the store
        (``params`` as the claim returned them; read from the store when not given).

        The rows still unsent ride along with the finish, and so do the calls ``after``
        returns (the agent's: ack this trial's queue entry, or take and claim the next): it is
        called once, as the finish is sent, and what its calls answered is the outcome's
        ``after``. One round trip ends a trial and fetches the next. ``claimed_at``: when
        (``time.monotonic()``) the claim was sent, the start of the lease the fence counts
        from (default: now, which is later than the claim: only safe for tests). With a
        ``lane`` the finish is only sent (the outcome's ``deferred`` reads its answer), unless
        the trial's lease was lost."""
        start = time.monotonic()
        self._interrupts = 0
        self._wake.clear()
        metric = self.config.metric
        if params is None:
            params = self.store.reads.trial(self.sweep_id, trial_id).params
        params = dict(params)
        link = TrialLink(
            self._lease_store,
            self.sweep_id,
            trial_id,
            token,
            params=params,
            metric_name=metric.name if metric else None,
            goal=metric.goal.value if metric else None,
            lease_ms=self.lease_ms,
            project=self.config.project,
            history_cap=self.history_cap,
            echo=self.function is None or self.isolate,  # else the agent shows its warning
            renewed_at=claimed_at,
        )
        link.listen(self._wake)
        if time.monotonic() - link.renewed_at > self._fence.after / 2:
            # the claim went out long ago (a call slowed down by an outage): the lease may be
            # nearly spent, so renew it now rather than have the fence stop the trial at once
            with contextlib.suppress(StoreError):
                link.renew()
        self._keeper.attach(link)
        self._link = link
        self._running = True
        self._fence.watch(link)
        self._deadline.start(link, self.config.trial_timeout)
        self._unsent = Unsent()
        self._exit_code = None
        summary: dict[str, Any] = {}
        log_tail = None
        reraise: BaseException | None = None
        try:
            if self.function is None:
                state, error, log_tail = self._run_command(link)
            elif self.isolate:
                state, error = self._run_forked(link)
            else:
                state, error, summary, reraise = self._run_function(link)
        finally:
            self._fence.release()  # nothing of the trial runs any more
            self._running = False
            self._link = None
            rows = self._keeper.take(run_api.FLUSH_TIMEOUT_S)  # unsent: sent with the finish
            rows += self._unsent.rows  # what a command could not send itself
            summary = {**summary, **self._unsent.summary}
        state, error = self._deadline.end(state, error)  # failed, if it timed out
        ended = link.ended_as  # killed from outside (a canceled sweep): the store says so
        done = ended_before_fence(link.why(), self._unsent.done, self._exit_code)  # a command
        if done is not None:  # fenced while it ended: its work is done, record it once
            state, error = done
        elif link.lost:
            state = ended or RunState.CRASHED
            error = f"{link.why()}; the objective was stopped"
            rows = []  # not ours to report any more
        recorded, moved = finish_trial(
            self.store,
            link,
            state,
            summary=summary,
            error=error,
            log_tail=log_tail,
            rows=rows,
            after=after,
            sendable=self._keeper.sendable,
            outage=self.outage,
            retry_s=self.lease_ms / 10_000,  # often: the grace once Redis is back is a lease
            lane=None if link.lost or done is not None else lane,
        )
        deferred = moved if isinstance(moved, DeferredEnd) else None
        recorded = recorded or ended is not None
        outcome = TrialOutcome(
            trial_id=trial_id,
            state=state if recorded or not link.lost else None,
            seconds=time.monotonic() - start,
            params=params,
            summary=summary,
            error=error,
            log_tail=log_tail,
            recorded=recorded,
            after=() if deferred is not None else moved,
            deferred=deferred,
            interrupt=reraise,
            warning=link.warning,
        )
        return outcome

    def _stopped_state(self) -> RunState:
        return RunState.KILLED if self._interrupts else RunState.STOPPED

    # ---- a function, in this process ---------------------------------------------------------

    def _run_function(
        self, link: TrialLink
    ) -> tuple[RunState, str | None, dict[str, Any], BaseException | None]:
        assert self.function is not None
        run = run_api.bind_trial(link, self._keeper)
        error = None
        reraise = None
        try:
            self._in_function = True
            try:
                with self._deadline.alarm():
                    self.function()
            finally:
                self._in_function = False
            state = RunState.FINISHED
        except run_api.StopTrial:
            state = self._stopped_state()
        except KeyboardInterrupt as exc:
            state, reraise = RunState.KILLED, exc
        except SystemExit as exc:
            state = RunState.FINISHED if exc.code in (None, 0) else RunState.FAILED
            error = None if state is RunState.FINISHED else f"SystemExit({exc.code!r})"
        except BaseException as exc:
            state, error = RunState.FAILED, format_error(exc)
        finally:
            run_api.unbind_trial(link)
        if state is RunState.FINISHED and run.exit_code:
            state, error = RunState.FAILED, f"finish(exit_code={run.exit_code})"
        return state, error, dict(run.summary), reraise

    # ---- a function, in a forked child -------------------------------------------------------

    def _run_forked(self, link: TrialLink) -> tuple[RunState, str | None]:
        assert self.function is not None
        unsent = str(self.agent_dir / f"{link.trial_id}.unsent")
        code, signalled, error_text = fork_trial(
            self.url,
            link,
            self.function,
            unsent,
            supervise=lambda pid, exited: self._supervise(link, pid, exited),
            on_exit=self._wake.set,
        )
        self._unsent = read_unsent(unsent)
        if code == 0:
            return RunState.FINISHED, None
        if code == STOPPED_CODE or (code < 0 and signalled):
            return self._stopped_state(), None
        if code < 0:
            return RunState.FAILED, f"the trial's process was killed by signal {-code}"
        return RunState.FAILED, error_text or f"the trial's process exited with code {code}"

    # ---- a command ---------------------------------------------------------------------------

    def _note_log(self, trial_id: str) -> None:
        with contextlib.suppress(RedsweepError):
            self.store.trials.note_log(
                self.sweep_id,
                trial_id,
                host=socket.gethostname(),
                path=str(self.agent_dir / f"{trial_id}.log"),  # the command's, see CommandStarter
            )

    def _run_command(self, link: TrialLink) -> tuple[RunState, str | None, str | None]:
        # say where its output goes (redsweep logs), from a thread: two round trips the
        # trial's start need not wait for
        threading.Thread(target=self._note_log, args=(link.trial_id,), daemon=True).start()
        try:
            argv = command_argv(
                self.config,
                link.params,
                sweep_id=link.sweep_id,
                run_id=link.trial_id,
                agent_dir=self.agent_dir,
            )
        except RedsweepError as exc:
            return RunState.FAILED, f"cannot build the command: {exc}", None
        if self._commands is None:
            # here, not at the top: an agent of a function never loads the command's side
            from redsweep.worker.trial.command import CommandStarter

            self._commands = CommandStarter(self.url, self.agent_dir, self.log_cap)
        unsent = self.agent_dir / f"{link.trial_id}.unsent"
        try:
            child = self._commands.start(link, argv, unsent, self._wake.set)
        except OSError as exc:
            return RunState.FAILED, f"cannot start {argv[0]!r}: {exc}", None
        try:
            signalled = self._supervise(link, child.pid, child.exited.is_set)
        finally:
            kill_group(child.pid, signal.SIGKILL)
            child.exited.wait()
            child.close()
        tail = tail_of(child.log_path)
        code = self._exit_code = child.returncode
        self._unsent = read_unsent(str(unsent))
        if code == 0:
            return RunState.FINISHED, None, tail
        if signalled or self._refresh(link):
            return self._stopped_state(), None, tail
        if code < 0:
            return RunState.FAILED, f"the command was killed by signal {-code}", tail
        return RunState.FAILED, f"the command exited with code {code}", tail

    def _refresh(self, link: TrialLink) -> bool:
        """Ask the store once more whether the trial was to stop (a child that raised StopTrial
        may exit before the renewer saw the request)."""
        with contextlib.suppress(StoreError):
            link.renew()
        return link.stopping

    def _supervise(self, link: TrialLink, pgid: int, exited: Callable[[], bool]) -> bool:
        return supervise(
            link,
            pgid,
            exited,
            wake=self._wake,
            interrupts=lambda: self._interrupts,
            grace_s=self.grace_s,
            fence_grace_s=self._fence.grace,
        )


def _say(text: str) -> None:
    print(f"redsweep: {text}", file=sys.stderr)
