"""Every Redis key name redsweep uses, as pure functions of ids, and the allowed state changes.

Keys are prefixed ``redsweep:``; a sweep's keys share the hash tag ``{SWEEP_ID}`` so they live in
one cluster slot and one Lua script may touch them together. The layout::

    redsweep:sweeps                          zset   sweep id -> creation time (server, in µs)
    redsweep:{S}:sweep                       hash   id, state, config (packed), project, name,
                                                    created_ms, updated_ms, finished_ms,
                                                    grid_size, run_cap, issued, seq, epoch,
                                                    controller, best_value, best_trial,
                                                    done_reason, crashes_handled,
                                                    tell_claims ('0': a claim adds no
                                                    event), n_<trial state> counters,
                                                    prior_runs
                                                    (W&B's prior runs: "SWEEP/RUN,..." the
                                                    engine counts as runs of this sweep)
    redsweep:{S}:controller                  string the controller lease: holder, PX ttl
    redsweep:{S}:handover                    string a dedicated controller asking an agent's
                                                    background controller to yield, PX ttl
    redsweep:{S}:trials                      zset   trial id -> seq
    redsweep:{S}:running                     set    ids of running trials (for trials.lapsed)
    redsweep:{S}:trial:{T}                   hash   seq, state, attempt, retry_of,
                                                    retried_by, token (while running, and of
                                                    the finish that ended it), params (packed,
                                                    in CHUNK_BYTES chunks: params, params2,
                                                    ...), worker, created_ms, claimed_ms,
                                                    finished_ms, error, log_tail, best,
                                                    last_step, history_rows, warning,
                                                    stop_requested, stop_reason (once asked),
                                                    history_stride (once not 1), log_host,
                                                    log_path (where its output is; chunked);
                                                    while it runs: lease_until (the lease's
                                                    deadline, server ms), last_report
    redsweep:{S}:trial:{T}:lease             string the trial lease: token, PX lease_ms
    redsweep:{S}:trial:{T}:summary           hash   metric name -> packed last value
    redsweep:{S}:trial:{T}:rows              string logged rows, thinned past the history cap:
                                                    per row its step, then the row (packed),
                                                    appended (protocol.unpack_rows reads it)
    redsweep:{S}:trial:{T}:latest            hash   the latest row when the rows lack it
    redsweep:{S}:queue                       list   encoded TrialMessage bytes (LPOP side first)
    redsweep:{S}:inflight:{A}                list   entries agent A popped and has not acked
    redsweep:{S}:inflight_agents             set    agents that ever popped (to find orphans)
    redsweep:{S}:agents                      zset   agent id -> lease expiry ms (server time)
    redsweep:{S}:agent:{A}                   hash   host, busy, seen_ms, started_ms
    redsweep:{S}:dead                        stream dead letters: raw, reason, agent
    redsweep:{S}:events                      stream controller inbox (group "controller")
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from redsweep.errors import NotFoundError
from redsweep.shared.records import RunState, SweepState

PREFIX = "redsweep"
EVENTS_GROUP = "controller"
#: A trial hash's long values (params, log_path) are kept in chunks of this many bytes at most,
#: in fields NAME, NAME2, NAME3, ...: a longer value would turn the whole hash from Redis'
#: compact listpack encoding (hash-max-listpack-value, 64 by default) into a table some 600
#: bytes bigger. A value goes on while a chunk is this long (add_trial.lua, claim.lua).
CHUNK_BYTES = 64


def chunked(name: str, value: bytes) -> dict[str, bytes]:
    """``value`` as the fields of a trial hash that hold it (:data:`CHUNK_BYTES`)."""
    out = {name: value[:CHUNK_BYTES]}
    for k, start in enumerate(range(CHUNK_BYTES, len(value), CHUNK_BYTES), start=2):
        out[f"{name}{k}"] = value[start : start + CHUNK_BYTES]
    return out


def unchunked(raw: Mapping[bytes, bytes], name: str) -> bytes | None:
    """The value :func:`chunked` spread over the fields of ``raw`` (a hash as HGETALL returns
    it); None when the field ``name`` is not there."""
    first = raw.get(name.encode())
    if first is None or len(first) != CHUNK_BYTES:
        return first
    parts, k = [first], 2
    while True:
        more = raw.get(f"{name}{k}".encode(), b"")
        parts.append(more)
        if len(more) < CHUNK_BYTES:
            return b"".join(parts)
        k += 1


# ---- the state machines (enforced by the Lua scripts in shared/store/scripts/) ---------------

#: Trial state -> the states it may change to, and which script does it.
#:   pending -> running                        claim.lua, take.lua (same attempt)
#:   pending -> killed | stopped               kill.lua
#:   running -> pending                        release.lua (current token, never reported:
#:                                             claimed by take.lua but not started)
#:   running -> finished | failed | crashed | killed | stopped
#:                                             finish.lua (current token)
#:   running -> killed | stopped               kill.lua
#:   running -> crashed                        reap.lua (lease key gone)
#:   terminal states never change.
TRIAL_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.PENDING: frozenset({RunState.RUNNING, RunState.KILLED, RunState.STOPPED}),
    RunState.RUNNING: frozenset(
        {
            RunState.PENDING,
            RunState.FINISHED,
            RunState.FAILED,
            RunState.CRASHED,
            RunState.KILLED,
            RunState.STOPPED,
        }
    ),
    RunState.FINISHED: frozenset(),
    RunState.FAILED: frozenset(),
    RunState.CRASHED: frozenset(),
    RunState.KILLED: frozenset(),
    RunState.STOPPED: frozenset(),
}

#: States a trial may be finished into by the agent holding its token (finish.lua).
FINISH_STATES = TRIAL_TRANSITIONS[RunState.RUNNING] - {RunState.PENDING}
#: States kill.lua may set.
KILL_STATES = frozenset({RunState.KILLED, RunState.STOPPED})

#: Sweep state -> the states it may change to (set_sweep_state.lua, with the caller's
#: ``allowed_from`` narrowing it further; the verbs are in :mod:`redsweep.control`):
#:   pending  -> running (a controller starts it) | paused | finished (stop) | canceled
#:   running  -> paused | finished (done, or stop) | canceled
#:   paused   -> running (resume) | finished (stop) | canceled
#:   finished -> running (resume) | canceled (kill what a stop let run)
#:   canceled -> running (resume)
#: Trials start only while the sweep is pending or running (claim.lua refuses otherwise).
SWEEP_TRANSITIONS: dict[SweepState, frozenset[SweepState]] = {
    SweepState.PENDING: frozenset(
        {SweepState.RUNNING, SweepState.PAUSED, SweepState.FINISHED, SweepState.CANCELED}
    ),
    SweepState.RUNNING: frozenset({SweepState.PAUSED, SweepState.FINISHED, SweepState.CANCELED}),
    SweepState.PAUSED: frozenset({SweepState.RUNNING, SweepState.FINISHED, SweepState.CANCELED}),
    SweepState.FINISHED: frozenset({SweepState.RUNNING, SweepState.CANCELED}),
    SweepState.CANCELED: frozenset({SweepState.RUNNING}),
}

#: Sweep states in which no trial may start (claim.lua, take.lua): paused, and those of a sweep
#: that is over (:attr:`SweepState.is_over`), to which add_trial.lua adds none either.
NO_START_STATES = frozenset({SweepState.PAUSED, *(s for s in SweepState if s.is_over)})


# ---- key names ---------------------------------------------------------------------------------


def sweeps_index() -> str:
    """All sweeps by creation time (a zset)."""
    return f"{PREFIX}:sweeps"


# Ids end up inside hash tags and key names: no braces, colons or whitespace. A sweep or trial
# id is 1 to MAX_ID_CHARS ASCII letters, digits and ID_PUNCTUATION.
ID_PUNCTUATION = "_.@-"
MAX_ID_CHARS = 128
_ID = re.compile(rf"[A-Za-z0-9{re.escape(ID_PUNCTUATION)}]{{1,{MAX_ID_CHARS}}}\Z")
#: :func:`valid_id` as a Lua pattern, without the length limit (take.lua checks the trial id
#: of a queue entry with it and MAX_ID_CHARS before it claims the trial).
ID_LUA_PATTERN = "^[A-Za-z0-9" + "".join(f"%{c}" for c in ID_PUNCTUATION) + "]+$"


def valid_id(value: str) -> bool:
    """Whether ``value`` may be used as a sweep, trial or agent id."""
    return isinstance(value, str) and _ID.match(value) is not None


def _sweep(sweep_id: str) -> str:
    if isinstance(sweep_id, str):  # an agent builds ~20 keys per trial: each id checked once
        return _sweep_prefix(sweep_id)
    raise NotFoundError(f"no sweep {sweep_id!r}: not a valid sweep id")


@functools.lru_cache(maxsize=256)
def _sweep_prefix(sweep_id: str) -> str:
    if not valid_id(sweep_id):
        raise NotFoundError(f"no sweep {sweep_id!r}: not a valid sweep id")
    return f"{PREFIX}:{{{sweep_id}}}"


_AGENT_ID = re.compile(r"[A-Za-z0-9_.@:-]{1,200}\Z")


def _agent(agent_id: str) -> str:
    if not isinstance(agent_id, str) or not _AGENT_ID.match(agent_id):
        raise ValueError(f"agent id {agent_id!r} must match [A-Za-z0-9_.@:-], 1-200 characters")
    return agent_id


def _trial(trial_id: str) -> str:
    if not valid_id(trial_id):
        raise NotFoundError(f"no trial {trial_id!r}: not a valid trial id")
    return trial_id


def sweep(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:sweep"


def controller(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:controller"


def handover(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:handover"


def trials(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:trials"


def running(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:running"


def trial(sweep_id: str, trial_id: str) -> str:
    if isinstance(sweep_id, str) and isinstance(trial_id, str):
        return _trial_key(sweep_id, trial_id)
    return f"{trial_prefix(sweep_id)}{_trial(trial_id)}"  # raises: not an id


@functools.lru_cache(maxsize=1024)  # the trials an agent or a controller round works on
def _trial_key(sweep_id: str, trial_id: str) -> str:
    return f"{trial_prefix(sweep_id)}{_trial(trial_id)}"


def trial_prefix(sweep_id: str) -> str:
    """What a trial's hash key is, but for the trial id (take.lua builds it from an entry)."""
    return f"{_sweep(sweep_id)}:trial:"


def trial_lease(sweep_id: str, trial_id: str) -> str:
    return f"{trial(sweep_id, trial_id)}:lease"


def trial_summary(sweep_id: str, trial_id: str) -> str:
    return f"{trial(sweep_id, trial_id)}:summary"


def trial_history(sweep_id: str, trial_id: str) -> str:
    """The trial's stored rows, one string (not the stream ``:history`` of stores before
    the packed layout: that one is not read)."""
    return f"{trial(sweep_id, trial_id)}:rows"


def trial_latest(sweep_id: str, trial_id: str) -> str:
    return f"{trial(sweep_id, trial_id)}:latest"


def queue(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:queue"


def inflight(sweep_id: str, agent_id: str) -> str:
    return f"{_sweep(sweep_id)}:inflight:{_agent(agent_id)}"


def inflight_agents(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:inflight_agents"


def agents(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:agents"


def agent(sweep_id: str, agent_id: str) -> str:
    return f"{_sweep(sweep_id)}:agent:{_agent(agent_id)}"


def dead_letters(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:dead"


def events(sweep_id: str) -> str:
    return f"{_sweep(sweep_id)}:events"


# ---- worker daemons and their pools (store.daemons) ---------------------------------------------
#
#   redsweep:daemons                         zset   daemon id -> registration expiry ms (server)
#   redsweep:daemon:{D}                      hash   host, pid, pool, slots, gpus, started_ms,
#                                                   seen_ms
#   redsweep:pools                           set    pool names sessions were launched onto
#   rq:queue:redsweep-pool-{P}               list   RQ's queue of agent sessions for pool P


def daemons() -> str:
    """Live worker daemons by registration expiry (a zset)."""
    return f"{PREFIX}:daemons"


def daemon(daemon_id: str) -> str:
    return f"{PREFIX}:daemon:{_agent(daemon_id)}"


def pools() -> str:
    """Names of the pools that ever had a daemon or a launched session (a set)."""
    return f"{PREFIX}:pools"


_POOL = re.compile(r"[A-Za-z0-9_.-]{1,64}\Z")


def pool_queue(pool: str) -> str:
    """The RQ queue name (not a key: RQ prefixes it) of pool ``pool``'s agent sessions."""
    if not isinstance(pool, str) or not _POOL.match(pool):
        raise ValueError(f"pool name {pool!r} must match [A-Za-z0-9_.-], 1-64 characters")
    return f"{PREFIX}-pool-{pool}"
