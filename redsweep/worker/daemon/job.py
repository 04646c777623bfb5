"""Agent sessions as RQ jobs: the one entry point a daemon runs, its job class, and launching.

An RQ job on a pool's queue means "serve sweep S (for up to N trials)". Its data is msgpack
(:class:`~redsweep.shared.protocol.MsgpackSerializer`, never pickle) and names
:data:`ENTRY`; :class:`SessionJob` refuses every other job before importing anything, so a job
pushed by hand that names ``os.system`` fails with a reason and nothing runs. The job carries no
Redis URL (no password in job data): the session uses the daemon's ``REDSWEEP_REDIS_URL``.
A session's trial timeout is the job's ``trial_timeout`` (``launch --trial-timeout``), else the
daemon's (``worker --trial-timeout``, handed to the job in the work horse), else the config's.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from rq.exceptions import DeserializationError
from rq.job import Job
from rq.queue import Queue

from redsweep.errors import NotFoundError, RedsweepError, StoreError, SweepLostError
from redsweep.shared.engine.config import parse_config
from redsweep.shared.protocol import MsgpackSerializer
from redsweep.shared.records import RunState
from redsweep.shared.store import Store, keys

#: The only function a daemon runs.
ENTRY = "redsweep.worker.daemon.job.run_session"
DEFAULT_POOL = "default"
#: How long RQ keeps a session job's record after it ends (seconds).
RESULT_TTL_S = 24 * 3600
FAILURE_TTL_S = 7 * 24 * 3600
#: Back-off while the session cannot reach Redis (seconds).
BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)


class RefusedJob(DeserializationError):
    """A job on a pool queue that is not an agent session; it is failed and nothing runs."""


class LaunchError(RedsweepError):
    """Sessions cannot be launched for this sweep (say why, in one line)."""


def _seconds(value: Any) -> bool:
    """None, or a positive finite number of seconds."""
    if value is None:
        return True
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return number and math.isfinite(value) and value > 0


def _count(value: Any) -> bool:
    """A whole number, 0 or more (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check(job_id: str, data: Any) -> tuple[str, list[Any], dict[str, Any]]:
    """The job's (func name, args, kwargs) if it is an agent session; RefusedJob otherwise."""
    if not isinstance(data, list) or len(data) != 4:
        raise RefusedJob(f"refused job {job_id}: its data is not an RQ job tuple; nothing ran")
    func_name, instance, args, kwargs = data
    if func_name != ENTRY or instance is not None:
        raise RefusedJob(
            f"refused job {job_id}: it names {func_name!r}, and redsweep worker daemons run "
            f"only agent sessions ({ENTRY}); nothing ran"
        )
    count = kwargs.get("count") if isinstance(kwargs, dict) else None
    timeout = kwargs.get("trial_timeout") if isinstance(kwargs, dict) else None
    retries = kwargs.get("retries") if isinstance(kwargs, dict) else None
    if (
        not isinstance(args, list)
        or len(args) != 1
        or not isinstance(args[0], str)
        or not keys.valid_id(args[0])
        or not isinstance(kwargs, dict)
        or set(kwargs) - {"count", "trial_timeout", "retries"}
        or not (count is None or (isinstance(count, int) and count >= 0))
        or not _seconds(timeout)
        or not (retries is None or _count(retries))
    ):
        raise RefusedJob(
            f"refused job {job_id}: an agent session takes (sweep_id, count=None, "
            "trial_timeout=None: seconds > 0, retries=None: 0 or more), "
            f"not args={args!r} kwargs={kwargs!r}; nothing ran"
        )
    return func_name, args, kwargs


class SessionJob(Job):
    """RQ's Job, limited to agent sessions: the data is checked as it is decoded (before any
    import), the function is never looked up by name, and callbacks and webhooks are off."""

    #: the daemon's ``--trial-timeout`` (set by its slot in the work horse): for a session
    #: launched without one
    daemon_trial_timeout: float | None = None

    def _deserialize_data(self) -> None:
        try:
            data = self.serializer.loads(self.data)
        except Exception as exc:
            raise RefusedJob(
                f"refused job {self.id}: its data is not redsweep's msgpack (pushed with "
                "another serializer?); nothing ran"
            ) from exc
        _, args, kwargs = _check(self.id, data)
        self._func_name, self._instance, self._args, self._kwargs = ENTRY, None, args, kwargs

    @property
    def func(self) -> Callable[..., Any]:
        if self.func_name != ENTRY:  # decoding checked it; this guards a later assignment
            raise RefusedJob(f"refused job {self.id}: {self.func_name!r} is not {ENTRY}")
        return functools.partial(run_session, daemon_trial_timeout=self.daemon_trial_timeout)

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    def send_webhooks(self, *args: Any, **kwargs: Any) -> None:
        return None

    def sweep_id(self) -> str | None:
        """The sweep this session serves (None for a refused job)."""
        try:
            return self.args[0]
        except (DeserializationError, IndexError):
            return None


# ---- the session, in the daemon's work horse ---------------------------------------------------


@contextlib.contextmanager
def _drain_flag() -> Iterator[list[int]]:
    """SIGTERM before or between sessions: leave instead of starting one (the agent session
    installs its own handler while it runs)."""
    got: list[int] = []
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
        try:
            yield got
        finally:
            signal.signal(signal.SIGTERM, previous)
    else:
        yield got


def run_session(
    sweep_id: str,
    count: int | None = None,
    trial_timeout: float | None = None,
    retries: int | None = None,
    *,
    daemon_trial_timeout: float | None = None,
) -> dict[str, Any]:
    """Serve ``sweep_id`` as an agent session until the sweep is over, ``count`` trials ran or
    the daemon drains; returns what it did (plain values, stored by RQ as the job's result).
    Trials are limited to ``trial_timeout`` seconds, else the daemon's, else the config's; a
    crashed trial runs again up to ``retries`` times (else the config's) when the session runs
    the sweep's controller or reaps a lapsed trial.

    A Redis outage does not end the session: it waits with back-off and serves on. When the
    sweep is done but trials still run elsewhere, the session stays (with a controller on
    standby) until the sweep is finished, so a trial that crashes there is run again here.
    """
    from redsweep.worker.agent.result import EndReason
    from redsweep.worker.agent.session import AgentSession

    url = os.environ.get("REDSWEEP_REDIS_URL")
    if not url:
        raise RedsweepError("REDSWEEP_REDIS_URL is not set in the worker daemon's environment")
    done: dict[str, Any] = {"sweep_id": sweep_id, "ran": 0, "finished": 0, "failed": 0}
    timeout = trial_timeout if trial_timeout is not None else daemon_trial_timeout
    failures = 0
    with _drain_flag() as drained:
        while not drained:
            left = None if count is None else count - done["ran"]
            if left is not None and left <= 0:
                done["reason"] = EndReason.COUNT_REACHED.text(ran=done["ran"])
                break
            session = AgentSession(
                url, sweep_id, count=left, trial_timeout=timeout, retries=retries
            )
            try:
                try:
                    result = session.run()
                except NotFoundError:  # the sweep was there at launch: lost, unless a bug
                    lost = _lost(url, sweep_id)
                    if lost is None:
                        raise
                    raise lost from None
            except SweepLostError as exc:  # Redis lost its data: say so once, end the session
                _add(done, session.result)
                print(f"redsweep: {exc}", file=sys.stderr, flush=True)
                done["reason"] = str(exc)
                break
            except StoreError as exc:
                _add(done, session.result)
                wait = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
                failures += 1
                print(f"redsweep: session lost Redis ({exc}); again in {wait} s", file=sys.stderr)
                _sleep(wait, drained)
                continue
            failures = 0
            _add(done, result)
            done["agent_id"] = result.agent_id
            done["reason"] = result.why
            if result.reason is not EndReason.SWEEP_DONE or not _more_work(url, sweep_id, drained):
                break
        if drained:
            done["reason"] = "drained"
    return done


def _lost(url: str, sweep_id: str) -> SweepLostError | None:
    """SweepLostError when Redis no longer holds ``sweep_id`` (it existed when the session
    was launched onto the pool), None while it does."""
    store = Store.from_url(url)
    try:
        return store.sweeps.lost(sweep_id)
    finally:
        store.close()


def _sleep(seconds: float, drained: list[int]) -> None:
    deadline = time.monotonic() + seconds
    while not drained and time.monotonic() < deadline:
        time.sleep(0.1)


def _more_work(url: str, sweep_id: str, drained: list[int]) -> bool:
    """Wait while a done sweep still has trials running elsewhere: True when a trial is queued
    again (a retry), False when the sweep is over (or the daemon drains)."""
    from redsweep.controller.background import start_background
    from redsweep.controller.lifecycle import describe

    def failed(error: BaseException) -> None:
        print(f"redsweep: the controller of sweep {sweep_id} failed: {describe(error)}",
              file=sys.stderr, flush=True)  # fmt: skip

    # takes over if the running one goes away; a failed one is not waited for
    controller = start_background(url, sweep_id, on_error=failed)
    store = Store.from_url(url)
    try:
        while not drained and not controller.failed:
            try:
                info = store.sweeps.get(sweep_id)
                if info.state.is_over:
                    return False
                if info.count(RunState.PENDING) or store.queue.length(sweep_id):
                    return True
            except NotFoundError:
                return False
            except StoreError:
                pass
            _sleep(0.5, drained)
        return False
    finally:
        controller.stop()
        store.close()


def _add(done: dict[str, Any], result: Any) -> None:
    done["ran"] += result.ran
    done["finished"] += result.finished
    done["failed"] += result.failed


# ---- launching and stopping sessions ----------------------------------------------------------


def pool_queue(store: Store, pool: str) -> Queue:
    """The RQ queue of ``pool`` on the store's connection, with redsweep's job class."""
    try:
        name = keys.pool_queue(pool)
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    return Queue(name, connection=store.client, job_class=SessionJob, serializer=MsgpackSerializer)


def launch(
    store: Store,
    sweep_id: str,
    n: int = 1,
    *,
    pool: str = DEFAULT_POOL,
    count: int | None = None,
    trial_timeout: float | None = None,
    retries: int | None = None,
) -> list[str]:
    """Enqueue ``n`` agent sessions for ``sweep_id`` on ``pool`` (each stopping a trial after
    ``trial_timeout`` seconds and retrying a crashed one ``retries`` times, if given); returns
    the RQ job ids.

    Only a sweep with a ``program`` or ``command`` can be launched: a Python function
    objective lives in the process that calls ``redsweep.agent`` and cannot travel.
    """
    info = store.sweeps.get(sweep_id)
    if info.state.is_over:
        raise LaunchError(f"sweep {sweep_id} is {info.state.value}; nothing to launch")
    config = parse_config(info.config)
    if config.program is None and not config.command:
        raise LaunchError(
            f"sweep {sweep_id} has no program or command: its objective is a Python function, "
            "which cannot travel to worker daemons; add `program:` to the config, or run "
            "redsweep.agent(sweep_id, function=...) in your own process"
        )
    if not _seconds(trial_timeout):
        raise LaunchError(
            f"trial_timeout must be a positive number of seconds, not {trial_timeout!r}"
        )
    if not (retries is None or _count(retries)):
        raise LaunchError(f"retries must be 0 or more, not {retries!r}")
    kwargs: dict[str, Any] = {"count": count}
    if trial_timeout is not None:  # only then: a daemon of an older version refuses the key
        kwargs["trial_timeout"] = float(trial_timeout)
    if retries is not None:  # likewise
        kwargs["retries"] = retries
    queue = pool_queue(store, pool)
    store.daemons.add_pool(pool)
    ids = []
    for _ in range(n):
        job = queue.enqueue_call(
            ENTRY,
            args=(sweep_id,),
            kwargs=kwargs,
            timeout=-1,  # a session runs as long as its sweep needs
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            description=f"agent session for sweep {sweep_id}",
        )
        ids.append(job.id)
    return ids


def session_jobs(store: Store, pool: str) -> tuple[list[SessionJob], list[SessionJob]]:
    """The (queued, started) session jobs of ``pool``."""
    queue = pool_queue(store, pool)
    queued = [j for j in queue.get_jobs() if isinstance(j, SessionJob)]
    started_ids = queue.started_job_registry.get_job_ids()
    started = [
        j
        for j in SessionJob.fetch_many(
            started_ids, connection=store.client, serializer=MsgpackSerializer
        )
        if j is not None
    ]
    return queued, started


def stop_sessions(store: Store, sweep_id: str) -> int:
    """End the sessions of ``sweep_id`` on every pool: queued ones are canceled, running ones
    get RQ's stop-job command. Call it after storing the sweep's ``canceled`` state: a lost
    command changes nothing, since daemons also check the stored state. Returns how many."""
    from rq.command import send_stop_job_command
    from rq.exceptions import InvalidJobOperation, NoSuchJobError

    n = 0
    for pool in store.daemons.pools():
        queued, started = session_jobs(store, pool)
        for job in queued:
            if job.sweep_id() == sweep_id:
                with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                    job.cancel()
                    n += 1
        for job in started:
            if job.sweep_id() == sweep_id:
                with contextlib.suppress(InvalidJobOperation, NoSuchJobError):
                    send_stop_job_command(store.client, job.id, serializer=MsgpackSerializer)
                    n += 1
    return n
