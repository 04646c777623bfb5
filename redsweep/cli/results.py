"""``redsweep status``, ``runs`` and ``best``: reading a sweep's results (``export``: export.py).

Tables are aligned and coloured only on a terminal; ``--json`` prints valid JSON for scripts.
The data comes from :class:`redsweep.results.Api`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import click

from redsweep.cli import _lapsed as lapses
from redsweep.cli import _table as table
from redsweep.cli.context import Context, pass_ctx
from redsweep.shared import points

_ORDER = ("running", "pending", "finished", "stopped", "failed", "crashed", "killed")


def api_of(obj: Context) -> Any:
    from redsweep.results import Api

    return Api(obj.redis_url)


def json_safe(value: Any) -> Any:
    """NaN and infinities are not JSON: they become strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(json_safe(data), indent=2, allow_nan=False))


def _params_text(params: Mapping[str, Any]) -> str:
    from redsweep.results import flatten

    return ", ".join(f"{k}={table.value(v)}" for k, v in flatten(params).items())


def _counts_text(counts: Mapping[str, int]) -> str:
    parts = [f"{counts[s]} {s}" for s in _ORDER if counts.get(s)]
    return ", ".join(parts) or "none yet"


def _best(sweep: Any) -> Any:
    return sweep.best_run() if sweep.metric else None


def _sweep_json(sweep: Any, best: Any) -> dict[str, Any]:
    return {
        "id": sweep.id,
        "state": sweep.state.value,
        "name": sweep.name,
        "project": sweep.project,
        "method": sweep.method,
        "metric": {"name": sweep.metric, "goal": sweep.goal.value} if sweep.metric else None,
        "grid_size": sweep.grid_size,
        "run_cap": sweep.run_cap,
        "counts": dict(sweep.counts),
        "done_reason": sweep.done_reason,
        "controller": sweep.controller,
        "lapsed_runs": sweep.lapsed_run_ids,
        "best": None
        if best is None
        else {"run_id": best.id, "value": best.value, "params": dict(best.config)},
    }


# ---- status ------------------------------------------------------------------------------------


@click.command()
@click.argument("sweep_id", required=False)
@click.option("--project", help="Only the sweeps of this project (without SWEEP_ID).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status(obj: Context, sweep_id: str | None, project: str | None, as_json: bool) -> None:
    """How sweeps are doing: all of them, or SWEEP_ID in detail."""
    with api_of(obj) as api:
        if sweep_id is not None:
            sweep = api.sweep(sweep_id)
            best = _best(sweep)
            if as_json:
                _echo_json(_sweep_json(sweep, best))
            else:
                click.echo(_one_status(sweep, best, table.use_colour()))
            return
        sweeps = api.sweeps(project)
        if as_json:
            _echo_json([_sweep_json(s, _best(s)) for s in sweeps])
            return
        if not sweeps:
            click.echo("no sweeps yet: create one with `redsweep sweep CONFIG`")
            return
        click.echo(_all_status(sweeps, table.use_colour()))


def _one_status(sweep: Any, best: Any, colour: bool) -> str:
    state = sweep.state.value
    if colour:
        state = click.style(state, **(table.state_style(state) or {}))
    title = f"sweep {sweep.id}"
    named = ", ".join(x for x in (sweep.name, sweep.project and f"project {sweep.project}") if x)
    if named:
        title += f" ({named})"
    lines = [f"{title}: {state}" + (f" ({sweep.done_reason})" if sweep.done_reason else "")]
    size = []
    if sweep.grid_size is not None:
        size.append(f"{sweep.grid_size:,} grid points")
    if sweep.run_cap is not None:
        size.append(f"run cap {sweep.run_cap:,}")
    lines.append(f"  method  {sweep.method}" + (f", {', '.join(size)}" if size else ""))
    if sweep.metric:
        lines.append(f"  metric  {sweep.metric} ({sweep.goal.value})")
    done = sweep.points_done
    total = sweep.expected_run_count
    of = f"{done}/{total}" if total is not None else f"{done}"
    lines.append(f"  runs    {of} done: {_counts_text(sweep.counts)}")
    if best is not None:
        value = table.number(best.value)
        if colour:
            value = click.style(value, bold=True)
        lines.append(
            f"  best    {sweep.metric}={value} by run {best.id}: {_params_text(best.config)}"
        )
    if sweep.lapsed_run_ids:
        notes = lapses.lines(sweep, sweep.lapsed_runs)
        lines += [f"  lapsed  {notes[0]}", *(f"          {n}" for n in notes[1:])]
    lines += _unfinished_lines(sweep)
    return "\n".join(lines)


def _unfinished_lines(sweep: Any) -> list[str]:
    """The points that ended without a result, and how to run them again."""
    unfinished = sweep.unfinished_points
    if not unfinished:
        return []
    n = len(unfinished)
    runs = ", ".join(p.last.id for p in unfinished[:5]) + (", ..." if n > 5 else "")
    flag = " --failed" if any(p.state.value == "failed" for p in unfinished) else ""
    return [
        f"  no result  {n} point{'s' if n != 1 else ''}: {points.tally(unfinished)} "
        f"(last run{'s' if n != 1 else ''} {runs})",
        f"             run them again: redsweep retry {sweep.id}{flag}",
    ]


def _all_status(sweeps: list[Any], colour: bool) -> str:
    headers = ["SWEEP", "STATE", "METHOD", "NAME", "RUNS", "RUNNING", "FAILED", "BEST"]
    rows, styles, notes = [], [], []
    for s in sweeps:
        running, note = lapses.running_cell(s)
        notes += [note] if note else []
        done = s.points_done
        total = s.expected_run_count
        best = "-"
        if s.metric and s.best_value is not None:
            best = f"{s.metric}={table.number(s.best_value)}"
        failed = s.counts.get("failed", 0) + s.counts.get("crashed", 0)
        rows.append(
            [
                s.id,
                s.state.value,
                s.method,
                s.name or "-",
                f"{done}/{total}" if total is not None else str(done),
                running,
                str(failed),
                best,
            ]
        )
        styles.append([None, table.state_style(s.state.value), *[None] * 6])
    right = [False, False, False, False, True, True, True, False]
    rendered = table.render(headers, rows, right=right, styles=styles, colour=colour)
    return "\n".join([rendered, *notes])


# ---- runs --------------------------------------------------------------------------------------


@click.command()
@click.argument("sweep_id")
@click.option(
    "--sort",
    type=click.Choice(["added", "metric", "duration", "state"]),
    default="added",
    show_default=True,
    help="Order of the rows: as added, by the metric (best first), by duration, by state.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def runs(obj: Context, sweep_id: str, sort: str, as_json: bool) -> None:
    """The runs of SWEEP_ID: id, state, params, metric, duration, worker."""
    with api_of(obj) as api:
        sweep = api.sweep(sweep_id)
        ordered = _sorted(sweep, sort)
        if as_json:
            _echo_json([_run_json(r) for r in ordered])
            return
        if not ordered:
            click.echo(f"sweep {sweep.id} has no runs yet")
            return
        click.echo(_runs_table(sweep, ordered, table.use_colour()))


def _sorted(sweep: Any, sort: str) -> list[Any]:
    from redsweep.shared.records import Goal

    runs_ = list(sweep.runs)
    if sort == "metric":
        sign = -1.0 if sweep.goal is Goal.MAXIMIZE else 1.0
        return sorted(runs_, key=lambda r: (r.value is None, sign * (r.value or 0.0)))
    if sort == "duration":
        return sorted(runs_, key=lambda r: -(r.duration_s or 0.0))
    if sort == "state":
        rank = {name: i for i, name in enumerate(_ORDER)}
        return sorted(runs_, key=lambda r: rank.get(r.state.value, len(rank)))
    return runs_


def _run_json(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "state": run.state.value,
        "params": dict(run.config),
        "value": run.value,
        "summary": dict(run.summary),
        "duration_s": run.duration_s,
        "worker": run.worker,
        "attempt": run.attempt,
        "retry_of": run.retry_of,
        "stop_reason": dict(run.stop_reason) if run.stop_reason else None,
        "error": run.error,
        "log_tail": run.log_tail,
        "log_path": run.log_path,
        "log_host": run.log_host,
        "lapsed": run.lapsed,
        "lapsed_since_ms": run.lapsed_since_ms,
        "warning": run.warning,
    }


def error_cell(run: Any, width: int = 60) -> str:
    """Why a run failed, in one short cell: the exception its output ends with, else the last
    line of its error; ``-`` for a run without one."""
    from redsweep.worker.agent.output import failure_cause

    text = failure_cause(run.error, run.log_tail) if run.error else ""
    if not text:
        return "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def _runs_table(sweep: Any, ordered: list[Any], colour: bool) -> str:
    from redsweep.results import flatten

    names: list[str] = []
    for run in ordered:
        for key in flatten(run.config):
            if key not in names:
                names.append(key)
    best = _best(sweep)
    metric = f"{sweep.metric} ({'max' if sweep.goal.value == 'maximize' else 'min'})"
    headers = [
        "RUN", "STATE", *names, metric if sweep.metric else "METRIC", "DURATION", "WORKER", "ERROR",
    ]  # fmt: skip
    rows, styles = [], []
    for run in ordered:
        params = flatten(run.config)
        note = " (lapsed)" if run.lapsed else ""
        if run.stop_reason and run.state.value == "stopped":
            note = f" @{run.stop_reason.get('band', '?')}"
        rows.append(
            [
                run.id,
                run.state.value + note,
                *(table.value(params[n]) if n in params else "" for n in names),
                table.number(run.value),
                table.duration(run.duration_s),
                run.worker or "-",
                error_cell(run),
            ]
        )
        bold = {"bold": True} if best is not None and run.id == best.id else None
        styles.append(
            [bold, table.state_style(run.state.value), *[None] * len(names), bold, None, None, None]
        )
    right = [False, False, *[True] * len(names), True, True, False, False]
    rendered = table.render(headers, rows, right=right, styles=styles, colour=colour)
    return "\n".join([rendered, *lapses.lines(sweep, ordered)])


# ---- best --------------------------------------------------------------------------------------


@click.command()
@click.argument("sweep_id")
@click.option(
    "--parameters",
    "as_parameters",
    is_flag=True,
    help="As a sweep config's `parameters:` block (each a `value:`).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def best(obj: Context, sweep_id: str, as_parameters: bool, as_json: bool) -> None:
    """The best run's params of SWEEP_ID, as YAML ready to paste."""
    import yaml

    from redsweep.errors import NotFoundError

    with api_of(obj) as api:
        sweep = api.sweep(sweep_id)
        if not sweep.metric:
            raise NotFoundError(f"sweep {sweep.id} has no metric, so no best run")
        run = sweep.best_run()
        if run is None:
            raise NotFoundError(f"sweep {sweep.id} has no run with a value of {sweep.metric} yet")
        if as_json:
            _echo_json(
                {
                    "sweep_id": sweep.id,
                    "run_id": run.id,
                    "metric": sweep.metric,
                    "goal": sweep.goal.value,
                    "value": run.value,
                    "params": dict(run.config),
                }
            )
            return
        params = _plain(run.config)
        if as_parameters:
            params = {"parameters": _as_values(params)}
        click.echo(
            f"# best run {run.id} of sweep {sweep.id}: "
            f"{sweep.metric}={table.number(run.value)} ({sweep.goal.value})"
        )
        click.echo(yaml.safe_dump(params, sort_keys=False, default_flow_style=False), nl=False)


def _plain(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) if isinstance(v, Mapping) else v for k, v in values.items()}


def _as_values(params: Mapping[str, Any]) -> dict[str, Any]:
    """Nested params -> W&B's nested ``parameters`` with a ``value`` per leaf."""
    return {
        k: {"parameters": _as_values(v)} if isinstance(v, Mapping) and v else {"value": v}
        for k, v in params.items()
    }


COMMANDS = [status, runs, best]
