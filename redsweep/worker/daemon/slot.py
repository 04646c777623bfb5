"""One slot of a worker daemon: an RQ worker on the pool's queue, in its own process.

``python -m redsweep.worker.daemon.slot --daemon D --slot I --pool P [--trial-timeout S]`` (by
:mod:`redsweep.worker.daemon.pool`, with ``REDSWEEP_REDIS_URL`` and, for GPU slots,
``CUDA_VISIBLE_DEVICES`` in its environment). The RQ worker forks a work horse per agent
session. What this adds to RQ's worker:

* msgpack job data and :class:`~redsweep.worker.daemon.job.SessionJob` (only agent sessions
  run), job descriptions (arguments) never logged;
* a warm shutdown (SIGTERM) drains: the running session finishes its current trial, then ends;
* a canceled sweep ends its session even if RQ's stop-job message was lost: the worker checks
  the stored sweep state while the session runs;
* stopping a session also ends its trial's processes (they run in process groups of their own);
* Redis outages: RQ's worker retries its dequeue with back-off by itself (it logs each try:
  only the first line of an outage is kept, :class:`OutageLines`); heartbeats that fail are
  skipped, and a worker loop that gives up anyway is started again with back-off, so the slot
  keeps serving when Redis is back. The session in the work horse rides the outage out itself.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from rq.worker import Worker

from redsweep.errors import RedsweepError
from redsweep.shared.protocol import MsgpackSerializer
from redsweep.shared.records import SweepState
from redsweep.shared.store import Store
from redsweep.shared.store.daemons import CONNECTION_ERRORS
from redsweep.worker.daemon.job import SessionJob, pool_queue

#: RQ worker registration TTL (s); a slot that died vanishes from ``rq info`` within ~this.
WORKER_TTL_S = 30
#: How often a busy slot beats and looks at its sweep's state (s).
MONITOR_S = 2
#: A canceled sweep's session gets this long to end by itself before it is stopped (s).
CANCEL_GRACE_S = 5.0
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)
#: An outage line of RQ's after this long without one is a new outage (s): RQ retries at
#: least every 5 s (SlotWorker.max_connection_wait_time) while Redis is away.
OUTAGE_QUIET_S = 30.0
_PR_SET_PDEATHSIG = 1


def worker_name(daemon_id: str, slot: int, generation: int = 0) -> str:
    """The RQ worker name of a slot: ``redsweep.DAEMON.sSLOT.GENERATION``."""
    return f"redsweep.{daemon_id}.s{slot}.{generation}"


def parse_worker_name(name: str) -> tuple[str, int, int] | None:
    """(daemon id, slot, generation) of a slot's RQ worker name; None for other workers."""
    parts = name.split(".")
    if len(parts) != 4 or parts[0] != "redsweep" or not parts[2].startswith("s"):
        return None
    try:
        return parts[1], int(parts[2][1:]), int(parts[3])
    except ValueError:
        return None


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Get ``sig`` when the parent process dies (Linux; elsewhere nothing)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (Linux /proc; elsewhere none)."""
    children: dict[int, list[int]] = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat_file.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class SlotWorker(Worker):
    """RQ's forking worker, adapted to agent sessions (see the module docstring)."""

    log_job_description = False
    max_connection_wait_time = 5.0  # reconnect soon after Redis comes back

    def __init__(
        self, *args: Any, store: Store, trial_timeout: float | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.store = store
        self.trial_timeout = trial_timeout
        self._canceled_since: float | None = None

    def main_work_horse(self, job: Any, queue: Any) -> None:
        die_with_parent()  # a horse left alone drains, like on SIGTERM
        if isinstance(job, SessionJob):  # the daemon's, for a session launched without one
            job.daemon_trial_timeout = self.trial_timeout
        super().main_work_horse(job, queue)

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        if self.horse_pid:  # the session finishes its current trial, then ends
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)

    def kill_horse(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Kill the horse and every process it started (trial commands run in process
        groups of their own, which RQ's kill of the horse's group would miss)."""
        if not self.horse_pid:
            return
        groups = set()
        for pid in descendants(self.horse_pid):
            with contextlib.suppress(OSError):
                groups.add(os.getpgid(pid))
        super().kill_horse(sig)
        for group in groups - {os.getpgrp()}:
            with contextlib.suppress(OSError):
                os.killpg(group, sig)

    def unsubscribe(self) -> None:
        """RQ's, in an order that cannot stall a drain for a minute. RQ unsubscribes, then
        stops its pubsub thread; redis-py 8's ``stop()`` waits for that thread, which may have
        taken the unsubscribe's reply first and sat down to wait up to RQ's 60 s for a
        subscription. Stopping the thread first (without waiting) lets the reply end it."""
        thread = self.pubsub_thread
        if not thread:
            return
        try:
            thread.stop(timeout=0)  # redis-py 8: clear the run flag, wait no longer
        except TypeError:  # earlier redis-py: stop() only clears the flag
            thread.stop()
        self.pubsub.unsubscribe()
        thread.join(timeout=1)
        self.pubsub.close()

    def execute_job(self, job: Any, queue: Any) -> None:
        self._canceled_since = None
        super().execute_job(job, queue)

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        try:
            super().maintain_heartbeats(job, execution)
        except CONNECTION_ERRORS as exc:
            self.log.warning("Worker %s: heartbeat skipped, Redis unreachable: %s", self.name, exc)
        self._stop_if_canceled(job)

    def _stop_if_canceled(self, job: Any) -> None:
        sweep_id = job.sweep_id() if isinstance(job, SessionJob) else None
        if sweep_id is None or not self.horse_pid:
            return
        try:
            state = self.store.sweeps.get(sweep_id).state
        except RedsweepError:
            return
        if state is not SweepState.CANCELED:
            self._canceled_since = None
            return
        now = time.monotonic()
        if self._canceled_since is None:
            self._canceled_since = now
        elif now - self._canceled_since >= CANCEL_GRACE_S:
            self.log.warning(
                "Worker %s: sweep %s was canceled; stopping its session", self.name, sweep_id
            )
            self._stopped_job_id = job.id  # RQ records it as stopped, like a stop-job command
            self.kill_horse()


class OutageLines(logging.Filter):
    """Keep the first of RQ's lines about Redis being unreachable in an outage, drop the rest:
    RQ logs one per retry (every few seconds) and one per skipped heartbeat."""

    MARKS = ("could not connect to Redis instance", "heartbeat skipped, Redis unreachable")

    def __init__(self) -> None:
        super().__init__()
        self._last = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if not any(mark in str(record.msg) for mark in self.MARKS):
            return True
        now, last = time.monotonic(), self._last
        self._last = now
        return now - last > OUTAGE_QUIET_S


def make_worker(url: str, pool: str, name: str, trial_timeout: float | None = None) -> SlotWorker:
    store = Store.from_url(url)
    rq_store = Store.from_url(url)  # RQ sets its own socket timeout on this connection
    queue = pool_queue(rq_store, pool)
    return SlotWorker(
        [queue],
        name=name,
        connection=rq_store.client,
        job_class=SessionJob,
        serializer=MsgpackSerializer,
        log_job_description=False,
        worker_ttl=WORKER_TTL_S,
        job_monitoring_interval=MONITOR_S,
        store=store,
        trial_timeout=trial_timeout,
    )


def run_slot(
    url: str, pool: str, daemon_id: str, slot: int, trial_timeout: float | None = None
) -> int:
    """Serve the pool's queue until a SIGTERM/SIGINT drains this slot; returns an exit code."""
    stop: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        stop.append(signum)

    logging.getLogger("rq.worker").addFilter(OutageLines())
    generation, failures = 0, 0
    while not stop:
        name = worker_name(daemon_id, slot, generation)
        worker = make_worker(url, pool, name, trial_timeout)
        started = time.monotonic()
        try:
            worker.work(logging_level="INFO", with_scheduler=False)
        except CONNECTION_ERRORS as exc:
            print(f"redsweep slot {slot}: Redis unreachable: {exc}", file=sys.stderr)
        except RedsweepError as exc:
            print(f"redsweep slot {slot}: {exc}", file=sys.stderr)
        finally:
            signal.signal(signal.SIGTERM, on_signal)  # RQ's handlers belong to that worker
            signal.signal(signal.SIGINT, on_signal)
            with contextlib.suppress(Exception):
                worker.store.close()
                worker.connection.close()
        if worker._shutdown_requested_date is not None or stop:
            break
        # the worker loop gave up (Redis went away): start a fresh one, with back-off
        failures = 0 if time.monotonic() - started > 60 else failures + 1
        wait = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
        print(f"redsweep slot {slot}: worker loop ended; again in {wait} s", file=sys.stderr)
        deadline = time.monotonic() + wait
        while not stop and time.monotonic() < deadline:
            time.sleep(0.1)
        generation += 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m redsweep.worker.daemon.slot")
    parser.add_argument("--daemon", required=True)
    parser.add_argument("--slot", type=int, required=True)
    parser.add_argument("--pool", required=True)
    parser.add_argument("--trial-timeout", type=float)
    args = parser.parse_args(argv)
    url = os.environ.get("REDSWEEP_REDIS_URL")
    if not url:
        print("redsweep slot: REDSWEEP_REDIS_URL is not set", file=sys.stderr)
        return 2
    die_with_parent()
    return run_slot(url, args.pool, args.daemon, args.slot, args.trial_timeout)


if __name__ == "__main__":
    sys.exit(main())
