"""``redsweep sweep``, ``agent``, ``controller`` and ``server``: running sweeps."""

from __future__ import annotations

import sys

import click

from redsweep.cli.context import Context, pass_ctx, retries_option, trial_timeout_option


@click.command("sweep")
@click.argument("config_file", metavar="CONFIG_OR_SWEEP_ID")
@click.option("--project", help="Project name (default: the config's `project`).")
@click.option("--name", help="Sweep name (default: the config's `name`).")
@click.option("--pause", "verb", flag_value="pause", help="Pause the sweep SWEEP_ID.")
@click.option("--resume", "verb", flag_value="resume", help="Resume the sweep SWEEP_ID.")
@click.option("--stop", "verb", flag_value="stop", help="Finish SWEEP_ID: running runs finish.")
@click.option("--cancel", "verb", flag_value="cancel", help="Cancel SWEEP_ID: kill its runs.")
@click.option(
    "--update", "update_id", metavar="SWEEP_ID", help="Replace SWEEP_ID's config with CONFIG."
)
@click.option(
    "--launch",
    "launch_n",
    type=click.IntRange(min=1),
    metavar="K",
    help="Also launch K agent sessions onto the worker daemons' pool (see --pool).",
)
@click.option("--pool", default="default", show_default=True, help="The pool for --launch.")
@pass_ctx
def sweep_cmd(
    obj: Context,
    config_file: str,
    project: str | None,
    name: str | None,
    verb: str | None,
    update_id: str | None,
    launch_n: int | None = None,
    pool: str = "default",
) -> None:
    """Create a sweep from CONFIG and print its id and the agent command.

    As on W&B, `--pause`, `--resume`, `--stop` or `--cancel` with a SWEEP_ID controls that
    sweep instead, and `--update SWEEP_ID CONFIG` replaces its config while no run has started.
    """
    from redsweep import api

    if verb is not None:
        if update_id is not None:
            raise click.UsageError(f"--{verb} and --update cannot be used together")
        from redsweep.cli.control import run_verb

        run_verb(obj, verb, config_file)
        return
    if update_id is not None:
        from redsweep import control

        config, removed = control.update(update_id, config_file, redis=obj.redis_url)
        for warning in config.warnings:
            click.echo(f"warning: {warning}", err=True)
        dropped = f"; {removed} queued run{'s' if removed != 1 else ''} of the old config dropped"
        click.echo(f"Updated sweep {update_id}" + (dropped if removed else ""))
        return
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
    if launch_n is not None:
        from redsweep.cli.daemon import launch_sessions

        launch_sessions(Context(debug=obj.debug, redis_url=url), sweep_id, launch_n, pool)
    click.echo(sweep_id)


@click.command()
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), help="Run at most N trials, then exit.")
@click.option("--fork", "isolate", is_flag=True, help="Run each trial in a forked child.")
@trial_timeout_option()
@retries_option("this agent")
@click.option("--lease-ms", type=click.IntRange(min=200), default=10_000, hidden=True)
@click.option(
    "--history-cap",
    type=click.IntRange(min=2),
    help="Rows of history kept per trial (default 10,000); past it the stored history is "
    "thinned (README, Limits).",
)
@pass_ctx
def agent(
    obj: Context,
    sweep_id: str,
    count: int | None,
    isolate: bool,
    trial_timeout: float | None,
    retries: int | None,
    lease_ms: int,
    history_cap: int | None,
) -> None:
    """Run trials of SWEEP_ID (its command or program) until the sweep is done."""
    from redsweep.worker.agent.session import run_agent

    run_agent(
        sweep_id,
        count=count,
        redis=obj.redis_url,
        isolate=isolate,
        lease_ms=lease_ms,
        history_cap=history_cap,
        trial_timeout=trial_timeout,
        retries=retries,
    )


@click.command()
@click.argument("sweep_id", required=False)
@click.option("--all", "all_sweeps", is_flag=True, help="Every active sweep, new ones too.")
@click.option("--project", help="With --all: only the sweeps of this project.")
@retries_option("this process")
@click.option("--lease-ms", type=click.IntRange(min=200), default=10_000, hidden=True)
@pass_ctx
def controller(
    obj: Context,
    sweep_id: str | None,
    all_sweeps: bool,
    project: str | None,
    retries: int | None,
    lease_ms: int,
) -> None:
    """Run the controller of SWEEP_ID (or, with --all, of every active sweep, picking up new
    ones) in the foreground until the sweep is over (with --all: until interrupted). A Redis
    outage is waited out: one line says so, and the controller carries on when it returns."""
    from redsweep import api

    if all_sweeps == (sweep_id is not None):
        raise click.UsageError("give a SWEEP_ID or --all")
    if project is not None and not all_sweeps:
        raise click.UsageError("--project goes with --all")
    if all_sweeps:
        from redsweep.cli.daemon import run_all_controllers

        run_all_controllers(obj, project, lease_ms, retries)
        return
    try:
        info = api.controller(sweep_id, redis=obj.redis_url, lease_ms=lease_ms, retries=retries)
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
    from redsweep.shared.server import embedded

    info = embedded.status()
    if info.running:
        click.echo(f"running (pid {info.pid}) at {info.url}; data in {info.dir}")
    else:
        click.echo(f"not running (data dir {info.dir})")


@server.command("stop")
def server_stop() -> None:
    """Stop the local server (its data stays in ./.redsweep/)."""
    from redsweep.shared.server import embedded

    click.echo("stopped" if embedded.stop() else "not running")


COMMANDS = [sweep_cmd, agent, controller, server]
