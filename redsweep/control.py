"""Controlling a sweep: pause, resume, stop, cancel and update, as W&B's ``wandb sweep --pause``.

Each verb is one compare-and-set of the sweep's state in Redis (the allowed changes are
:data:`redsweep.shared.store.keys.SWEEP_TRANSITIONS`); everything else follows from the state:

* ``pause``: running -> paused. Controllers issue nothing, agents pop nothing and the store
  refuses to start a trial (claim.lua), so queued trials wait on the queue; running ones go on.
* ``resume``: paused, finished or canceled -> running. Queued trials start again; a controller
  (an agent's, or ``redsweep controller``) works out what is left and finishes the sweep again
  when nothing is (a finished grid).
* ``stop``: -> finished. Running trials finish, nothing new starts, agents leave after their
  trial.
* ``cancel``: -> canceled, and every running trial is killed: its agent learns it within a
  second, sends SIGTERM to the objective's process group (SIGKILL after a grace period) or
  raises StopTrial in a function at its next ``log()``; the run ends ``killed``.

And :func:`retry` (``redsweep retry``) runs again the points that ended without a result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redsweep.connect import connect
from redsweep.errors import StoreError, SweepStateError
from redsweep.shared import points
from redsweep.shared.engine import search
from redsweep.shared.engine.config import load_config
from redsweep.shared.records import Method, RunState, SweepConfig
from redsweep.shared.records import SweepState as S
from redsweep.shared.store import Store

#: verb -> (the state it sets, the states it may be used in)
VERBS: dict[str, tuple[S, tuple[S, ...]]] = {
    "pause": (S.PAUSED, (S.PENDING, S.RUNNING)),
    "resume": (S.RUNNING, (S.PAUSED, S.FINISHED, S.CANCELED)),
    "stop": (S.FINISHED, (S.PENDING, S.RUNNING, S.PAUSED)),
    "cancel": (S.CANCELED, (S.PENDING, S.RUNNING, S.PAUSED, S.FINISHED)),
}
#: kept as the sweep's ``done_reason``
STOPPED = "stopped"
CANCELED = "canceled"


@dataclass(frozen=True)
class ControlResult:
    """What a verb did: the state before and after, the runs a cancel killed, and how many
    trials wait on the queue (they start when the sweep runs)."""

    sweep_id: str
    verb: str
    before: S
    after: S
    killed: tuple[str, ...] = ()
    running: int = 0
    pending: int = 0


def _refusal(sweep_id: str, verb: str, state: S) -> SweepStateError:
    """The one-line error for a verb the sweep's state does not allow."""
    if verb == "resume" and state in (S.PENDING, S.RUNNING):
        text = f"sweep {sweep_id} is {state.value}; there is nothing to resume"
    elif VERBS[verb][0] is state:
        text = f"sweep {sweep_id} is {state.value} already"
    elif state is S.CANCELED:
        text = f"sweep {sweep_id} is canceled; cannot {verb} it (resume it first)"
    else:
        text = f"sweep {sweep_id} is {state.value}; cannot {verb} it"
        if verb == "pause" and state is S.FINISHED:
            text += " (resume it first)"
    return SweepStateError(text, sweep_id, state.value)


def control(
    verb: str, sweep_id: str, *, redis: str | None = None, store: Store | None = None
) -> ControlResult:
    """Apply ``verb`` (pause, resume, stop, cancel) to the sweep; SweepStateError (one line)
    when its state does not allow it, NotFoundError for an unknown sweep."""
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r}; use one of {', '.join(VERBS)}")
    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]  # W&B's entity/project/id
    own = store is None
    store = store or connect(redis)
    try:
        return _apply(store, verb, sweep_id)
    finally:
        if own:
            store.close()


def _apply(store: Store, verb: str, sweep_id: str) -> ControlResult:
    new, allowed = VERBS[verb]
    before = store.sweeps.state(sweep_id)
    if before not in allowed:
        raise _refusal(sweep_id, verb, before)
    reason = {"stop": STOPPED, "cancel": CANCELED}.get(verb)
    try:
        info = store.sweeps.set_state(sweep_id, new, allowed_from=allowed, reason=reason)
    except SweepStateError as exc:  # it changed since we looked: say what it is now
        raise _refusal(sweep_id, verb, S(exc.state)) from None
    killed: list[str] = []
    if verb == "cancel":
        # no trial starts any more (claim.lua refuses in a canceled sweep): kill the running
        for trial in store.reads.trials(sweep_id):
            if trial.state is RunState.RUNNING and store.trials.kill(
                sweep_id, trial.id, RunState.KILLED, reason="the sweep was canceled"
            ):
                killed.append(trial.id)
        info = store.sweeps.get(sweep_id)
    return ControlResult(
        sweep_id=sweep_id,
        verb=verb,
        before=before,
        after=info.state,
        killed=tuple(killed),
        running=info.count(RunState.RUNNING),
        pending=info.count(RunState.PENDING),
    )


def pause(sweep_id: str, *, redis: str | None = None) -> ControlResult:
    """Pause the sweep: no new trial starts until it is resumed; running ones go on."""
    return control("pause", sweep_id, redis=redis)


def resume(sweep_id: str, *, redis: str | None = None) -> ControlResult:
    """Resume a paused, finished or canceled sweep (agents and a controller carry it on)."""
    return control("resume", sweep_id, redis=redis)


def stop(sweep_id: str, *, redis: str | None = None) -> ControlResult:
    """Finish the sweep now: running trials finish, nothing new starts."""
    return control("stop", sweep_id, redis=redis)


def cancel(sweep_id: str, *, redis: str | None = None) -> ControlResult:
    """Cancel the sweep: running trials are killed, nothing new starts."""
    return control("cancel", sweep_id, redis=redis)


def update(
    sweep_id: str,
    config: Mapping[str, Any] | str | os.PathLike[str] | SweepConfig,
    *,
    redis: str | None = None,
) -> tuple[SweepConfig, int]:
    """Replace the config of a sweep none of whose runs has started (W&B's ``sweep --update``);
    returns the validated config and how many queued trials of the old config were dropped.
    ConfigError for an invalid config; SweepStateError once a run has started."""
    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]
    parsed = config if isinstance(config, SweepConfig) else load_config(config)
    grid = search.grid_size(parsed) if parsed.method is Method.GRID else None
    store = connect(redis)
    try:
        removed = store.sweeps.update_config(
            sweep_id, parsed.raw, grid_size=grid, run_cap=parsed.run_cap
        )
    finally:
        store.close()
    return parsed, removed


@dataclass(frozen=True)
class Requeued:
    """One point :func:`retry` runs again: its last attempt ``old`` (which ended ``state`` at
    attempt ``attempts``) and the new trial ``new``."""

    old: str
    new: str
    state: RunState
    attempts: int


@dataclass(frozen=True)
class RetryResult:
    """What :func:`retry` did: the points it queued again, and the sweep's state before (it
    resumed a finished sweep) and after."""

    sweep_id: str
    queued: tuple[Requeued, ...]
    before: S
    after: S


def retry(
    sweep_id: str,
    *,
    crashed: bool = True,
    failed: bool = False,
    redis: str | None = None,
    store: Store | None = None,
) -> RetryResult:
    """Run again every point of the sweep whose last attempt crashed (``crashed``; crashed
    points the controller still retries are taken now) and, with ``failed``, whose last
    attempt failed (the objective's own error): each gets a new trial ``retry_of`` that attempt,
    at the next attempt number; ended trials are never changed. A finished sweep is resumed
    first (agents then carry it on); a paused one keeps the new trials queued until resumed.
    Each point is retried once, however many ask at once (add_trial.lua). NotFoundError for
    an unknown sweep; SweepStateError for a canceled one (resume it first)."""
    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]
    wanted = {s for s, on in ((RunState.CRASHED, crashed), (RunState.FAILED, failed)) if on}
    own = store is None
    store = store or connect(redis)
    try:
        return _retry(store, sweep_id, wanted)
    finally:
        if own:
            store.close()


def _retry(store: Store, sweep_id: str, wanted: set[RunState]) -> RetryResult:
    before = store.sweeps.state(sweep_id)
    if before is S.CANCELED:
        raise SweepStateError(
            f"sweep {sweep_id} is canceled; resume it first (redsweep resume {sweep_id}), "
            "then retry its points",
            sweep_id,
            before.value,
        )
    ended = [p for p in points.points(store.reads.trials(sweep_id)) if p.state in wanted]
    queued: list[Requeued] = []
    for point in ended:
        last = point.last
        for _ in range(3):  # a controller may finish the sweep again before the first add
            if store.sweeps.state(sweep_id) is S.FINISHED:
                _resume(store, sweep_id)
            try:
                new = store.trials.retry(sweep_id, last.id, last.params, last.attempt)
            except SweepStateError:
                raise
            except StoreError:
                if store.sweeps.state(sweep_id) is not S.FINISHED:
                    raise
                continue
            if new is not None:
                queued.append(Requeued(last.id, new, last.state, point.attempts))
            break
    return RetryResult(sweep_id, tuple(queued), before, store.sweeps.state(sweep_id))


def _resume(store: Store, sweep_id: str) -> None:
    try:
        store.sweeps.set_state(sweep_id, S.RUNNING, allowed_from=[S.FINISHED])
    except SweepStateError as exc:
        if S(exc.state) is not S.RUNNING:
            raise
