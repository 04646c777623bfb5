"""What every command gets: the global options, through ``pass_ctx``; options several share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click


@dataclass
class Context:
    """The global options: ``--debug`` and ``--redis URL``."""

    debug: bool = False
    redis_url: str | None = None


pass_ctx = click.make_pass_decorator(Context, ensure=True)


F = TypeVar("F", bound=Callable[..., Any])


def _set_redis(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(Context).redis_url = value


def redis_option(f: F) -> F:
    """``--redis URL`` on a subcommand too (``redsweep dashboard --redis URL``), as the issue
    and W&B users write it; it wins over the global one."""
    return click.option(
        "--redis",
        metavar="URL",
        expose_value=False,
        is_eager=True,
        callback=_set_redis,
        help="Redis URL (as the global --redis; this one wins).",
    )(f)


def positive_seconds(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A click callback: a positive, finite number of seconds (None stays None)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise click.BadParameter(f"give a positive number of seconds, not {value!r}")
    return seconds


def trial_timeout_option(more: str = "") -> Callable[[F], F]:
    """``--trial-timeout SECONDS``, a positive number; ``more`` ends its help."""
    return click.option(
        "--trial-timeout",
        callback=positive_seconds,
        metavar="SECONDS",
        help="Stop a trial that runs longer than this (SIGTERM, SIGKILL after 10 s) and fail "
        f"it; overrides the config's redsweep.trial_timeout{more}.",
    )


def retries_option(who: str) -> Callable[[F], F]:
    """``--retries N``: how often the controller ``who`` runs re-runs a crashed trial."""
    return click.option(
        "--retries",
        type=click.IntRange(min=0),
        metavar="N",
        help=f"Run a crashed trial up to N more times (when {who} runs the sweep's controller); "
        "overrides the config's redsweep.retries (default 2). Failed trials are not retried.",
    )
