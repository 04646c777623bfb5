"""Self-fencing: a trial whose lease its agent cannot renew is stopped before the lease can
lapse, so that the copy the controller runs again never overlaps it.

The store sets a trial's lease (``SET ... PX lease``, on the server's clock) in each claim,
renewal and report. A call the agent *sent* at host time ``t`` and that was answered was run
by the server after ``t``, so the lease lasts until at least ``t + lease``; only then can the
controller (or an agent) reap the trial and queue its retry. :class:`Fence` is a thread that
does not wait on Redis: at ``t + lease - margin - grace`` (``t`` the last answered renewal,
:attr:`TrialLink.renewed_at`) it marks the trial's link lost. The runner then sends SIGTERM
to the trial's process group and SIGKILL ``grace`` later (a function gets StopTrial), so the
group is dead ``margin`` before the lease can lapse. :func:`fence_timing` sizes them:

* ``grace`` = min(the agent's grace period, a fifth of the lease): a stop for any other
  reason keeps the agent's grace, a fenced one must fit in the lease;
* ``margin`` = a tenth of the lease, at least 0.1 s: covers the moment between the SIGKILL
  being due and the group being gone (a wake-up of the runner's thread, the kill itself) and
  the rates of the host's and the server's clocks drifting apart over one lease (parts per
  million with NTP). Only durations are compared, never one host's clock with another's, so
  a skew between clocks does not matter; a server clock that *jumps* forward by more than the
  margin is outside the guarantee (Redis expires keys on its wall clock).

Renewals go every third of the lease, and no call blocks for more than about a quarter of it
(:func:`redsweep.shared.store.connection.lease_options`), so a trial is fenced only when
Redis could not be reached for most of a lease: with the default 10 s lease the trial gets
SIGTERM 7 s after the last renewal was sent (3.7 to 7 s into a partition), SIGKILL 2 s later.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from redsweep.shared.records import RunState
from redsweep.worker.api.link import TrialLink

#: The margin's floor (seconds).
MIN_MARGIN_S = 0.1
#: Why a fenced trial was stopped (its run's error starts with this).
FENCED = "cannot reach Redis to renew the trial's lease (self-fenced before it could lapse)"


def fence_timing(lease_ms: int, grace_s: float) -> tuple[float, float]:
    """(seconds after the last renewal was sent at which a trial is fenced, the grace
    between its SIGTERM and its SIGKILL) for a lease of ``lease_ms``."""
    lease = lease_ms / 1000
    margin = max(lease / 10, MIN_MARGIN_S)
    grace = max(0.0, min(grace_s, lease / 5))
    return max(0.0, lease - margin - grace), grace


class Fence:
    """Watches one trial's link at a time (:meth:`watch`, :meth:`release`) and marks it lost
    ``after`` seconds past its last renewal, unless renewed meanwhile."""

    def __init__(
        self, lease_ms: int, grace_s: float, on_fence: Callable[[], object] | None = None
    ) -> None:
        self.after, self.grace = fence_timing(lease_ms, grace_s)
        self._on_fence = on_fence  # called (from this thread) once a link is marked lost
        self._cond = threading.Condition()
        self._link: TrialLink | None = None
        self._wakes_at = float("inf")  # when the thread looks next (monotonic)
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="redsweep-fence", daemon=True)
        self._thread.start()

    def watch(self, link: TrialLink) -> None:
        """Fence ``link`` from now on. The thread is woken only when it would look too late:
        trial after trial, each claimed after the last one's renewals, it is not."""
        with self._cond:
            self._link = link
            if link.renewed_at + self.after < self._wakes_at:
                self._cond.notify_all()

    def release(self) -> None:
        """The trial ended: nothing of it runs any more, so nothing to fence (the thread finds
        that when it looks next: no wake-up per trial)."""
        with self._cond:
            self._link = None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(1.0)

    def _loop(self) -> None:
        with self._cond:
            while not self._closed:
                link = self._link
                if link is None or link.lost:
                    self._wakes_at = float("inf")
                    self._cond.wait()
                    continue
                now = time.monotonic()
                left = link.renewed_at + self.after - now
                if left > 0:
                    self._wakes_at = now + left
                    self._cond.wait(left)
                    continue
                link.mark_lost(FENCED)
                if self._on_fence is not None:
                    self._on_fence()


def ended_before_fence(
    why: str, mark: int | None, code: int | None
) -> tuple[RunState, str | None] | None:
    """How a command trial ended that its agent fenced (``why``) after its objective had
    ended and handed everything over (``mark``: the exit code it wrote last to its agent's
    file, :mod:`redsweep.worker.api.away`): by its exit ``code`` if it exited by itself, else
    by the mark. None when that is not so: fenced mid-work, it ends crashed and runs again."""
    if mark is None or why != FENCED:
        return None
    code = code if code is not None and code >= 0 else mark
    if code == 0:
        return RunState.FINISHED, None
    return RunState.FAILED, f"the command exited with code {code}"
