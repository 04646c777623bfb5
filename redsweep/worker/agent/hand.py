"""An agent's hold on its queue entries: the next entry, its claim, its ack.

Each trial id travels on the sweep's queue as a msgpack :class:`TrialMessage`; the agent moves
it into its own in-flight list (BLMOVE), claims the trial (compare-and-set on the attempt),
runs it and acks the entry. While trials keep coming, the round trip that finishes a trial
also acks its entry and takes (and claims) the next (:class:`~redsweep.shared.store.calls.Take`
from :meth:`QueueHand.after`). Anything on the queue that is not a trial message of this sweep
goes to the dead letters, with a line on stderr.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from redsweep.errors import NotFoundError, ProtocolError, SweepStateError
from redsweep.shared.protocol import decode
from redsweep.shared.records import TrialMessage
from redsweep.shared.store import Popped, Store, Taken
from redsweep.shared.store.calls import Ack, Call, Take


class Budget:
    """How many more trials a session starts: ``count`` (None: no limit) less those it
    claimed; none at all once ``stopped()`` says so (a signal came)."""

    def __init__(self, count: int | None, stopped: Callable[[], bool]) -> None:
        self.count = count
        self.started = 0  # trials claimed by the session
        self._stopped = stopped

    def remaining(self) -> int | None:
        """How many more trials the session will start (None: no count)."""
        return None if self.count is None else max(0, self.count - self.started)

    def more(self) -> bool:
        """Whether another trial may start (count, signals)."""
        remaining = self.remaining()
        return (remaining is None or remaining > 0) and not self._stopped()


@dataclass(frozen=True)
class Claimed:
    """A trial this agent holds, with the queue entry it came in; ``claimed_at`` is when
    (``time.monotonic()``) the claim was sent: its lease lasts at least ``lease`` from then."""

    entry: bytes
    trial_id: str
    token: str
    params: dict[str, Any] = field(default_factory=dict)
    claimed_at: float = field(default_factory=time.monotonic)


class Skip(Enum):
    """What became of a queue entry that is not a trial to run."""

    GONE = "gone"  # its trial was taken, retried or ended meanwhile: acked
    GIVEN_BACK = "given back"  # the sweep does not let it start now (paused, over)
    DEAD_LETTERED = "dead-lettered"  # not a trial message of this sweep


class QueueHand:
    """Holds agent ``agent_id``'s entries of sweep ``sweep_id``'s queue: :meth:`next` gives
    the next one (the one taken along with the last finish, else a pop), :meth:`claim` turns
    it into a trial to run, :meth:`after` and :meth:`finished` ack it (and take the next) with
    the trial's finish; :meth:`close` acks or gives back what is left. ``budget`` says whether
    the finish takes another trial, and counts the ones claimed."""

    def __init__(
        self, store: Store, sweep_id: str, agent_id: str, *, lease_ms: int, budget: Budget
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._agent_id = agent_id
        self._lease_ms = int(lease_ms)
        self._budget = budget
        self._next: Taken | None = None  # taken along with the last trial's finish, or kept
        self._unacked: bytes | None = None  # the entry of the trial just run, if not acked
        self._take_sent = 0.0  # when the last Take (a claim) went out with a finish
        #: what the last pop saw after its wait (the sweep, the lease's holder); None when
        #: :meth:`next` did not pop
        self.looked: Popped | None = None

    @property
    def has_next(self) -> bool:
        """Whether :meth:`next` has an entry without asking the queue."""
        return self._next is not None

    def next(self, wait_s: float) -> Taken | None:
        """The next entry: the one in hand, else popped (waiting up to ``wait_s``; acking the
        last trial's entry in the same round trip, and looking at the sweep and its lease
        after the wait: :attr:`looked`); None when the queue stayed empty."""
        taken, self._next = self._next, None
        self.looked = None
        if taken is not None:
            return taken
        popped = self._store.queue.pop_and_look(
            self._sweep_id, self._agent_id, wait_s, ack=self._unacked
        )
        self._unacked = None
        self.looked = popped
        return Taken(popped.entry) if popped.entry is not None else None

    def keep(self, taken: Taken) -> None:
        """An entry not to run now: :meth:`close` gives it back."""
        self._next = taken

    def claim(self, taken: Taken) -> Claimed | Skip:
        """The trial of ``taken`` to run (claimed already when it was taken with a finish),
        or what became of the entry."""
        raw = taken.entry
        if taken.trial_id is not None and taken.token is not None:
            params = dict(taken.params or {})
            return Claimed(raw, taken.trial_id, taken.token, params, self._take_sent)
        store, sweep_id, agent_id = self._store, self._sweep_id, self._agent_id
        try:
            message = decode(raw, TrialMessage)
            if message.sweep_id != sweep_id:
                raise ProtocolError(
                    f"a trial of sweep {message.sweep_id} on the queue of sweep {sweep_id}", raw
                )
            sent = time.monotonic()
            got = store.trials.claim(
                sweep_id,
                message.trial_id,
                message.attempt,
                agent_id,
                self._lease_ms,
                remaining=self._budget.remaining(),
            )
        except SweepStateError:  # paused, finished or canceled since we looked: not now
            store.queue.give_back(sweep_id, agent_id, raw)
            return Skip.GIVEN_BACK
        except (ProtocolError, NotFoundError) as exc:
            self._dead_letter(raw, str(exc))
            return Skip.DEAD_LETTERED
        if got is None:  # taken, retried or ended meanwhile: nothing to do
            store.queue.ack(sweep_id, agent_id, raw)
            return Skip.GONE
        self._budget.started += 1
        token, params = got
        return Claimed(raw, message.trial_id, token, dict(params), sent)

    def after(self, claimed: Claimed) -> Callable[[], Sequence[Call]]:
        """What goes out with ``claimed``'s finish, asked for as it is sent: ack its entry
        and take (and claim) the next, unless the budget says no more (count, signals)."""

        def calls() -> list[Call]:
            sweep_id, agent_id, entry = self._sweep_id, self._agent_id, claimed.entry
            self._take_sent = time.monotonic()
            if self._budget.more():
                remaining = self._budget.remaining()
                return [Take(sweep_id, agent_id, self._lease_ms, ack=entry, remaining=remaining)]
            return [Ack(sweep_id, agent_id, entry)]

        return calls

    def finished(self, claimed: Claimed, moved: Sequence[Any]) -> None:
        """``claimed``'s trial ended; ``moved`` is what :meth:`after`'s calls answered (empty
        when they did not go out: the entry is acked with the next pop)."""
        if not moved:
            self._unacked = claimed.entry
            return
        taken = moved[0]
        if isinstance(taken, Taken):
            if taken.token is not None:
                self._budget.started += 1
            self._next = taken

    def close(self) -> None:
        """Ack the last trial's entry if it was not; give back an entry taken but not run
        (and its trial, when it was claimed)."""
        if self._unacked is not None:
            self._store.queue.ack(self._sweep_id, self._agent_id, self._unacked)
            self._unacked = None
        if self._next is not None:
            self._store.queue.release(self._sweep_id, self._agent_id, self._next)
            self._next = None

    def _dead_letter(self, raw: bytes, reason: str) -> None:
        self._store.queue.dead_letter(self._sweep_id, self._agent_id, raw, reason)
        shown = raw[:40]
        more = "..." if len(raw) > 40 else ""
        print(
            f"redsweep: dead-lettered a queue entry of sweep {self._sweep_id} "
            f"({len(raw)} bytes: {shown!r}{more}): {reason}",
            file=sys.stderr,
        )
