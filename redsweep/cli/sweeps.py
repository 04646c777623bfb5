"""``redsweep sweep``, ``agent``, ``controller`` and ``server``: running sweeps."""

from __future__ import annotations

import sys

import click

from redsweep.cli.context import Context, pass_ctx


@click.command("sweep")
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


@click.command()
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), help="Run at most N trials, then exit.")
@click.option("--fork", "isolate", is_flag=True, help="Run each trial in a forked child.")
@click.option("--lease-ms", type=click.IntRange(min=200), default=10_000, hidden=True)
@pass_ctx
def agent(obj: Context, sweep_id: str, count: int | None, isolate: bool, lease_ms: int) -> None:
    """Run trials of SWEEP_ID (its command or program) until the sweep is done."""
    from redsweep.worker.agent import run_agent

    run_agent(sweep_id, count=count, redis=obj.redis_url, isolate=isolate, lease_ms=lease_ms)


@click.command()
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


@click.group()
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


COMMANDS = [sweep_cmd, agent, controller, server]
