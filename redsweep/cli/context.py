"""What every command gets: the global options, through ``pass_ctx``."""

from __future__ import annotations

from dataclasses import dataclass

import click


@dataclass
class Context:
    """The global options: ``--debug`` and ``--redis URL``."""

    debug: bool = False
    redis_url: str | None = None


pass_ctx = click.make_pass_decorator(Context, ensure=True)
