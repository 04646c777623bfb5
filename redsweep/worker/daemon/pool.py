"""``redsweep worker``: a pool of RQ workers on this machine, one per slot (or GPU).

The daemon process supervises one slot process per slot (:mod:`redsweep.worker.daemon.slot`),
each an RQ worker on the pool's queue that runs agent sessions
(:mod:`redsweep.worker.daemon.job`). With ``gpus``, slot ``i`` and everything it starts see
only ``CUDA_VISIBLE_DEVICES=gpus[i]``. The daemon registers itself in Redis (for
``redsweep workers``) with a heartbeat, restarts a slot that dies, and outlives Redis outages
(registration and slots retry with back-off). SIGTERM or SIGINT drains it: each running session
finishes its current trial, then the slots and the daemon exit; a second signal, a second or
more later, stops the sessions at once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from redsweep.errors import RedsweepError, UnreachableError
from redsweep.shared.store import Store, keys, mask_url, new_id
from redsweep.shared.store.daemons import DaemonInfo
from redsweep.shared.store.outage import Outage
from redsweep.worker.api.run import host
from redsweep.worker.daemon.job import DEFAULT_POOL, SessionJob, pool_queue
from redsweep.worker.daemon.slot import RESTART_BACKOFF_S, parse_worker_name

#: How often the daemon renews its registration, and for how long each renewal counts.
REGISTER_EVERY_S = 3.0
REGISTER_TTL_MS = 15_000
POLL_S = 0.2


class DaemonError(RedsweepError):
    """A worker daemon cannot start as asked."""


@dataclass
class _Slot:
    index: int
    gpu: str | None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    restart_at: float = 0.0
    started_at: float = 0.0


class Daemon:
    """A worker daemon serving ``pool`` with ``slots`` slots (or one per GPU in ``gpus``)."""

    def __init__(
        self,
        url: str,
        *,
        pool: str = DEFAULT_POOL,
        slots: int | None = None,
        gpus: Sequence[str] | None = None,
        trial_timeout: float | None = None,
        out: TextIO | None = None,
    ) -> None:
        if gpus and slots is not None and slots != len(gpus):
            raise DaemonError("give --slots or --gpus, not both")
        gpus = [g.strip() for g in gpus or [] if g.strip()]
        n = len(gpus) if gpus else (slots if slots is not None else 1)
        if n < 1:
            raise DaemonError("a worker daemon needs at least one slot")
        try:
            keys.pool_queue(pool)
        except ValueError as exc:
            raise DaemonError(str(exc)) from None
        self.url = url
        self.pool = pool
        self.gpus = gpus
        self.trial_timeout = trial_timeout  # for sessions launched without their own
        self.id = new_id(6)
        self.out = out if out is not None else sys.stderr
        self.slots = [_Slot(i, gpus[i] if gpus else None) for i in range(n)]
        self._signals = 0
        self._last_signal = 0.0
        self._wake = threading.Event()
        self._registered_ok = True
        self._redis = Outage(mask_url(url), self._say_outage, notice_after=0, back=True)

    # ---- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until drained by SIGTERM/SIGINT (or :meth:`drain`); returns an exit code."""
        store = Store.from_url(self.url)
        previous = self._install_signals()
        gpus = f", GPUs {','.join(self.gpus)}" if self.gpus else ""
        if self.trial_timeout is not None:
            gpus += f", trials stopped after {self.trial_timeout:g} s"
        self._say(
            f"redsweep worker {self.id}: pool {self.pool!r}, {len(self.slots)} slot"
            f"{'s' if len(self.slots) != 1 else ''}{gpus}, Redis {mask_url(self.url)}"
        )
        next_register = 0.0
        try:
            for slot in self.slots:
                self._start(slot)
            while True:
                now = time.monotonic()
                if now >= next_register and not self._signals:
                    self._register(store)
                    next_register = now + REGISTER_EVERY_S
                alive = 0
                for slot in self.slots:
                    alive += self._tend(slot, now)
                if self._signals and alive == 0:
                    break
                self._wake.wait(POLL_S)
                self._wake.clear()
        finally:
            self._stop_all(signal.SIGKILL, wait_s=5.0)
            with contextlib.suppress(RedsweepError):
                store.daemons.remove(self.id)
            store.close()
            self._restore_signals(previous)
        self._say(f"redsweep worker {self.id}: drained, exiting")
        return 0

    def drain(self) -> None:
        """Ask every slot to finish its session's current trial and exit."""
        self._on_signal(signal.SIGTERM, None)

    def _tend(self, slot: _Slot, now: float) -> int:
        """Restart a slot that died unasked; 1 while its process lives."""
        proc = slot.proc
        if proc is not None and proc.poll() is None:
            return 1
        if self._signals:
            return 0
        if proc is not None:  # died without being asked to
            self._say(f"redsweep worker {self.id}: slot {slot.index} exited ({proc.returncode})")
            quick = now - slot.started_at < 60
            slot.restarts = slot.restarts + 1 if quick else 0
            wait = RESTART_BACKOFF_S[min(slot.restarts, len(RESTART_BACKOFF_S) - 1)]
            slot.restart_at = now + wait
            slot.proc = None
        if now >= slot.restart_at:
            self._start(slot)
            return 1
        return 0

    def _start(self, slot: _Slot) -> None:
        env = {**os.environ, "REDSWEEP_REDIS_URL": self.url}
        if slot.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = slot.gpu
        argv = [sys.executable, "-m", "redsweep.worker.daemon.slot"]
        argv += ["--daemon", self.id, "--slot", str(slot.index), "--pool", self.pool]
        if self.trial_timeout is not None:
            argv += ["--trial-timeout", repr(float(self.trial_timeout))]
        slot.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL)
        slot.started_at = time.monotonic()

    def _register(self, store: Store) -> None:
        try:
            store.daemons.register(
                self.id,
                host=host(),
                pid=os.getpid(),
                pool=self.pool,
                slots=len(self.slots),
                gpus=self.gpus,
                ttl_ms=REGISTER_TTL_MS,
            )
        except UnreachableError:
            self._redis.failed()
            return
        except RedsweepError as exc:
            if self._registered_ok:
                self._say(f"redsweep worker {self.id}: {exc}; retrying")
            self._registered_ok = False
            return
        self._redis.ok()
        self._registered_ok = True

    def _say_outage(self, line: str) -> None:
        wait = " (slots and sessions wait too)" if line.endswith("; retrying") else ""
        self._say(f"redsweep worker {self.id}: {line}{wait}")

    def _stop_all(self, sig: int, wait_s: float) -> None:
        procs = [s.proc for s in self.slots if s.proc is not None and s.proc.poll() is None]
        if not procs:
            return
        deadline = time.monotonic() + wait_s
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.0, deadline - time.monotonic()))
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, sig)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5.0)

    # ---- signals -----------------------------------------------------------------------------

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def _restore_signals(self, previous: dict[int, Any]) -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        now = time.monotonic()
        if self._signals and now - self._last_signal < 1.0:
            return  # the same Ctrl+C reaching the whole process group, or a repeat
        self._signals += 1
        self._last_signal = now
        for slot in self.slots:  # the slots' RQ workers drain (first) or stop (second)
            if slot.proc is not None and slot.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(slot.proc.pid, signal.SIGTERM)
        then = "sessions finish their current trial" if self._signals == 1 else "stopping now"
        with contextlib.suppress(OSError, ValueError, RuntimeError):
            self._say(f"redsweep worker {self.id}: {signal.Signals(signum).name}: {then}")
        self._wake.set()

    def _say(self, text: str) -> None:
        print(text, file=self.out, flush=True)


# ---- what runs where (``redsweep workers``) ----------------------------------------------------


@dataclass(frozen=True)
class SlotView:
    """One slot of a daemon as RQ sees it: ``state`` is idle, busy or down."""

    index: int
    gpu: str | None
    state: str
    sweep_id: str | None = None
    job_id: str | None = None
    since: str | None = None


def describe(store: Store) -> list[tuple[DaemonInfo, list[SlotView]]]:
    """Every live daemon with what each of its slots runs."""
    from rq.worker import Worker

    from redsweep.shared.protocol import MsgpackSerializer

    workers: dict[tuple[str, int], tuple[int, Any]] = {}
    for worker in Worker.all(
        connection=store.client, job_class=SessionJob, serializer=MsgpackSerializer
    ):
        parsed = parse_worker_name(worker.name)
        if parsed is None:
            continue
        daemon_id, slot, generation = parsed
        known = workers.get((daemon_id, slot))
        if known is None or known[0] < generation:
            workers[(daemon_id, slot)] = (generation, worker)
    out = []
    for daemon in store.daemons.live():
        views = []
        for i in range(daemon.slots):
            gpu = daemon.gpus[i] if i < len(daemon.gpus) else None
            found = workers.get((daemon.id, i))
            if found is None:
                views.append(SlotView(i, gpu, "down"))
                continue
            worker = found[1]
            job = None
            with contextlib.suppress(Exception):
                job = worker.get_current_job()
            if job is None:
                views.append(SlotView(i, gpu, "idle"))
                continue
            sweep_id = job.sweep_id() if isinstance(job, SessionJob) else None
            since = job.started_at.strftime("%Y-%m-%d %H:%M:%S UTC") if job.started_at else None
            views.append(SlotView(i, gpu, "busy", sweep_id, job.id, since))
        out.append((daemon, views))
    return out


def queued_sessions(store: Store) -> dict[str, int]:
    """How many sessions wait on each known pool's queue."""
    return {pool: len(pool_queue(store, pool)) for pool in store.daemons.pools()}
