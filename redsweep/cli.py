"""The ``redsweep`` command line: parse, call the Python API, print.

A :class:`~redsweep.errors.RedsweepError` becomes one line per problem on stderr and the
error's exit code; a traceback only with ``--debug``.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from redsweep.errors import RedsweepError


@dataclass
class Context:
    """What every command gets: the global options."""

    debug: bool = False
    redis_url: str | None = None


pass_ctx = click.make_pass_decorator(Context, ensure=True)


def _fail(error: RedsweepError) -> NoReturn:
    for line in str(error).splitlines() or [type(error).__name__]:
        click.echo(f"error: {line}", err=True)
    sys.exit(error.exit_code)


class _Group(click.Group):
    """Turns RedsweepError into one line per problem unless --debug was given."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RedsweepError as error:
            obj = ctx.find_object(Context)
            if obj is not None and obj.debug:
                raise
            _fail(error)


@click.group(cls=_Group)
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option(
    "--redis",
    "redis_url",
    envvar="REDSWEEP_REDIS_URL",
    metavar="URL",
    help="Redis URL (redis://, rediss://, unix://). Default: a local server under ./.redsweep/.",
)
@click.version_option(package_name="redsweep")
@click.pass_context
def main(ctx: click.Context, debug: bool, redis_url: str | None) -> None:
    """redsweep: hyperparameter sweeps on your own machines."""
    ctx.obj = Context(debug=debug, redis_url=redis_url)


def _describe(config: Any, grid: int | None) -> str:
    n = len(config.params)
    parts = [f"{config.method.value} sweep over {n} parameter{'s' if n != 1 else ''}"]
    if grid is not None:
        parts.append(f"{grid:,} grid point{'s' if grid != 1 else ''}")
    if config.metric is not None:
        parts.append(f"{config.metric.goal.value} {config.metric.name}")
    if config.run_cap is not None:
        parts.append(f"run_cap {config.run_cap}")
    if config.early_terminate is not None:
        parts.append("hyperband early termination")
    return ", ".join(parts)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a sweep config FILE (YAML or JSON) and summarise it."""
    from redsweep import engine

    config = engine.load_config(file)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    grid = engine.grid_size(config) if config.method.value == "grid" else None
    click.echo(f"{file}: valid {_describe(config, grid)}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-n",
    "count",
    default=5,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many suggestions.",
)
@click.option("--seed", type=int, default=None, help="Seed for random and bayes.")
def preview(file: str, count: int, seed: int | None) -> None:
    """Print the first suggestions for FILE as JSON lines (no runs, nothing stored)."""
    from redsweep import engine

    config = engine.load_config(file)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    for params in engine.suggest(config, [], n=count, seed=seed):
        click.echo(json.dumps(params, default=str))


@main.command("sweep")
@click.argument("config_file", metavar="CONFIG", type=click.Path(dir_okay=False))
@click.option("--project", help="Project name (default: the config's `project`).")
@click.option("--name", help="Sweep name (default: the config's `name`).")
@pass_ctx
def sweep_cmd(obj: Context, config_file: str, project: str | None, name: str | None) -> None:
    """Create a sweep from CONFIG and print its id and the agent command."""
    from redsweep import api

    sweep_id, config, url = api.create_sweep(
        config_file, project=project, name=name, redis=obj.redis_url
    )
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    total = api.total_trials(config)
    size = f" ({total:,} trials at most)" if total is not None else ""
    click.echo(f"Created sweep {sweep_id}: {config.method.value}{size}")
    click.echo(f"Run agents with:  {api.agent_command(sweep_id, url)}")
    if url.startswith("unix://"):
        click.echo(
            "This sweep lives in the local server under ./.redsweep/; for agents on other "
            "machines, use a Redis they can reach (--redis / REDSWEEP_REDIS_URL)."
        )
    click.echo(sweep_id)


@main.command()
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), help="Run at most N trials, then exit.")
@click.option("--fork", "isolate", is_flag=True, help="Run each trial in a forked child.")
@click.option("--lease-ms", type=click.IntRange(min=200), default=10_000, hidden=True)
@pass_ctx
def agent(obj: Context, sweep_id: str, count: int | None, isolate: bool, lease_ms: int) -> None:
    """Run trials of SWEEP_ID (its command or program) until the sweep is done."""
    from redsweep.worker.agent import run_agent

    run_agent(sweep_id, count=count, redis=obj.redis_url, isolate=isolate, lease_ms=lease_ms)


@main.command()
@click.argument("sweep_id")
@click.option("--lease-ms", type=click.IntRange(min=200), default=10_000, hidden=True)
@pass_ctx
def controller(obj: Context, sweep_id: str, lease_ms: int) -> None:
    """Run the controller of SWEEP_ID in the foreground until the sweep is over."""
    from redsweep import api

    try:
        info = api.controller(sweep_id, redis=obj.redis_url, lease_ms=lease_ms)
    except KeyboardInterrupt:
        click.echo("controller interrupted; the lease is released", err=True)
        sys.exit(130)
    click.echo(
        f"sweep {info.id} is {info.state.value}"
        + (f" ({info.done_reason})" if info.done_reason else "")
    )


@main.group()
def server() -> None:
    """The embedded local Redis server under ./.redsweep/."""


@server.command("status")
def server_status() -> None:
    """Say whether the local server runs, and where."""
    from redsweep.shared import embedded

    info = embedded.status()
    if info.running:
        click.echo(f"running (pid {info.pid}) at {info.url}; data in {info.dir}")
    else:
        click.echo(f"not running (data dir {info.dir})")


@server.command("stop")
def server_stop() -> None:
    """Stop the local server (its data stays in ./.redsweep/)."""
    from redsweep.shared import embedded

    click.echo("stopped" if embedded.stop() else "not running")
