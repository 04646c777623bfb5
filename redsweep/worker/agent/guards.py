"""W&B's agent guards: an agent whose trials keep failing stops instead of burning the sweep.

As W&B's agent (``wandb/wandb_agent.py``), two checks after each failed trial:

* flapping: three failures within the agent's first 60 s (off with
  ``WANDB_AGENT_DISABLE_FLAPPING=true``);
* failing: failures at least as many as successes, and at least five
  (``WANDB_AGENT_MAX_INITIAL_FAILURES=N`` sets the five).

Pure but for the clock and the environment it is given.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from redsweep.errors import RedsweepError

ENV_DISABLE_FLAPPING = "WANDB_AGENT_DISABLE_FLAPPING"
ENV_MAX_INITIAL_FAILURES = "WANDB_AGENT_MAX_INITIAL_FAILURES"
FLAPPING_MAX_SECONDS = 60.0
FLAPPING_MAX_FAILURES = 3
MAX_INITIAL_FAILURES = 5


class FailureGuard:
    """Counts a session's trial outcomes; :meth:`tripped` says why to stop, if it should."""

    def __init__(self, env: Mapping[str, str], clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._started = clock()
        self._flapping = env.get(ENV_DISABLE_FLAPPING, "").strip().lower() != "true"
        raw = env.get(ENV_MAX_INITIAL_FAILURES)
        try:
            self._max_failures = MAX_INITIAL_FAILURES if raw is None else int(raw)
        except ValueError:
            raise RedsweepError(
                f"{ENV_MAX_INITIAL_FAILURES}={raw!r}: expected a number of failures"
            ) from None
        self.failed = 0
        self.succeeded = 0

    def record(self, failed: bool, succeeded: bool) -> None:
        self.failed += failed
        self.succeeded += succeeded

    def tripped(self) -> str | None:
        """Why the agent should stop now (None: go on). Only a failure can trip it."""
        early = self._clock() - self._started < FLAPPING_MAX_SECONDS
        if self._flapping and early and self.failed >= FLAPPING_MAX_FAILURES:
            return (
                f"{self.failed} trials failed in the agent's first {FLAPPING_MAX_SECONDS:.0f} s, "
                f"so it stops (as W&B's agent; {ENV_DISABLE_FLAPPING}=true turns this off)"
            )
        if self.failed >= self._max_failures and self.failed >= self.succeeded:
            return (
                f"{self.failed} trials failed and {self.succeeded} succeeded, so it stops (as "
                f"W&B's agent; {ENV_MAX_INITIAL_FAILURES}=N stops only after N failures)"
            )
        return None
