"""Reading results in Python, shaped like W&B's public API (``wandb.Api()``)::

    import redsweep
    api = redsweep.Api()                      # --redis / REDSWEEP_REDIS_URL / the local server
    sweep = api.sweep("ab12cd34")             # or "entity/project/ab12cd34"
    sweep.state, sweep.config, len(sweep.runs)
    best = sweep.best_run()                   # by the sweep's metric and goal
    best.config, best.summary, best.history()
    api.sweeps(project="demo")

Everything is read from Redis when asked (``sweep.runs`` once per Sweep object); nothing here
changes a sweep (the verbs are in :mod:`redsweep.control`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from redsweep.connect import connect
from redsweep.errors import NotFoundError
from redsweep.shared import points
from redsweep.shared.records import Goal, RunState, SweepState, is_finite_number
from redsweep.shared.store import Store, SweepInfo, TrialInfo


def _last(path: str) -> str:
    """W&B paths (``entity/project/id``) name the same thing as the bare id."""
    return path.rstrip("/").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class RunResult:
    """One run (trial) of a sweep: ``config`` holds its parameters, ``summary`` each metric's
    last value, ``value`` its best value of the sweep's metric (what the sweep ranks runs by).
    Times are the Redis server's, in ms; ``duration_s`` runs to now for a running run.
    ``lapsed``: the run is running but its lease lapsed (its agent is gone; a controller will
    crash it), since ``lapsed_since_ms``, ``lapsed_for_s`` ago (both None when the store did not
    record the lease's deadline)."""

    id: str
    sweep_id: str
    state: RunState
    config: Mapping[str, Any]
    summary: Mapping[str, Any]
    value: float | None
    worker: str | None
    attempt: int
    retry_of: str | None
    created_ms: int
    started_ms: int | None
    finished_ms: int | None
    duration_s: float | None
    error: str | None = None
    stop_reason: Mapping[str, Any] | None = None
    lapsed: bool = False
    lapsed_since_ms: int | None = None
    lapsed_for_s: float | None = None
    #: what its log() dropped (rows over the limits of a row), if anything
    warning: str | None = None
    #: the end of its output (a command's stdout and stderr), kept when it finished
    log_tail: str | None = None
    #: how many rows it logged (its stored history may hold fewer: thinned past the cap)
    history_rows: int = 0
    log_path: str | None = None
    log_host: str | None = None
    _store: Store | None = field(default=None, repr=False, compare=False)

    @property
    def name(self) -> str:
        return self.id

    def history(self) -> list[dict[str, Any]]:
        """Every logged row, oldest first, each with its ``_step``."""
        if self._store is None:
            raise NotFoundError(f"run {self.id} was not read from a store")
        return self._store.reads.history(self.sweep_id, self.id)

    def scan_history(self) -> Iterator[dict[str, Any]]:
        """W&B's name for iterating the history."""
        return iter(self.history())

    @property
    def files_dir(self) -> str | None:
        """The run's files folder (``.../.redsweep/runs/SWEEP/RUN/files``), once it had files."""
        value = self.summary.get("_files_dir")
        return value if isinstance(value, str) else None

    @property
    def files(self) -> list[str]:
        """The run's files (saved, media, tables), relative to :attr:`files_dir`, as the run
        recorded them when it ended."""
        value = self.summary.get("_files")
        return [str(v) for v in value] if isinstance(value, list) else []


class Sweep:
    """A sweep as stored: ``state``, ``config`` (as written), ``runs`` and ``best_run()``."""

    def __init__(self, store: Store, info: SweepInfo) -> None:
        self._store = store
        self.info = info
        self.id = info.id
        self.state: SweepState = info.state
        self.config: Mapping[str, Any] = info.config
        self.name = info.name
        self.project = info.project
        self.grid_size = info.grid_size
        self.run_cap = info.run_cap
        self.counts: Mapping[str, int] = dict(info.counts)
        self.issued = info.issued
        self.best_value = info.best_value
        self.done_reason = info.done_reason
        self.created_ms = info.created_ms
        self.updated_ms = info.updated_ms
        self.finished_ms = info.finished_ms
        metric = info.config.get("metric") or {}
        self.metric: str | None = metric.get("name")
        self.goal = Goal(metric.get("goal") or "minimize")

    @property
    def method(self) -> str:
        return str(self.config.get("method", ""))

    @property
    def expected_run_count(self) -> int | None:
        """The grid size and/or the run cap, whichever is smaller (None: unbounded)."""
        sizes = [n for n in (self.grid_size, self.run_cap) if n is not None]
        return min(sizes) if sizes else None

    @property
    def points_done(self) -> int:
        """The points (suggestions) that ended, with a result or for good: what
        ``expected_run_count`` counts (retries are not points of their own)."""
        return points.ended(self.counts, self.issued)

    @cached_property
    def runs(self) -> list[RunResult]:
        """Every run, in the order they were added (read once, pipelined)."""
        return self.read_runs()

    def read_runs(
        self, run_ids: Iterable[str] | None = None, *, summaries: bool = True
    ) -> list[RunResult]:
        """The runs ``run_ids`` (None: every run), read now, in one round trip; without
        ``summaries`` each run's summary is left empty (a third less to read and decode, for
        pages that show none)."""
        pairs = self._store.reads.runs(self.id, run_ids, history=False, summary=summaries)
        now = self._store.server_time_ms()
        lapsed: set[str] = set()
        if any(trial.state is RunState.RUNNING for trial, _ in pairs):
            lapsed = set(self._store.trials.lapsed(self.id))
        return [
            _run(self._store, trial, run.summary, now, lapsed=trial.id in lapsed)
            for trial, run in pairs
        ]

    @property
    def lapsed_runs(self) -> list[RunResult]:
        """Running runs whose lease lapsed: their agent is gone, and they stay running until a
        controller (or an agent with nothing to do) crashes them."""
        return [r for r in self.runs if r.lapsed]

    @cached_property
    def unfinished_points(self) -> list[points.Point]:
        """The points (suggestions, with their retries) that ended without a result: every
        attempt crashed, or the last one failed or was killed (read once; none read while no
        run ended so)."""
        if not any(self.counts.get(s.value) for s in points.NO_RESULT):
            return []
        return points.unfinished(points.points(self._store.reads.trials(self.id)))

    @cached_property
    def lapsed_run_ids(self) -> list[str]:
        """The ids of :attr:`lapsed_runs`, read without reading every run (read once)."""
        if not self.counts.get(RunState.RUNNING.value):
            return []
        return self._store.trials.lapsed(self.id)

    @cached_property
    def controller(self) -> str | None:
        """Who holds the sweep's controller lease (read once), None when no controller does."""
        return self._store.controllers.holder(self.id)

    def run(self, run_id: str) -> RunResult:
        """The run ``run_id`` (read alone unless :attr:`runs` was read); NotFoundError."""
        found = self.runs if "runs" in self.__dict__ else self.read_runs([run_id])
        for run in found:
            if run.id == run_id:
                return run
        raise NotFoundError(f"no run {run_id!r} in sweep {self.id}")

    def histories(self, run_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The history of each of ``run_ids`` (as :meth:`RunResult.history`), read in one
        round trip: run id -> rows."""
        return self._store.reads.histories(self.id, run_ids)

    def best_run(self, order: str | None = None) -> RunResult | None:
        """The best run: by the sweep's metric and goal (each run's best value), or by
        ``order``, a summary key with ``-`` (highest first) or ``+`` (lowest first, the
        default) in front, as W&B takes it. None when no run has a value."""
        if order is None:
            if self.metric is None:
                return None
            key, highest = (lambda r: r.value), self.goal is Goal.MAXIMIZE
        else:
            name = order.lstrip("+-").removeprefix("summary_metrics.")
            key, highest = (lambda r: _number(r.summary.get(name))), order.startswith("-")
        ranked = [r for r in self.runs if key(r) is not None]
        if not ranked:
            return None
        return (max if highest else min)(ranked, key=key)  # the first on ties

    def rows(self, *, history: bool = False) -> list[dict[str, Any]]:
        """The sweep as flat rows for export: one per run (its parameters as ``config.NAME``
        and summary as ``summary.NAME``, nested names joined with dots), or with ``history``
        one per logged row (its metrics as logged, with ``_step``)."""
        out = []
        for run in self.runs:
            head: dict[str, Any] = {
                "run_id": run.id,
                "state": run.state.value,
                "worker": run.worker,
                "attempt": run.attempt,
                "created_ms": run.created_ms,
                "started_ms": run.started_ms,
                "finished_ms": run.finished_ms,
                "duration_s": run.duration_s,
            }
            if self.metric is not None:
                head[f"best.{self.metric}"] = run.value
            head.update(flatten(run.config, "config."))
            if not history:
                out.append({**head, **flatten(run.summary, "summary.")})
                continue
            for row in run.history():
                out.append({**head, **flatten(row)})
        return out

    def __repr__(self) -> str:
        return f"<Sweep {self.id} ({self.state.value})>"


class Api:
    """Read sweeps and runs from the Redis at ``redis`` (else ``REDSWEEP_REDIS_URL``, else the
    local server)."""

    def __init__(self, redis: str | None = None, *, store: Store | None = None) -> None:
        self._own = store is None
        self._store = store or connect(redis)

    def sweep(self, path: str) -> Sweep:
        """The sweep ``path`` (its id, or W&B's ``entity/project/id``); NotFoundError."""
        return Sweep(self._store, self._store.sweeps.get(_last(path)))

    def sweeps(self, project: str | None = None) -> list[Sweep]:
        """Every sweep, oldest first; only those of ``project`` when given."""
        return [Sweep(self._store, info) for info in self._store.sweeps.list(project)]

    def mark(self, path: str) -> str:
        """A short text that changes whenever the sweep ``path`` does (its state, counts, or
        any run's start, report or end): poll it to know when to read the sweep again."""
        return self._store.reads.mark(_last(path))

    def run(self, path: str) -> RunResult:
        """The run ``SWEEP_ID/RUN_ID`` (W&B's ``entity/project/...`` prefixes are ignored), or
        a bare ``RUN_ID``, looked for in every sweep."""
        parts = path.strip("/").split("/")
        if len(parts) < 2:
            return self.sweep(self.sweep_of(parts[-1])).run(parts[-1])
        return self.sweep(parts[-2]).run(parts[-1])

    def sweep_of(self, run_id: str) -> str:
        """The id of the sweep that has the run ``run_id``; NotFoundError."""
        return sweep_of(self._store, run_id)

    def close(self) -> None:
        if self._own:
            self._store.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sweep_of(store: Store, run_id: str) -> str:
    """The id of the sweep in ``store`` that has the run ``run_id``; NotFoundError."""
    for info in store.sweeps.list(None):
        try:
            store.reads.trial(info.id, run_id)
        except NotFoundError:
            continue
        return info.id
    raise NotFoundError(
        f"no run {run_id!r} in any sweep of {store.url}; `redsweep runs SWEEP_ID` lists a "
        "sweep's runs"
    )


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (with ``prefix`` in front of every key)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _number(value: Any) -> float | None:
    return float(value) if is_finite_number(value) else None


def _run(
    store: Store, trial: TrialInfo, summary: Mapping[str, Any], now_ms: int, *, lapsed: bool
) -> RunResult:
    duration = None
    if trial.claimed_ms is not None:
        end = trial.finished_ms if trial.finished_ms is not None else now_ms
        duration = max(0, end - trial.claimed_ms) / 1000
    since = trial.lease_until_ms if lapsed else None
    return RunResult(
        id=trial.id,
        sweep_id=trial.sweep_id,
        state=trial.state,
        config=trial.params,
        summary=summary,
        value=trial.best,
        worker=trial.worker,
        attempt=trial.attempt,
        retry_of=trial.retry_of,
        created_ms=trial.created_ms,
        started_ms=trial.claimed_ms,
        finished_ms=trial.finished_ms,
        duration_s=duration,
        error=trial.error,
        stop_reason=trial.stop_reason,
        lapsed=lapsed,
        lapsed_since_ms=since,
        lapsed_for_s=None if since is None else max(0, now_ms - since) / 1000,
        warning=trial.warning,
        log_tail=trial.log_tail,
        history_rows=trial.history_rows,
        log_path=trial.log_path,
        log_host=trial.log_host,
        _store=store,
    )
