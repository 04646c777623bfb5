"""How a trial ended on this worker: :class:`TrialOutcome`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from redsweep.shared.records import RunState

if TYPE_CHECKING:
    from redsweep.worker.trial.finish import DeferredEnd


@dataclass(frozen=True)
class TrialOutcome:
    """How a trial ended here. ``state`` is what this worker recorded, None when it had lost
    the trial (the store's record says what became of it); ``recorded`` is False when the
    store refused or could not take the finish. ``after`` holds what the calls of
    :meth:`TrialRunner.run`'s ``after`` answered, in order (empty when the finish did not go
    out with them); ``deferred`` is set instead when the finish went out on a lane, its
    answer still to be read (:class:`~redsweep.worker.trial.finish.DeferredEnd`).
    ``interrupt`` is the KeyboardInterrupt an in-process function raised: the caller
    re-raises it once it has taken in ``after`` (a trial taken with the finish must not be
    forgotten on the way out). ``warning``: what the trial's ``log()`` dropped, when the agent
    has it (an in-process function); other trials print it themselves."""

    trial_id: str
    state: RunState | None
    seconds: float
    params: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    log_tail: str | None = None
    recorded: bool = True
    after: tuple[Any, ...] = ()
    deferred: DeferredEnd | None = None
    interrupt: BaseException | None = None
    warning: str | None = None
