"""A trial's end in the store: its unsent rows, its finish and the agent's next calls, in one
round trip; held and delivered alone when Redis is away. On a lane (an agent running short
trials) the round trip is sent and answered later (:class:`DeferredEnd`), while the agent runs
the trial it holds already.

Part of :mod:`redsweep.worker.trial`: the runner decides how the trial ended, this sends it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redsweep.errors import ProtocolError, RedsweepError, UnreachableError
from redsweep.shared.records import RunState
from redsweep.shared.store import Lane, Sent, Store
from redsweep.shared.store.calls import Call, Finish
from redsweep.shared.store.outage import Outage
from redsweep.worker.api.link import TrialLink

Rows = list[tuple[int, dict[str, Any]]]


@dataclass
class DeferredEnd:
    """A trial's end sent on a lane, its answer not read yet: :meth:`settle` reads it."""

    sent: Sent
    ending: list[Call]
    store: Store
    outage: Outage
    retry_s: float

    def settle(self) -> tuple[bool, tuple[Any, ...]]:
        """Whether the finish was recorded, and what the calls after it answered (none when
        the round trip failed: then the finish is sent alone until Redis answers, as
        :func:`finish_trial` does)."""
        return _answered(self.sent.result, self.ending, self.store, self.outage, self.retry_s)


def _answered(
    results_of: Callable[[], tuple[Any, ...]],
    ending: list[Call],
    store: Store,
    outage: Outage,
    retry_s: float,
) -> tuple[bool, tuple[Any, ...]]:
    """What the round trip of ``ending`` (the rows and the finish) and the calls after it
    answered, ``results_of()``: whether the finish was recorded, and the answers of the calls
    after it. Redis away: the finish is held and delivered alone once Redis answers (the same
    calls: a report that landed already is not applied twice, the same finish again is
    answered ok), tried every ``retry_s``, told to ``outage``; the calls after it answered
    nothing (the entry is acked with the next pop)."""
    try:
        try:
            results = results_of()
        except UnreachableError:
            outage.failed()
            results = outage.wait_out(lambda: store.batch(*ending), None, retry_s)
            return bool(results[-1]), ()
        outage.ok()
    except RedsweepError:
        return False, ()
    return bool(results[len(ending) - 1]), tuple(results[len(ending) :])


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
    lane: Lane | None = None,
) -> tuple[bool, tuple[Any, ...] | DeferredEnd]:
    """Send the unsent ``rows``, the finish of the trial of ``link`` and ``after``'s calls in
    one round trip: whether the finish was recorded, and what ``after``'s calls answered (none
    when the round trip failed). A summary or rows the wire format refuses are dropped
    (``sendable`` keeps the rows it takes) rather than lose the state. With Redis away the
    finish is held and sent alone once it answers, tried every ``retry_s``, told to
    ``outage``. With a ``lane`` and calls after the finish, the round trip is only sent: the
    answer is a :class:`DeferredEnd` to settle later, and the finish counts as recorded (a
    trial whose lease was lost never comes here with a lane)."""

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
        if lane is not None and moves:
            try:
                sent = lane.send(*ending, *moves)
            except UnreachableError:
                pass  # nothing went out: the round trip below meets the outage as usual
            else:
                return True, DeferredEnd(sent, ending, store, outage, retry_s)
    except RedsweepError:
        return False, ()
    return _answered(lambda: store.batch(*ending, *moves), ending, store, outage, retry_s)
