"""What one agent session did: counts of its trials by how they ended, and why it stopped."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import Enum
from typing import Any

from redsweep.shared.records import RunState, SweepState
from redsweep.worker.trial.runner import TrialOutcome


class EndReason(Enum):
    """Why an agent session ended. :meth:`text` says it as the agent does, with the detail
    (how many trials ran, the sweep's ``done_reason``): "ran 3 trials", "sweep done: run_cap",
    "sweep finished: grid_exhausted", "sweep canceled", "interrupted"."""

    COUNT_REACHED = "ran"  # the session's count of trials ran here
    SWEEP_DONE = "sweep done"  # no more trials will be issued and nothing of the sweep runs
    SWEEP_FINISHED = "sweep finished"
    SWEEP_CANCELED = "sweep canceled"
    INTERRUPTED = "interrupted"  # SIGINT / SIGTERM
    FAILING = "too many failures"  # W&B's agent guards (worker/agent/guards.py)

    @classmethod
    def over(cls, state: SweepState) -> EndReason:
        """The reason for a sweep that is over (``state.is_over``)."""
        return cls.SWEEP_CANCELED if state is SweepState.CANCELED else cls.SWEEP_FINISHED

    def text(self, *, ran: int = 0, done_reason: str | None = None) -> str:
        if self is EndReason.COUNT_REACHED:
            return f"ran {ran} trial{'s' if ran != 1 else ''}"
        if done_reason and self is not EndReason.INTERRUPTED:  # FAILING: the guard's words
            return f"{self.value}: {done_reason}"
        return self.value

    def __str__(self) -> str:
        return self.value


@dataclass
class AgentResult:
    """What one agent session did. ``ran`` counts trials it ran (any outcome); ``reason`` says
    why it ended (None while it runs), ``done_reason`` the sweep's when the sweep ended it;
    :attr:`why` says it in words."""

    agent_id: str
    sweep_id: str
    ran: int = 0
    finished: int = 0
    failed: int = 0
    stopped: int = 0
    killed: int = 0
    lost: int = 0
    dead_lettered: int = 0
    reason: EndReason | None = None
    done_reason: str | None = None

    @property
    def why(self) -> str:
        """Why the session ended, as it is printed ('' while it runs)."""
        if self.reason is None:
            return ""
        return self.reason.text(ran=self.ran, done_reason=self.done_reason)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (JSON, msgpack): the counts, and ``reason`` as :attr:`why` says it."""
        return {**dataclasses.asdict(self), "reason": self.why}

    def count(self, outcome: TrialOutcome) -> None:
        self.ran += 1
        state = outcome.state
        if state is RunState.FINISHED:
            self.finished += 1
        elif state is RunState.STOPPED:
            self.stopped += 1
        elif state is RunState.KILLED:
            self.killed += 1
        elif state is None or not outcome.recorded:
            self.lost += 1
        else:
            self.failed += 1
