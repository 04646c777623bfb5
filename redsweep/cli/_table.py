"""Aligned tables and state colours for the result commands (colour only on a terminal)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import click

_STATE_COLOURS = {
    "running": "cyan",
    "pending": "blue",
    "paused": "yellow",
    "finished": "green",
    "failed": "red",
    "crashed": "red",
    "killed": "magenta",
    "stopped": "yellow",
    "canceled": "magenta",
}


def use_colour() -> bool:
    """Colour only when stdout is a terminal."""
    return click.get_text_stream("stdout").isatty()


def state_style(text: str) -> dict[str, Any] | None:
    """click.style keywords for a run or sweep state."""
    colour = _STATE_COLOURS.get(text)
    return {"fg": colour} if colour else None


def number(value: Any) -> str:
    """A metric value for a table: 6 significant digits, '-' when there is none."""
    if value is None:
        return "-"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def value(v: Any) -> str:
    """A parameter value as a cell."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    return str(v)


def render(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    right: Sequence[bool] | None = None,
    styles: Sequence[Sequence[dict[str, Any] | None]] | None = None,
    colour: bool = False,
) -> str:
    """Columns padded to their widest cell (``right``: right-aligned, for numbers), two spaces
    apart; headers bold and ``styles`` (click.style keywords per cell) only with ``colour``."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    right = right or [False] * len(headers)

    def line(cells: Sequence[str], cell_styles: Sequence[dict[str, Any] | None]) -> str:
        out = []
        for cell, width, r, style in zip(cells, widths, right, cell_styles, strict=True):
            padded = cell.rjust(width) if r else cell.ljust(width)
            out.append(click.style(padded, **style) if colour and style else padded)
        return "  ".join(out).rstrip()

    head = line(headers, [{"bold": True}] * len(headers))
    body = [line(row, styles[i] if styles else [None] * len(row)) for i, row in enumerate(rows)]
    return "\n".join([head, *body])
