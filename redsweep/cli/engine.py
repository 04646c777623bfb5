"""``redsweep validate`` and ``redsweep preview``: the engine, without Redis."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from redsweep.shared.engine.command import unset_envvars


def _describe(config: Any, grid: int | None) -> str:
    n = len(config.params)
    parts = [f"{config.method.value} sweep over {n} parameter{'s' if n != 1 else ''}"]
    if grid is not None:
        parts.append(f"{grid:,} grid point{'s' if grid != 1 else ''}")
    if config.metric is not None:
        parts.append(f"{config.metric.goal.value} {config.metric.name}")
    if config.run_cap is not None:
        parts.append(f"run_cap {config.run_cap}")
    if config.early_terminate is not None:
        parts.append("hyperband early termination")
    if config.trial_timeout is not None:
        parts.append(f"trial timeout {config.trial_timeout:g} s (redsweep.trial_timeout)")
    if config.retries is not None:
        n = config.retries
        what = "retry" if n == 1 else "retries"
        parts.append(f"{n} {what} of a crashed trial (redsweep.retries)")
    return ", ".join(parts)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a sweep config FILE (YAML or JSON) and summarise it."""
    from redsweep import engine

    config = engine.load_config(file)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    for warning in unset_envvars(config.command or (), os.environ):
        click.echo(f"warning: {warning} (here; agents read their own environment)", err=True)
    grid = engine.grid_size(config) if config.method.value == "grid" else None
    click.echo(f"{file}: valid {_describe(config, grid)}")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "-n",
    "count",
    default=5,
    show_default=True,
    type=click.IntRange(min=0),
    help="How many suggestions.",
)
@click.option("--seed", type=int, default=None, help="Seed for random and bayes.")
def preview(file: str, count: int, seed: int | None) -> None:
    """Print the first suggestions for FILE as JSON lines (no runs, nothing stored)."""
    from redsweep import engine

    config = engine.load_config(file)
    for warning in config.warnings:
        click.echo(f"warning: {warning}", err=True)
    for params in engine.suggest(config, [], n=count, seed=seed):
        click.echo(json.dumps(params, default=str))


COMMANDS = [validate, preview]
