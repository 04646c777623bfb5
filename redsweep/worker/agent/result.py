"""What one agent session did: counts of its trials by how they ended, and why it stopped."""

from __future__ import annotations

from dataclasses import dataclass

from redsweep.shared.records import RunState
from redsweep.worker.trial.runner import TrialOutcome


@dataclass
class AgentResult:
    """What one agent session did. ``ran`` counts trials it ran (any outcome); ``reason`` says
    why it ended."""

    agent_id: str
    sweep_id: str
    ran: int = 0
    finished: int = 0
    failed: int = 0
    stopped: int = 0
    killed: int = 0
    lost: int = 0
    dead_lettered: int = 0
    reason: str = ""

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
