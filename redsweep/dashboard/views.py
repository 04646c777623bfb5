"""What each page shows, computed on the server from :class:`redsweep.results.Api` as plain
JSON-ready dicts: the sweeps list, one sweep's panels and runs table, one run.

The browser only draws: the parallel coordinates' dimensions, the importances, the best-so-far
line and the curves all come from here, and curves are downsampled (at most ``MAX_CURVES``
runs' curves of at most ``MAX_POINTS`` points each), so a sweep with 10,000 runs sends what
the page draws and no more.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from redsweep.dashboard.files import run_files
from redsweep.dashboard.importance import correlations, parameter_importance
from redsweep.results import Api, RunResult, Sweep, flatten
from redsweep.shared.records import Goal, RunState

MAX_CURVES = 100
#: the parallel coordinates draw at most this many runs' lines: the best quarter of them and
#: an even spread of the rest in order of creation (past that the lines are a blur)
MAX_LINES = 1000
MAX_POINTS = 200
#: the scatter draws at most this many runs' dots (as the parallel coordinates choose them;
#: SVG markers, each a DOM node) and its best-so-far line from every run
MAX_DOTS = 1000
#: a run page's charts keep this many points of each metric
RUN_POINTS = 1000


def to_json(data: Any) -> str:
    """``data`` as JSON a browser parses: NaN and infinities (which JSON lacks) become null,
    anything else unknown its text. Fast when there are none (the common case)."""
    try:
        return json.dumps(data, allow_nan=False, separators=(",", ":"), default=str)
    except ValueError:
        return json.dumps(clean(data), allow_nan=False, separators=(",", ":"), default=str)


def clean(value: Any) -> Any:
    """NaN and infinities become None, tuples lists, keys strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def sweep_row(sweep: Sweep) -> dict[str, Any]:
    """One line of the sweeps list (also a sweep page's header)."""
    counts = dict(sweep.counts)
    return {
        "id": sweep.id,
        "state": sweep.state.value,
        "method": sweep.method,
        "project": sweep.project,
        "name": sweep.name,
        "metric": sweep.metric,
        "goal": sweep.goal.value,
        "done": sweep.points_done,
        "expected": sweep.expected_run_count,
        "running": counts.get(RunState.RUNNING.value, 0),
        "pending": counts.get(RunState.PENDING.value, 0),
        "failed": counts.get(RunState.FAILED.value, 0) + counts.get(RunState.CRASHED.value, 0),
        "counts": counts,
        "best": sweep.best_value,
        "created_ms": sweep.created_ms,
        "done_reason": sweep.done_reason,
    }


def sweeps_view(api: Api) -> dict[str, Any]:
    """The ``/`` page: every sweep, newest first."""
    return {"sweeps": [sweep_row(s) for s in reversed(api.sweeps())]}


def _stop_text(run: RunResult) -> str | None:
    reason = run.stop_reason or {}
    if "band" in reason:
        return f"stopped early at band {reason['band']}"
    return str(reason.get("reason")) if reason.get("reason") else None


def _run_row(run: RunResult) -> dict[str, Any]:
    return {
        "id": run.id,
        "state": run.state.value,
        "value": run.value,
        "config": flatten(run.config),
        "created_ms": run.created_ms,
        "duration_s": run.duration_s,
        "worker": run.worker,
        "attempt": run.attempt,
        "error": run.error,
        "stop": _stop_text(run),
        "lapsed": run.lapsed,
    }


def _log_scaled(config: Mapping[str, Any], name: str) -> bool:
    """Whether the sweep draws parameter ``name`` from a log distribution."""
    spec = (config.get("parameters") or {}).get(name)
    return isinstance(spec, Mapping) and "log" in str(spec.get("distribution", ""))


def _dimension(label: str, values: Sequence[Any], *, log: bool = False) -> dict[str, Any]:
    """A parallel-coordinates axis: numbers as they are (a log-distributed parameter on a log
    axis: plotly's parcoords has none, so log10 values with ticks at the real ones), anything
    else by category."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        if log and values and all(v > 0 for v in values):
            logs = np.log10(np.asarray(values, dtype=float))
            ticks = list(range(math.floor(logs.min()), math.ceil(logs.max()) + 1))
            return {
                "label": f"{label} (log)",
                "values": logs.tolist(),
                "tickvals": ticks,
                "ticktext": [f"{10.0**t:g}" for t in ticks],
            }
        return {"label": label, "values": [float(v) for v in values]}
    labels = sorted({str(v) for v in values})
    index = {t: i for i, t in enumerate(labels)}
    return {
        "label": label,
        "values": [index[str(v)] for v in values],
        "tickvals": list(range(len(labels))),
        "ticktext": labels,
    }


def _parallel(
    rows: list[dict[str, Any]],
    params: list[str],
    metric: str,
    config: Mapping[str, Any],
    goal: Goal,
) -> dict[str, Any]:
    scored = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
    total = len(scored)
    if total > MAX_LINES:
        scored = _spread(scored, goal, MAX_LINES)
    dims = [
        _dimension(p, [r["config"].get(p) for r in scored], log=_log_scaled(config, p))
        for p in params
    ]
    values = [r["value"] for r in scored]
    dims.append({"label": metric, "values": values})
    return {"dimensions": dims, "color": values, "runs": len(scored), "scored": total}


def _spread(scored: list[dict[str, Any]], goal: Goal, limit: int) -> list[dict[str, Any]]:
    """``limit`` of the scored rows: the best quarter, then an even spread of the others."""
    order = sorted(range(len(scored)), key=lambda i: scored[i]["value"])
    if goal is Goal.MAXIMIZE:
        order.reverse()
    best = set(order[: limit // 4])
    rest = [i for i in range(len(scored)) if i not in best]
    picks = np.linspace(0, len(rest) - 1, limit - len(best)).round().astype(int)
    keep = best | {rest[i] for i in picks}
    return [scored[i] for i in sorted(keep)]


def _scatter(rows: list[dict[str, Any]], goal: Goal) -> dict[str, Any]:
    """The metric of each scored run against its number in order of creation (runs made in
    one burst share a millisecond, which would stack them on a time axis), with its creation
    time for the hover, and the best so far."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i]["created_ms"], i))
    number = {rows[i]["id"]: n + 1 for n, i in enumerate(order)}
    scored = sorted(
        (r for r in rows if r["value"] is not None and math.isfinite(r["value"])),
        key=lambda r: number[r["id"]],
    )
    y = np.asarray([r["value"] for r in scored], dtype=float)
    best = (np.maximum if goal is Goal.MAXIMIZE else np.minimum).accumulate(y) if len(y) else y
    # the best-so-far line where it steps (and its end): the same line, drawn from far fewer
    steps = [i for i in range(len(y)) if i == 0 or i == len(y) - 1 or best[i] != best[i - 1]]
    dots = _spread(scored, goal, MAX_DOTS) if len(scored) > MAX_DOTS else scored
    return {
        "x": [number[r["id"]] for r in dots],
        "created_ms": [r["created_ms"] for r in dots],
        "y": [r["value"] for r in dots],
        "ids": [r["id"] for r in dots],
        "best_x": [number[scored[i]["id"]] for i in steps],
        "best": [float(best[i]) for i in steps],
        "scored": len(scored),
    }


def downsample(xs: Sequence[Any], ys: Sequence[Any], points: int) -> tuple[list, list]:
    """At most ``points`` evenly spread points, the first and the last always among them."""
    if len(xs) <= points:
        return list(xs), list(ys)
    keep = np.unique(np.linspace(0, len(xs) - 1, points).round().astype(int))
    return [xs[i] for i in keep], [ys[i] for i in keep]


def _curve_runs(runs: list[RunResult], sweep: Sweep, limit: int) -> list[RunResult]:
    """Whose curves to draw: every running run, then the best, then the newest."""
    logged = [r for r in runs if r.history_rows]
    chosen = {r.id: r for r in logged if r.state is RunState.RUNNING}
    highest = sweep.goal is Goal.MAXIMIZE
    ranked = sorted(
        (r for r in logged if r.value is not None and math.isfinite(r.value)),
        key=lambda r: -r.value if highest else r.value,  # type: ignore[operator]
    )
    for r in ranked[: max(0, limit // 2)] + list(reversed(logged)):
        if len(chosen) >= limit:
            break
        chosen.setdefault(r.id, r)
    return list(chosen.values())[:limit]


def _curves(sweep: Sweep, runs: list[RunResult], limit: int, points: int) -> dict[str, Any]:
    metric = sweep.metric
    shown = _curve_runs(runs, sweep, limit) if metric else []
    histories = sweep.histories([r.id for r in shown])
    out = []
    for run in shown:
        rows = [r for r in histories.get(run.id, ()) if isinstance(r.get(metric), (int, float))]
        x, y = downsample([r["_step"] for r in rows], [r[metric] for r in rows], points)
        if x:
            out.append(
                {"id": run.id, "state": run.state.value, "x": x, "y": y, "stop": _stop_text(run)}
            )
    return {"metric": metric, "runs": out, "logged": sum(1 for r in runs if r.history_rows)}


def _correlations(rows: list[dict[str, Any]], params: list[str]) -> list[dict[str, Any]]:
    scored = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
    return correlations(
        [{p: r["config"].get(p) for p in params} for r in scored], [r["value"] for r in scored]
    )


class ImportanceCache:
    """Importances fitted once per set of scored runs (a forest per refresh would cost the
    live page a second each time on a big sweep)."""

    def __init__(self, fit: Callable[..., list[dict[str, Any]]] = parameter_importance) -> None:
        self._fit = fit
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[tuple, list[dict[str, Any]]]] = {}

    def get(self, sweep_id: str, rows: list[dict[str, Any]], params: list[str]) -> list:
        """The importances of ``params`` over the sweep page's ``rows``."""
        scored = [r for r in rows if r["value"] is not None and math.isfinite(r["value"])]
        key = (len(scored), tuple(params), sum(r["value"] for r in scored))
        with self._lock:
            hit = self._cache.get(sweep_id)
        if hit and hit[0] == key:
            return hit[1]
        result = self._fit(
            [{p: r["config"].get(p) for p in params} for r in scored],
            [r["value"] for r in scored],
        )
        with self._lock:
            self._cache[sweep_id] = (key, result)
        return result


def sweep_view(
    api: Api,
    sweep_id: str,
    *,
    importance: ImportanceCache | None = None,
    max_curves: int = MAX_CURVES,
    max_points: int = MAX_POINTS,
) -> dict[str, Any]:
    """A sweep's page: its header, the three panels, the curves and the runs table. The
    importances only with an ``importance`` cache to fit them with (else None: the dashboard
    serves them apart, as the forest takes a while on a big sweep)."""
    sweep = api.sweep(sweep_id)
    runs = sweep.read_runs(summaries=False)  # the page shows none
    rows = [_run_row(r) for r in runs]
    params = sorted({k for r in rows for k in r["config"]})
    metric = sweep.metric
    parallel = _parallel(rows, params, metric, sweep.config, sweep.goal) if metric else None
    return {
        "sweep": sweep_row(sweep),
        "config": sweep.config,
        "params": params,
        "runs": rows,
        "parallel": parallel,
        "importance": None
        if importance is None
        else (importance.get(sweep.id, rows, params) if metric else []),
        # shown until the importances come (the forest takes a while, its import longer)
        "correlations": _correlations(rows, params) if metric and importance is None else None,
        "scatter": _scatter(rows, sweep.goal) if metric else None,
        "curves": _curves(sweep, runs, max_curves, max_points),
    }


def run_view(api: Api, sweep_id: str, run_id: str) -> dict[str, Any]:
    """A run's page: its record, config, summary, a series per logged metric, log, files."""
    sweep = api.sweep(sweep_id)
    run = sweep.run(run_id)
    history = run.history()
    names = sorted({k for row in history for k in row if not k.startswith("_")})
    charts = []
    for name in names:
        rows = [r for r in history if isinstance(r.get(name), (int, float))]
        if not rows:
            continue
        x, y = downsample([r["_step"] for r in rows], [r[name] for r in rows], RUN_POINTS)
        charts.append({"name": name, "x": x, "y": y})
    return {
        "sweep": sweep_row(sweep),
        "run": {
            **_run_row(run),
            "summary": {k: v for k, v in flatten(run.summary).items() if not k.startswith("_")},
            "started_ms": run.started_ms,
            "finished_ms": run.finished_ms,
            "retry_of": run.retry_of,
            "warning": run.warning,
            "history_rows": run.history_rows,
        },
        "charts": charts,
        "log_tail": run.log_tail,
        "files": run_files(run),
    }
