"""The ``redsweep`` command line: parse, call the Python API, print.

A :class:`~redsweep.errors.RedsweepError` becomes one line per problem on stderr and the
error's exit code; a traceback only with ``--debug``. Commands live in the modules of this
package, each listing its click commands in ``COMMANDS``; every module is registered here.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from typing import Any, NoReturn

import click

from redsweep.cli.context import Context
from redsweep.errors import RedsweepError


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


def _register() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "context":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for command in getattr(module, "COMMANDS", ()):
            main.add_command(command)


_register()
