"""``redsweep pause|resume|stop|cancel SWEEP_ID``: controlling a running sweep.

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

COMMANDS = [pause, resume, stop, cancel]
