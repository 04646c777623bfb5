"""Commands packed into Redis's protocol in one C call per command.

Part of :mod:`redsweep.shared.store`. redis-py (with hiredis) encodes every argument in
Python before hiredis packs them: three generator steps and an ``isinstance`` chain per
argument. The agent's hot path sends ~70 arguments per trial (its finish, rows and next take
in one round trip): an agent's Python calls per trivial trial fell from ~1,700 to ~950 with
this packer (cProfile, 3,000 trials). hiredis's ``pack_command`` takes ``str``, ``bytes``,
``int`` and ``float`` itself (strings as UTF-8, numbers as ``repr`` prints them: what
redis-py's encoder sends), so :class:`CommandPacker` hands it the arguments as they are and
leaves everything else to redis-py's own packer: a command name with a space (``"CLIENT
SETINFO"``), a ``memoryview``, a ``bool`` or ``None`` (which redis-py refuses with its
``DataError``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.connection import Encoder, PythonRespSerializer

try:
    from hiredis import pack_command
except ImportError:  # redis-py's own packer, unchanged
    pack_command = None

_BUFFER_CUTOFF = 6000  # redis-py's default: larger values go out as chunks of their own


class CommandPacker:
    """A redis-py ``command_packer``: :meth:`pack` returns the command's protocol bytes."""

    def __init__(self) -> None:
        encoder = Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)
        self._fallback: Callable[..., list[Any]] = PythonRespSerializer(
            _BUFFER_CUTOFF, encoder.encode
        ).pack

    def pack(self, *args: Any) -> list[Any]:
        name = args[0]
        if (type(name) is str and " " not in name) or (type(name) is bytes and b" " not in name):
            try:
                return [pack_command(args)]  # type: ignore[misc]
            except TypeError:  # bool, None, memoryview, ...: redis-py's rules and errors
                pass
        return self._fallback(*args)


def command_packer() -> CommandPacker | None:
    """A packer for redis-py's connections, or None where hiredis is not installed."""
    return CommandPacker() if pack_command is not None else None
