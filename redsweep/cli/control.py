"""``redsweep pause|resume|stop|cancel SWEEP_ID``: controlling a running sweep; ``redsweep
retry SWEEP_ID``: running its points that ended without a result again.

The same verbs are the W&B-style flags of ``redsweep sweep`` (``--pause ID`` ...); both call
:mod:`redsweep.control` and print one line saying what changed.
"""

from __future__ import annotations

import click

from redsweep.cli.context import Context, pass_ctx

_DONE = {
    "pause": "paused: no new run starts until `redsweep resume {id}`; running runs go on",
    "resume": "running again",
    "stop": "finished: running runs finish, no new run starts",
    "cancel": "canceled: no new run starts",
}


def run_verb(obj: Context, verb: str, sweep_id: str) -> None:
    """Apply ``verb`` and say what happened (shared with ``redsweep sweep --pause`` ...)."""
    from redsweep import control

    result = control.control(verb, sweep_id, redis=obj.redis_url)
    line = f"sweep {result.sweep_id} {_DONE[verb].format(id=result.sweep_id)}"
    if verb == "cancel":
        n = len(result.killed)
        line += f"; killed {n} running run{'s' if n != 1 else ''}"
        if result.killed:
            line += f" ({', '.join(result.killed)})"
    if verb == "resume":
        line += f" (it was {result.before.value})"
        if result.pending:
            line += f"; {result.pending} queued run{'s' if result.pending != 1 else ''} will start"
        line += f"; agents carry it on: redsweep agent {result.sweep_id}"
    elif verb in ("stop", "pause") and result.running:
        line += f" ({result.running} running)"
    click.echo(line)


def _verb(verb: str, help_text: str) -> click.Command:
    @click.command(verb, help=help_text)
    @click.argument("sweep_id")
    @pass_ctx
    def command(obj: Context, sweep_id: str) -> None:
        run_verb(obj, verb, sweep_id)

    return command


pause = _verb("pause", "Pause SWEEP_ID: no new run starts; running runs go on.")
resume = _verb("resume", "Resume a paused, finished or canceled SWEEP_ID.")
stop = _verb("stop", "Finish SWEEP_ID: running runs finish, no new run starts.")
cancel = _verb("cancel", "Cancel SWEEP_ID: running runs are killed, no new run starts.")


@click.command("retry")
@click.argument("sweep_id")
@click.option(
    "--crashed/--no-crashed",
    default=True,
    show_default=True,
    help="Run again the points whose last attempt crashed (their agent died or lost Redis).",
)
@click.option(
    "--failed",
    is_flag=True,
    help="Also run again the points whose last attempt failed (the objective's own error).",
)
@pass_ctx
def retry(obj: Context, sweep_id: str, crashed: bool, failed: bool) -> None:
    """Run again the points of SWEEP_ID that ended without a result: by default those whose
    every attempt crashed; with --failed, failed ones too. Each gets a new run (the ended runs
    stay as they are); a finished sweep is resumed, and agents run the new runs."""
    from redsweep import control

    if not crashed and not failed:
        raise click.UsageError("--no-crashed leaves nothing to retry; add --failed")
    result = control.retry(sweep_id, crashed=crashed, failed=failed, redis=obj.redis_url)
    sid = result.sweep_id
    which = " or ".join(w for w, on in (("crashed", crashed), ("failed", failed)) if on)
    if not result.queued:
        click.echo(f"sweep {sid}: no {which} points to run again ({result.after.value})")
        return
    n = len(result.queued)
    line = f"sweep {sid}: queued {n} point{'s' if n != 1 else ''} again"
    if result.before is not result.after:
        line += f" (the sweep was {result.before.value}: it runs again)"
    click.echo(line)
    for q in result.queued:
        after = f" after {q.attempts} attempts" if q.attempts > 1 else ""
        click.echo(f"  run {q.new} retries run {q.old} ({q.state.value}{after})")
    if result.after.value == "paused":
        click.echo(f"the sweep is paused: they start after `redsweep resume {sid}`")
    else:
        click.echo(f"agents run them: redsweep agent {sid}")


COMMANDS = [pause, resume, stop, cancel, retry]
