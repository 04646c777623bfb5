"""``redsweep sweep``, ``agent``, ``controller`` and ``server``: running sweeps."""

from __future__ import annotations

import sys

import click

from redsweep.cli.context import (
    Context,
    pass_ctx,
    positive_seconds,
    retries_option,
    trial_timeout_option,
)


@click.command("sweep")
@click.argument("config_file", metavar="CONFIG_OR_SWEEP_ID")
@click.option("-p", "--project", help="Project name (default: the config's `project`).")
@click.option("-e", "--entity", help="W&B's entity: accepted and ignored (no accounts here).")
@click.option("--name", help="Sweep name (default: the config's `name`).")
@click.option("--program", help="The program to run (replaces the config's `program`).")
@click.option(
    "-R",
    "--prior_run",
    "--prior-run",
    "prior_runs",
    multiple=True,
    metavar="RUN",
    help="A run of an earlier sweep (RUN_ID or SWEEP_ID/RUN_ID) the new sweep counts as its "
    "own, as W&B's prior runs: bayes learns from it, grid skips its point (repeatable).",
)
@click.option(
    "--controller",
    "run_controller",
    is_flag=True,
    help="Then run the sweep's controller in the foreground until the sweep is over.",
)
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
@retries_option("the sessions of --launch or the --controller")
@pass_ctx
def sweep_cmd(
    obj: Context,
    config_file: str,
    project: str | None,
    entity: str | None,
    name: str | None,
    program: str | None,
    prior_runs: tuple[str, ...],
    run_controller: bool,
    verb: str | None,
    update_id: str | None,
    launch_n: int | None = None,
    pool: str = "default",
    retries: int | None = None,
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
        config_file,
        project=project,
        name=name,
        redis=obj.redis_url,
        program=program,
        prior_runs=prior_runs,
    )
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    total = api.total_trials(config)
    size = f" ({total:,} trials at most)" if total is not None else ""
    click.echo(f"Created sweep {sweep_id}: {config.method.value}{size}")
    click.echo(f"Run agents with:  {api.agent_command(sweep_id, url)}")
    if url.startswith("unix://"):
        click.echo(
            "This sweep lives in the local server of this project (its .redsweep/); for agents "
            "on other machines, use a Redis they can reach (--redis / REDSWEEP_REDIS_URL)."
        )
    if launch_n is not None:
        from redsweep.cli.daemon import launch_sessions

        launch_sessions(
            Context(debug=obj.debug, redis_url=url), sweep_id, launch_n, pool, retries=retries
        )
    click.echo(sweep_id)
    if run_controller:
        _foreground_controller(Context(debug=obj.debug, redis_url=url), sweep_id, None, retries)


@click.command()
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), help="Run at most N trials, then exit.")
@click.option("--fork", "isolate", is_flag=True, help="Run each trial in a forked child.")
@click.option("-p", "--project", hidden=True, help="W&B's project: accepted and ignored.")
@click.option("-e", "--entity", hidden=True, help="W&B's entity: accepted and ignored.")
@click.option(
    "-f",
    "--forward-signals",
    is_flag=True,
    help="Pass SIGINT/SIGTERM on to the running trial at once (it is stopped; a second signal "
    "kills it) instead of letting it finish first.",
)
@click.option(
    "-t",
    "--term-timeout",
    callback=positive_seconds,
    default="10",
    show_default=True,
    metavar="SECONDS",
    help="How long a trial asked to stop has between SIGTERM and SIGKILL.",
)
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
    project: str | None,
    entity: str | None,
    forward_signals: bool,
    term_timeout: float,
    trial_timeout: float | None,
    retries: int | None,
    lease_ms: int,
    history_cap: int | None,
) -> None:
    """Run trials of SWEEP_ID (its command or program) until the sweep is done.

    As W&B's agent, it stops when its trials keep failing: three failures in its first 60 s
    (WANDB_AGENT_DISABLE_FLAPPING=true turns that off), or at least five failures and no
    fewer than its successes (WANDB_AGENT_MAX_INITIAL_FAILURES=N sets the five)."""
    from redsweep.worker.agent.entry import run_agent
    from redsweep.worker.agent.result import EndReason

    result = run_agent(
        sweep_id,
        count=count,
        redis=obj.redis_url,
        isolate=isolate,
        lease_ms=lease_ms,
        history_cap=history_cap,
        trial_timeout=trial_timeout,
        forward_signals=forward_signals,
        grace_s=term_timeout,
        retries=retries,
    )
    if result.reason is EndReason.FAILING:
        sys.exit(1)  # the guard said why, on the agent's output


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
    if all_sweeps == (sweep_id is not None):
        raise click.UsageError("give a SWEEP_ID or --all")
    if project is not None and not all_sweeps:
        raise click.UsageError("--project goes with --all")
    if all_sweeps:
        from redsweep.cli.daemon import run_all_controllers

        run_all_controllers(obj, project, lease_ms, retries)
        return
    _foreground_controller(obj, sweep_id, lease_ms, retries)


def _foreground_controller(
    obj: Context, sweep_id: str, lease_ms: int | None, retries: int | None = None
) -> None:
    """Run the sweep's controller here until the sweep is over; say how it ended."""
    from redsweep import api

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
    """The local Redis server of this project (the nearest .redsweep/ upward, as git finds
    .git); it stops itself after 30 minutes without a client, unless started with --keep."""


@server.command("start")
@click.option("--keep", is_flag=True, help="Keep it running: no stop when idle.")
def server_start(keep: bool) -> None:
    """Start the local server of this project (or keep the one running, with --keep)."""
    from redsweep.shared.server import embedded

    url = embedded.ensure(keep=keep)
    info = embedded.status()
    how = (
        "kept until `redsweep server stop`"
        if embedded.kept()
        else (f"stops after {embedded.idle_stop_s() / 60:g} min without a client")
    )
    click.echo(f"running (pid {info.pid}) at {url}; data in {info.dir}; {how}")


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
    """Stop the local server (its data stays in .redsweep/)."""
    from redsweep.shared.server import embedded

    click.echo("stopped" if embedded.stop() else "not running")


@server.command("list")
def server_list() -> None:
    """The local servers running, in any project (from the registry in $REDSWEEP_RUNTIME_DIR,
    else $XDG_RUNTIME_DIR/redsweep, else ~/.cache/redsweep/servers)."""
    import time

    from redsweep.cli import _table as table
    from redsweep.shared.server import embedded

    servers = embedded.running()
    if not servers:
        click.echo("no local server running")
        return
    rows = [
        [
            str(s.pid or "-"),
            str(s.project),
            table.duration(time.time() - s.started),
            "kept" if s.kept else "idle stop",
        ]
        for s in servers
    ]
    headers = ["PID", "PROJECT", "UP", "STOP"]
    right = [True, False, True, False]
    click.echo(table.render(headers, rows, right=right, colour=table.use_colour()))


COMMANDS = [sweep_cmd, agent, controller, server]
