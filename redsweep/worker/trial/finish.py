"""A trial's end in the store: its unsent rows, its finish and the agent's next calls, in one
round trip; held and delivered alone when Redis is away.

Part of :mod:`redsweep.worker.trial`: the runner decides how the trial ended, this sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redsweep.errors import ProtocolError, RedsweepError, UnreachableError
from redsweep.shared.records import RunState
from redsweep.shared.store import Store
from redsweep.shared.store.calls import Call, Finish
from redsweep.shared.store.outage import Outage
from redsweep.worker.api.link import TrialLink

Rows = list[tuple[int, dict[str, Any]]]


def finish_trial(
    store: Store,
    link: TrialLink,
    state: RunState,
    *,
    summary: dict[str, Any],
    error: str | None,
    log_tail: str | None,
    rows: Rows,
    after: Callable[[], Sequence[Call]] | None,
    sendable: Callable[[Rows], Rows],
    outage: Outage,
    retry_s: float,
) -> tuple[bool, tuple[Any, ...]]:
    """Send the unsent ``rows``, the finish of the trial of ``link`` and ``after``'s calls in
    one round trip: whether the finish was recorded, and what ``after``'s calls answered (none
    when the round trip failed). A summary or rows the wire format refuses are dropped
    (``sendable`` keeps the rows it takes) rather than lose the state. With Redis away the
    finish is held and sent alone once it answers, tried every ``retry_s``, told to
    ``outage``."""

    def calls(summary: dict[str, Any] | None, rows: Rows) -> list[Call]:
        out: list[Call] = []
        if rows:
            out.append(link.report_call(rows, link.unsent_note, final=True))
        out.append(
            Finish(
                link.sweep_id,
                link.trial_id,
                link.token,
                state,
                summary=summary,
                error=error,
                log_tail=log_tail,
                metric_name=link.metric_name,
                goal=link.goal,
            )
        )
        return out

    try:
        try:
            ending = calls(summary or None, rows)
        except ProtocolError:  # a value the wire format refuses must not lose the state
            ending = calls(None, sendable(rows))
        moves = list(after()) if after is not None else []
        try:
            results = store.batch(*ending, *moves)
        except UnreachableError:
            # Redis is away: hold the finish and deliver it alone once Redis answers (the same
            # calls: a report that landed already is not applied twice, the same finish again
            # is answered ok). The entry is acked with the next pop.
            outage.failed()
            results = outage.wait_out(lambda: store.batch(*ending), None, retry_s)
            return bool(results[-1]), ()
        outage.ok()
    except RedsweepError:
        return False, ()
    return bool(results[len(ending) - 1]), tuple(results[len(ending) :])
