"""What the in-trial API does while Redis is away: it waits the outage out (saying so in one
line), and a command trial hands the rows it could not send to its agent.

A command trial's process ends on its own schedule, outage or not. Rows it could not send
when it finishes go to the file its agent named in ``REDSWEEP_UNSENT`` (each row a packed
``[step, row]`` with a length before it); the agent reads that file when the command has
exited and sends the rows with the trial's finish, which it holds until Redis answers. A
forked function trial's child does the same.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from redsweep.errors import ProtocolError
from redsweep.shared.protocol import pack_value, unpack_value
from redsweep.shared.store import Store
from redsweep.shared.store.outage import Outage

T = TypeVar("T")

#: Where a command trial leaves the rows it could not send (set by its agent).
ENV_UNSENT = "REDSWEEP_UNSENT"

_outages: dict[str, Outage] = {}
_LENGTH = struct.Struct(">I")


def say(text: str) -> None:
    print(f"redsweep: {text}", file=sys.stderr)


def outage_of(store: Store) -> Outage:
    """This process's view of whether ``store``'s Redis answers (one per URL)."""
    outage = _outages.get(store.url)
    if outage is None:
        outage = _outages[store.url] = Outage(store.url, say)
    return outage


def waited(store: Store, call: Callable[[], T]) -> T:
    """``call()`` (a call on ``store``), retried until Redis answers it."""
    return outage_of(store).wait_out(call)


def write_unsent(path: str | os.PathLike[str], rows: Sequence[tuple[int, dict[str, Any]]]) -> int:
    """Append ``rows`` to the file at ``path`` for the agent; how many were written (a row
    the wire format refuses is left out)."""
    written = 0
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        for step, row in rows:
            try:
                raw = pack_value([step, row])
            except ProtocolError:
                continue
            fh.write(_LENGTH.pack(len(raw)) + raw)
            written += 1
    return written


def read_unsent(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any]]]:
    """The rows a command trial left at ``path`` (the file is removed); [] when none."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    with contextlib.suppress(OSError):
        os.unlink(path)
    rows: list[tuple[int, dict[str, Any]]] = []
    at = 0
    while at + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        chunk = data[at : at + size]
        at += size
        try:
            step, row = unpack_value(chunk)
        except (ProtocolError, ValueError, TypeError):
            break  # cut short (the process was killed while writing): the rows before count
        if isinstance(step, int) and isinstance(row, dict):
            rows.append((step, row))
    return rows
