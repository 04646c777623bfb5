"""``redsweep worker``, ``launch`` and ``workers``: worker daemons and the sessions they run."""

from __future__ import annotations

import sys

import click

from redsweep.cli.context import Context, pass_ctx, retries_option, trial_timeout_option

_POOL_HELP = "The pool (an RQ queue of agent sessions)."


def _gpu_list(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    gpus = [g.strip() for g in value.split(",")]
    if not all(gpus) or len(set(gpus)) != len(gpus):
        raise click.BadParameter(f"{value!r}: give distinct device ids, e.g. 0,1,2,3")
    return gpus


@click.command()
@click.option("--pool", default="default", show_default=True, help=_POOL_HELP)
@click.option("--slots", type=click.IntRange(min=1), help="Sessions run at once (default 1).")
@click.option(
    "--gpus",
    callback=_gpu_list,
    metavar="0,1,...",
    help="One slot per GPU; each slot's sessions see only theirs (CUDA_VISIBLE_DEVICES).",
)
@trial_timeout_option(", for sessions launched without one")
@pass_ctx
def worker(
    obj: Context,
    pool: str,
    slots: int | None,
    gpus: list[str] | None,
    trial_timeout: float | None,
) -> None:
    """Serve POOL on this machine: run the agent sessions launched onto it, one per slot.

    SIGTERM or Ctrl+C drains it (sessions finish their current trial); twice stops them.
    """
    from redsweep.connect import resolve_url
    from redsweep.worker.daemon.pool import Daemon

    if slots is not None and gpus is not None:
        raise click.UsageError("give --slots or --gpus, not both")
    daemon = Daemon(
        resolve_url(obj.redis_url), pool=pool, slots=slots, gpus=gpus, trial_timeout=trial_timeout
    )
    raise SystemExit(daemon.run())


def launch_sessions(
    obj: Context,
    sweep_id: str,
    n: int,
    pool: str,
    count: int | None = None,
    trial_timeout: float | None = None,
    retries: int | None = None,
) -> list[str]:
    """Enqueue ``n`` sessions and say so (shared with ``redsweep sweep --launch``)."""
    from redsweep.connect import connect
    from redsweep.worker.daemon.job import launch

    store = connect(obj.redis_url)
    try:
        ids = launch(
            store,
            sweep_id,
            n,
            pool=pool,
            count=count,
            trial_timeout=trial_timeout,
            retries=retries,
        )
        serving = [d for d in store.daemons.live() if d.pool == pool]
    finally:
        store.close()
    what = f"{n} agent session{'s' if n != 1 else ''}"
    limit = f", {count} trials each at most" if count is not None else ""
    if trial_timeout is not None:
        limit += f", trials stopped after {trial_timeout:g} s"
    if retries is not None:
        limit += f", a crashed trial retried {retries} time{'s' if retries != 1 else ''}"
    click.echo(f"Launched {what} for sweep {sweep_id} on pool {pool!r}{limit}")
    if not serving:
        click.echo(
            f"No worker daemon serves pool {pool!r} yet; the sessions wait until one starts "
            f"(redsweep worker --pool {pool})",
            err=True,
        )
    return ids


@click.command()
@click.argument("sweep_id")
@click.option(
    "-n",
    "n",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="How many agent sessions.",
)
@click.option("--pool", default="default", show_default=True, help=_POOL_HELP)
@click.option("--count", type=click.IntRange(min=1), help="Each session runs at most N trials.")
@trial_timeout_option(" and the worker daemon's")
@retries_option("a session")
@pass_ctx
def launch(
    obj: Context,
    sweep_id: str,
    n: int,
    pool: str,
    count: int | None,
    trial_timeout: float | None,
    retries: int | None,
) -> None:
    """Launch N agent sessions of SWEEP_ID onto the worker daemons of POOL.

    The sweep needs a program or command: a Python function cannot travel to a daemon.
    """
    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]
    launch_sessions(obj, sweep_id, n, pool, count, trial_timeout, retries)


@click.command()
@pass_ctx
def workers(obj: Context) -> None:
    """List the worker daemons, their slots, and what each slot runs."""
    from redsweep.connect import connect
    from redsweep.worker.daemon.pool import describe, queued_sessions

    store = connect(obj.redis_url)
    try:
        daemons = describe(store)
        queued = queued_sessions(store)
    finally:
        store.close()
    if not daemons:
        click.echo("no worker daemons")
    for daemon, slots in daemons:
        gpus = f", GPUs {','.join(daemon.gpus)}" if daemon.gpus else ""
        click.echo(
            f"daemon {daemon.id} on {daemon.host} (pid {daemon.pid}): pool {daemon.pool!r}, "
            f"{daemon.slots} slot{'s' if daemon.slots != 1 else ''}{gpus}"
        )
        for slot in slots:
            gpu = f" [GPU {slot.gpu}]" if slot.gpu is not None else ""
            if slot.state == "busy":
                since = f" since {slot.since}" if slot.since else ""
                what = f"sweep {slot.sweep_id or '?'} (job {slot.job_id}){since}"
            else:
                what = slot.state
            click.echo(f"  slot {slot.index}{gpu}: {what}")
    for pool, n in queued.items():
        if n:
            click.echo(f"pool {pool!r}: {n} session{'s' if n != 1 else ''} queued")


def run_all_controllers(
    obj: Context, project: str | None, lease_ms: int, retries: int | None = None
) -> None:
    """``redsweep controller --all``: until SIGTERM or Ctrl+C, which release every lease."""
    import signal
    import threading

    from redsweep.connect import resolve_url
    from redsweep.controller.many import ManyControllers

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda signum, frame: stop.set())
        for sig in (signal.SIGINT, signal.SIGTERM)
    }
    many = ManyControllers(
        resolve_url(obj.redis_url), project=project, lease_ms=lease_ms, retries=retries
    )
    try:
        many.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if many.lost:  # each said in its line already
        sys.exit(many.lost[0].exit_code)
    click.echo("controllers stopped; their leases are released", err=True)


COMMANDS = [worker, launch, workers]
