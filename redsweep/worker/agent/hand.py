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
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from redsweep.errors import NotFoundError, ProtocolError, RedsweepError, SweepStateError
from redsweep.shared.protocol import decode
from redsweep.shared.records import TrialMessage
from redsweep.shared.store import Lane, Popped, Store, Taken
from redsweep.shared.store.calls import Ack, Call, Take
from redsweep.worker.agent.overdue import Overdue

if TYPE_CHECKING:
    from redsweep.worker.trial.finish import DeferredEnd

#: A trial shorter than this (seconds) has the next one's finish pipelined (see QueueHand).
SHORT_S = 0.05
#: A trial running longer than this (seconds; at most a quarter of the lease) has the trial
#: held for after it given back to the queue.
HOLD_S = 0.5


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
    the next one (one taken along with a finish, else a pop), :meth:`claim` turns it into a
    trial to run, :meth:`after` and :meth:`finished` ack it (and take the next) with the
    trial's finish; :meth:`close` acks or gives back what is left. ``budget`` says whether
    the finish takes another trial, and counts the ones claimed.

    With a ``lane``, short trials (under :data:`SHORT_S`) are pipelined: the finish of one
    goes out on the lane and is answered while the agent runs the trial it holds already, and
    that finish takes the one after (so two are held: the one running and the next). A trial
    that outlasts :data:`HOLD_S` (at most a quarter of the lease) has the held one given back
    to the queue, from the :class:`~redsweep.worker.agent.overdue.Overdue` thread: a long
    trial never keeps another waiting."""

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        agent_id: str,
        *,
        lease_ms: int,
        budget: Budget,
        lane: Lane | None = None,
    ) -> None:
        self._store = store
        self._sweep_id = sweep_id
        self._agent_id = agent_id
        self._lease_ms = int(lease_ms)
        self._budget = budget
        self._lane = lane
        self._lock = threading.RLock()  # the Overdue thread gives back what is held
        #: entries in hand (taken along with a finish, or kept), with when their take was sent
        self._ahead: deque[tuple[Taken, float]] = deque()
        #: finishes sent on the lane, not read yet: (its answer, the finished trial's entry,
        #: when it was sent, how many takes it carries)
        self._deferred: deque[tuple[DeferredEnd, bytes, float, int]] = deque()
        self._promised = 0  # takes sent on the lane, not read yet
        self._unacked: list[bytes] = []  # entries of trials run, not acked yet
        self._take_sent = 0.0  # when the take of the entry given by next() was sent
        self._sent_now = (0.0, 0)  # the last after()'s: when, how many takes
        self._started = 0.0  # when the running trial started
        self._short = False  # the last trial was short: pipeline the next one's finish
        self._overdue = Overdue(self._give_back_held, min(HOLD_S, lease_ms / 4000))
        #: what the last pop saw after its wait (the sweep, the lease's holder); None when
        #: :meth:`next` did not pop
        self.looked: Popped | None = None

    @property
    def has_next(self) -> bool:
        """Whether :meth:`next` has an entry (or the answer of a take) without a pop."""
        return bool(self._ahead) or bool(self._deferred)

    def next(self, wait_s: float) -> Taken | None:
        """The next entry: one in hand (reading the lane's answers until one comes), else
        popped (waiting up to ``wait_s``; acking a trial's entry in the same round trip, and
        looking at the sweep and its lease after the wait: :attr:`looked`); None when the
        queue stayed empty."""
        with self._lock:
            self.looked = None
            self.settle()
            if self._ahead:
                taken, self._take_sent = self._ahead.popleft()
                return taken
            unacked = self._unacked
            for entry in unacked[:-1]:  # more than one only after a lost round trip
                self._store.queue.ack(self._sweep_id, self._agent_id, entry)
            popped = self._store.queue.pop_and_look(
                self._sweep_id, self._agent_id, wait_s, ack=unacked[-1] if unacked else None
            )
            self._unacked = []
            self.looked = popped
            return Taken(popped.entry) if popped.entry is not None else None

    def settle(self) -> None:
        """Read the lane's answers while none of them gave a trial to run next (with one in
        hand, none is read: the agent runs it while Redis answers)."""
        with self._lock:
            while not self._ahead and self._deferred:
                self._settle_oldest()

    def keep(self, taken: Taken) -> None:
        """An entry not to run now: :meth:`close` gives it back."""
        with self._lock:
            self._ahead.appendleft((taken, self._take_sent))

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

    def starting(self) -> Lane | None:
        """A trial starts: the lane its finish goes out on (None: wait for the answer), and
        the alarm that gives back a held trial if this one runs long."""
        with self._lock:
            self._started = time.monotonic()
            if self._ahead or self._deferred:
                self._overdue.arm()
            return self._lane if self._short else None

    def after(self, claimed: Claimed) -> Callable[[], Sequence[Call]]:
        """What goes out with ``claimed``'s finish, asked for as it is sent: ack its entry
        and take (and claim) the next, unless the budget says no more (count, signals); after
        a short trial, the one after that too (when the finish goes on the lane)."""

        def calls() -> list[Call]:
            sweep_id, agent_id, entry = self._sweep_id, self._agent_id, claimed.entry
            with self._lock:
                now = time.monotonic()
                self._short = self._lane is not None and now - self._started < SHORT_S
                held = len(self._ahead) + self._promised
                takes = (2 if self._short else 1) - held if self._budget.more() else 0
                remaining = self._budget.remaining()
                if remaining is not None:
                    takes = min(takes, remaining - self._promised)
                    remaining -= self._promised
                takes = max(0, takes)
                self._sent_now = (now, takes)
            if not takes:
                return [Ack(sweep_id, agent_id, entry)]
            lease_ms = self._lease_ms
            return [
                Take(
                    sweep_id,
                    agent_id,
                    lease_ms,
                    ack=entry if i == 0 else None,  # the first take acks the finished trial
                    remaining=None if remaining is None else remaining - i,
                )
                for i in range(takes)
            ]

        return calls

    def finished(self, claimed: Claimed, moved: Sequence[Any], deferred: Any = None) -> None:
        """``claimed``'s trial ended; ``moved`` is what :meth:`after`'s calls answered (empty
        when they did not go out: the entry is acked with the next pop), or ``deferred`` the
        answer still to read (:class:`~redsweep.worker.trial.finish.DeferredEnd`)."""
        with self._lock:
            self._overdue.disarm()
            if deferred is not None:
                sent_at, takes = self._sent_now
                self._deferred.append((deferred, claimed.entry, sent_at, takes))
                self._promised += takes
                return
            self._take_in(claimed.entry, moved, self._sent_now[0])

    def close(self) -> None:
        """Read the lane's answers; ack the last trials' entries if they were not; give back
        the entries taken but not run (and their trials, when they were claimed)."""
        self._overdue.close()
        with self._lock:
            while self._deferred:
                self._settle_oldest()
            for entry in self._unacked:
                self._store.queue.ack(self._sweep_id, self._agent_id, entry)
            self._unacked = []
            while self._ahead:
                taken, _ = self._ahead.popleft()
                self._store.queue.release(self._sweep_id, self._agent_id, taken)

    def _settle_oldest(self) -> None:
        deferred, entry, sent_at, takes = self._deferred.popleft()
        self._promised -= takes
        _recorded, moved = deferred.settle()
        self._take_in(entry, moved, sent_at)

    def _take_in(self, entry: bytes, moved: Sequence[Any], sent_at: float) -> None:
        """What a finish's calls answered: the trials taken go in hand."""
        if not moved:
            self._unacked.append(entry)
            return
        for taken in moved:
            if isinstance(taken, Taken):
                if taken.token is not None:
                    self._budget.started += 1
                self._ahead.append((taken, sent_at))

    def _give_back_held(self) -> None:
        """The running trial outlasted :data:`HOLD_S`: give back what is held for after it
        (called from the Overdue thread; a failure leaves the claims to lapse, as a killed
        agent's would)."""
        with self._lock:
            try:
                while self._deferred:
                    self._settle_oldest()
                while self._ahead:
                    taken, _ = self._ahead[0]
                    self._store.queue.release(self._sweep_id, self._agent_id, taken)
                    self._ahead.popleft()
                    if taken.token is not None:
                        self._budget.started -= 1
            except RedsweepError:
                pass

    def _dead_letter(self, raw: bytes, reason: str) -> None:
        self._store.queue.dead_letter(self._sweep_id, self._agent_id, raw, reason)
        shown = raw[:40]
        more = "..." if len(raw) > 40 else ""
        print(
            f"redsweep: dead-lettered a queue entry of sweep {self._sweep_id} "
            f"({len(raw)} bytes: {shown!r}{more}): {reason}",
            file=sys.stderr,
        )
