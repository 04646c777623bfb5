"""A new sweep's first trial, queued by the first agent without waiting for a controller.

A grid or random sweep nobody has started yet (``pending``) gets its first trial from the
first agent that looks at it: the agent takes the controller lease, marks the sweep running,
adds one trial and gives the lease back at once, as a controller's first round would; its
first pop then finds the trial, and its background controller starts after that pop
(:mod:`redsweep.worker.agent.session`). So the quickstart's first objective call waits for no
controller start-up, and a sweep no agent ever served has no trial (``count=1`` leaves nothing
pending). Bayes sweeps, and sweeps with prior runs (which change what comes first), wait for
their controller.
"""

from __future__ import annotations

from redsweep.controller.lease import Lease
from redsweep.errors import SweepStateError
from redsweep.shared.engine import search
from redsweep.shared.records import Method, SweepConfig, SweepState
from redsweep.shared.store import Store, SweepInfo

#: trials queued at once: one, so that an agent with ``count=1`` leaves nothing pending
FIRST_TRIALS = 1


def queue_first(
    store: Store, sweep_id: str, config: SweepConfig, n: int = FIRST_TRIALS
) -> SweepInfo | None:
    """Start the pending grid or random sweep ``sweep_id`` with its first ``n`` trials queued,
    under the controller lease; the sweep as it is then, or None when it was not for us (bayes,
    prior runs, a controller or another agent came first)."""
    if config.method is Method.BAYES or store.sweeps.prior_runs(sweep_id):
        return None
    # as a background holder: it never asks a controller to hand the lease over
    lease = Lease(store, sweep_id, background=True)
    if not lease.take():
        return None  # a controller holds it: it queues them
    try:
        # under the lease: only the first of the agents racing here finds it pending with no
        # trial (setting the state it already has is no error, so the state alone cannot say)
        info = store.sweeps.get(sweep_id)
        if info.state is not SweepState.PENDING or info.issued:
            return None
        try:
            info = store.sweeps.set_state(
                sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING]
            )
        except SweepStateError:
            return None  # started (or paused, stopped) meanwhile
        suggested = search.suggest(config, (), n)
        store.trials.add(sweep_id, suggested, epoch=lease.current(), run_cap=config.run_cap)
    finally:
        lease.release()
    return info
