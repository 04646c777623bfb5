"""The store's calls as values: one class per Lua script beside it, with the script's KEYS, its
ARGV and what its reply means.

Part of :mod:`redsweep.shared.store`. A call is built from plain arguments (building it checks
them: a state a script may not set is a ValueError, a value the wire format refuses a
ProtocolError) and does not touch Redis; the connection runs it, alone
(:meth:`~redsweep.shared.store.connection.Connection.call`) or in one round trip with others
(:meth:`~redsweep.shared.store.connection.Connection.batch_calls`), and hands each reply to
the call's :meth:`Call.parse`, which returns what the reply means or raises the
:class:`~redsweep.errors.RedsweepError` it stands for.

Each ``<name>.lua`` here documents its KEYS and ARGV in its header; a line
``-- #include other`` in a script inlines the script ``other`` (:func:`lua_source`). The call
classes, by job:

* :mod:`.trials`  a trial's state changes: AddTrial, Claim, Renew, ReportRows, Finish,
                  SetSummary, RequestStop, Kill, Reap
* :mod:`.queue`   an agent's queue moves: Take, Ack, Release, GiveBack, DeadLetterEntry
* :mod:`.agents`  agents' liveness: HeartbeatAgent, NoteAgent, RequeueAgent
* :mod:`.sweeps`  sweeps and their controller lease: CreateSweep, SetSweepState, UpdateConfig,
                  SetSweepFields, AcquireController, RenewController, ReleaseController,
                  RequestHandover, EnsureEventsGroup

A sweep Redis lost (restarted without persistence, flushed) is never brought back as stray
keys: every script that may create a key of a sweep first checks that its hash exists.

The agent's hot path (ReportRows, Finish, Take, Ack) is importable from
:mod:`redsweep.shared.store.calls`.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
from collections.abc import Mapping
from importlib import resources
from typing import Any, ClassVar

from redsweep.shared.protocol import pack_value
from redsweep.shared.records import Goal
from redsweep.shared.store.keys import NO_START_STATES

#: Bounds for the streams that nobody trims otherwise (approximate, MAXLEN ~).
EVENTS_MAXLEN = 100_000
DEAD_LETTERS_MAXLEN = 10_000
#: Rows of a trial's history kept by default: past it report.lua thins the stored history
#: (every other row dropped, the stride doubled), keeping the first and the latest row.
HISTORY_CAP = 10_000
#: Sweep states in which no trial may start (claim.lua refuses: the entry goes back).
NO_START = tuple(sorted(s.value for s in NO_START_STATES))
#: Error and log text kept on a trial (the tail end is kept).
MAX_TEXT_CHARS = 64 * 1024


class Call:
    """One step of the store, as a value: run it alone or in a batch with others; the
    connection passes its reply to :meth:`parse`."""

    def parse(self, reply: Any) -> Any:
        """What the reply means (raises the error it stands for)."""
        return reply


class Script(Call):
    """A call of the Lua script ``<script>.lua`` with ``keys`` (KEYS) and ``args`` (ARGV)."""

    script: ClassVar[str]
    keys: list[str]
    args: list[Any]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.script}.lua keys={self.keys!r}>"


class Command(Call):
    """A plain Redis command that can ride in a batch like a script."""

    def command(self) -> tuple[Any, ...]:
        """The command and its arguments, as for ``execute_command``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.command()[:2]!r}>"


# the package's own folder (a plain path is much cheaper per read than a resources Traversable;
# resources still finds the scripts where the package is no folder, as in a zip)
_HERE: Any = (
    pathlib.Path(__file__).parent
    if __file__ and os.path.isdir(os.path.dirname(__file__))
    else resources.files(__name__)
)
_INCLUDE = re.compile(r"^-- #include (\w+)$", re.MULTILINE)


def lua_source(name: str) -> str:
    """The text of ``<name>.lua``; a line ``-- #include other`` becomes the script ``other``
    as a local function ``other(KEYS, ARGV)``, so that one script can make another's
    compare-and-set part of a bigger step without a second copy of it."""
    text = _HERE.joinpath(f"{name}.lua").read_text("utf-8")

    def include(match: re.Match[str]) -> str:
        other = match.group(1)
        return f"local function {other}(KEYS, ARGV)\n{lua_source(other)}\nend"

    return _INCLUDE.sub(include, text)


# ---- arguments as the scripts read them ------------------------------------------------------


def optional(value: Any) -> str:
    """An optional argument: '' for None."""
    return "" if value is None else str(value)


def count_arg(count: int | None) -> str | int:
    """A count for a script: '' for none (no limit)."""
    return "" if count is None else max(0, int(count))


def tail(value: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    """The last ``limit`` characters of ``value`` ('' for None)."""
    if not value:
        return ""
    return value if len(value) <= limit else value[-limit:]


def metric_value(values: Mapping[str, Any] | None, metric_name: str | None) -> str:
    """The sweep metric's value as a Lua-readable number, '' when absent or not finite."""
    if not values or metric_name is None:
        return ""
    value = values.get(metric_name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    value = float(value)
    return repr(value) if math.isfinite(value) else ""


def goal_arg(goal: Goal | str | None) -> str:
    return Goal(goal).value if goal is not None else Goal.MINIMIZE.value


def pairs(values: Mapping[str, Any] | None) -> list[Any]:
    """``values`` as name, packed value, name, packed value, ..."""
    out: list[Any] = []
    for name, value in (values or {}).items():
        out += [str(name), pack_value(value)]
    return out
