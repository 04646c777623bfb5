"""``redsweep logs RUN_ID [-f]``: a run's output.

A command trial's output is in the agent's log file (the trial record says on which host and
where); on that host the file is printed, and ``-f`` follows it until the run ends. Elsewhere,
and for a function trial (no file of its own), the store has the last lines of its output and
its error, kept when it ended.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from typing import Any

import click

from redsweep.cli.context import Context, pass_ctx

#: How often ``-f`` looks for more output and whether the run ended (s).
FOLLOW_EVERY_S = 0.2


@click.command()
@click.argument("run_id", metavar="RUN_ID")
@click.option("-f", "--follow", is_flag=True, help="Keep printing output until the run ends.")
@pass_ctx
def logs(obj: Context, run_id: str, follow: bool) -> None:
    """Print the output of RUN_ID (or SWEEP_ID/RUN_ID): its log file where it is local, else
    the tail kept in the store."""
    from redsweep.connect import connect
    from redsweep.results import sweep_of

    store = connect(obj.redis_url)
    try:
        parts = run_id.strip("/").split("/")
        trial_id = parts[-1]
        sweep_id = parts[-2] if len(parts) > 1 else sweep_of(store, trial_id)
        trial = store.reads.trial(sweep_id, trial_id)
        path = _local_file(trial)
        if path is not None:
            _print_file(store, trial, path, follow)
            return
        if follow and not trial.state.is_terminal:
            where = f" on {trial.log_host}" if trial.log_host else ""
            state = trial.state.value
            click.echo(
                f"redsweep: run {trial_id} is {state}{where}; its output is shown when it ends",
                err=True,
            )
            trial = _wait_for_end(store, trial)
            path = _local_file(trial)
            if path is not None:  # it started here after all: follow its file
                _print_file(store, trial, path, follow)
                return
        _print_kept(trial)
    finally:
        store.close()


def _local_file(trial: Any) -> str | None:
    if not trial.log_path or trial.log_host != socket.gethostname():
        return None
    return trial.log_path if os.path.exists(trial.log_path) else None


def _wait_for_end(store: Any, trial: Any) -> Any:
    """Wait until the run ends, or starts with its log file here."""
    while not trial.state.is_terminal and _local_file(trial) is None:
        time.sleep(FOLLOW_EVERY_S)
        trial = store.reads.trial(trial.sweep_id, trial.id)
    return trial


def _print_file(store: Any, trial: Any, path: str, follow: bool) -> None:
    out = sys.stdout.buffer
    with open(path, "rb") as fh:
        while True:
            data = fh.read(65536)
            if data:
                out.write(data)
                continue
            out.flush()
            if not follow or trial.state.is_terminal:
                break
            time.sleep(FOLLOW_EVERY_S)
            trial = store.reads.trial(trial.sweep_id, trial.id)
            # the runner puts a log that passed its cap in order when the run ends (a new file)
            if trial.state.is_terminal and os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino:
                click.echo(f"redsweep: the log was trimmed at its cap when run {trial.id} ended")
                break
    out.flush()


def _print_kept(trial: Any) -> None:
    """What the store kept: the last lines of its output (else its error: a function trial's
    traceback) on stdout; what they are, on stderr."""
    state = trial.state.value
    if trial.error and trial.log_tail:
        state += f": {trial.error.strip().splitlines()[-1]}"
    where = f"; the whole log is {trial.log_host}:{trial.log_path}" if trial.log_path else ""
    if trial.log_tail:
        click.echo(trial.log_tail)
        what = "the last lines of its output, kept in the store"
    elif trial.error:
        click.echo(trial.error)
        what = "its error, kept in the store"
    else:
        what = "no output kept in the store (it is kept when a run ends)"
    click.echo(f"redsweep: run {trial.id} ({state}): {what}{where}", err=True)


COMMANDS = [logs]
