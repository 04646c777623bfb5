"""``redsweep export``: a sweep's runs (or every logged row) as CSV or JSON lines, for pandas,
a spreadsheet or a paper's notes. The data comes from :class:`redsweep.results.Api`.
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import click

from redsweep.cli.context import Context, pass_ctx
from redsweep.cli.results import api_of, json_safe


@click.command()
@click.argument("sweep_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "jsonl"]),
    default="csv",
    show_default=True,
    help="CSV with a header, or one JSON object a line.",
)
@click.option("--history", is_flag=True, help="One row per logged row instead of per run.")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    help="Write here instead of stdout.",
)
@pass_ctx
def export(obj: Context, sweep_id: str, fmt: str, history: bool, output: str) -> None:
    """SWEEP_ID's runs, one row each (params and summary flattened), as CSV or JSON lines."""
    with api_of(obj) as api:
        rows = api.sweep(sweep_id).rows(history=history)
    text = _csv(rows) if fmt == "csv" else _jsonl(rows)
    if output == "-":
        sys.stdout.write(text)
    else:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)


def _columns(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    columns: list[str] = []
    seen: set[str] = set()
    for row in rows:
        for key in row:
            if key not in seen:
                seen.add(key)
                columns.append(key)
    return columns


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, dict)):
        return json.dumps(json_safe(value))
    return value


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return buffer.getvalue()


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(json_safe(row), allow_nan=False) + "\n" for row in rows)


COMMANDS = [export]
