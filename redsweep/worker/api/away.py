"""What the in-trial API does while Redis is away: it waits the outage out (saying so in one
line), and a command trial hands the rows it could not send to its agent.

A command trial's process ends on its own schedule, outage or not: once its objective is
done it must not wait for Redis (its agent stops it when its lease can no longer be trusted,
and a trial stopped then ends crashed and runs again: its work done twice). So what it could
not store when it finishes goes to the file its agent named in ``REDSWEEP_UNSENT``: the rows
(each a packed ``[step, row]`` with a length before it) and the summary keys the script set
(a packed ``["summary", keys]``), and last, once nothing more is to come, ``["done", code]``:
the objective ended with exit code ``code``. The agent reads that file when the command has
exited and sends it all with the trial's finish, which it holds until Redis answers. A
trial its agent stops (self-fencing) after that mark has done its work: its agent records
it as it ended, not crashed, so that its point is not run twice. A forked function trial's
child does the same.
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Callable, Mapping, Sequence

from redsweep.errors import ProtocolError
from redsweep.shared.protocol import pack_value, unpack_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, TypeVar

    from redsweep.shared.store import Store
    from redsweep.shared.store.outage import Outage

    T = TypeVar("T")

#: Where a command trial leaves the rows it could not send (set by its agent).
ENV_UNSENT = "REDSWEEP_UNSENT"

_outages: dict[str, Outage] = {}
_LENGTH = struct.Struct(">I")
_SUMMARY = "summary"  # the tag of a record of summary keys (a row's first item is its step)
_DONE = "done"  # the tag of the last record: the objective's exit code


class Unsent:
    """What a trial's process handed its agent: rows, and summary keys it set. (Plain
    classes in the in-trial API: dataclasses cost a command trial's start.)"""

    def __init__(self) -> None:
        self.rows: list[tuple[int, dict[str, Any]]] = []
        self.summary: dict[str, Any] = {}
        #: the objective's exit code, once all of the above was handed over (None: not done)
        self.done: int | None = None


def say(text: str) -> None:
    print(f"redsweep: {text}", file=sys.stderr)


def outage_of(store: Store) -> Outage:
    """This process's view of whether ``store``'s Redis answers (one per URL)."""
    outage = _outages.get(store.url)
    if outage is None:
        from redsweep.shared.store.outage import Outage

        outage = _outages[store.url] = Outage(store.url, say)
    return outage


def waited(store: Store, call: Callable[[], T]) -> T:
    """``call()`` (a call on ``store``), retried until Redis answers it."""
    return outage_of(store).wait_out(call)


def write_unsent(
    path: str | os.PathLike[str],
    rows: Sequence[tuple[int, dict[str, Any]]],
    summary: Mapping[str, Any] | None = None,
    done: int | None = None,
) -> int:
    """Append ``rows`` (and the ``summary`` keys, and the ``done`` mark, if any) to the file
    at ``path`` for the agent; how many rows were written (a row the wire format refuses is
    left out)."""
    written = 0
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "ab") as fh:
        records: list[list[Any]] = [[step, row] for step, row in rows]
        if summary:
            records.append([_SUMMARY, dict(summary)])
        if done is not None:
            records.append([_DONE, int(done)])
        for record in records:
            try:
                raw = pack_value(record)
            except ProtocolError:
                continue
            fh.write(_LENGTH.pack(len(raw)) + raw)
            written += isinstance(record[0], int)
    return written


def read_unsent(path: str | os.PathLike[str]) -> Unsent:
    """What a trial's process left at ``path`` (the file is removed); nothing when none.
    Summary keys written later win."""
    unsent = Unsent()
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        return unsent
    with contextlib.suppress(OSError):
        os.unlink(path)
    at = 0
    while at + _LENGTH.size <= len(data):
        (size,) = _LENGTH.unpack_from(data, at)
        at += _LENGTH.size
        chunk = data[at : at + size]
        at += size
        try:
            step, row = unpack_value(chunk)
        except (ProtocolError, ValueError, TypeError):
            break  # cut short (the process was killed while writing): the records before count
        if step == _DONE and isinstance(row, int):
            unsent.done = row
        elif not isinstance(row, dict):
            continue
        elif step == _SUMMARY:
            unsent.summary.update(row)
        elif isinstance(step, int):
            unsent.rows.append((step, row))
    return unsent
