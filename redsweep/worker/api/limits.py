"""What one logged row may hold: how many keys, how long a key, how big a value.

A row over a limit loses only the keys that break it (the rest of the row is logged), and
:func:`fit` says which were dropped and why, so that the run can warn once.
"""

from __future__ import annotations

from collections.abc import Mapping

from redsweep.errors import ProtocolError
from redsweep.shared.protocol import pack_value

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Keys one row may have (keys past it, in the order given, are dropped).
MAX_ROW_KEYS = 1_000
#: Characters a key may have.
MAX_KEY_CHARS = 256
#: Bytes one value may take encoded (a histogram of a few thousand floats fits).
MAX_VALUE_BYTES = 64 * 1024
#: Bytes all the values of a row may take encoded (keys past it are dropped): a row always
#: fits the wire limit, so it is never refused whole.
MAX_ROW_BYTES = 512 * 1024


class RowLimits:
    """The limits one row is held to (the defaults are the module's constants). A plain
    class: the dataclasses module, and typing's NamedTuple, cost a command trial's start."""

    __slots__ = ("max_key_chars", "max_keys", "max_row_bytes", "max_value_bytes")

    def __init__(
        self,
        max_keys: int = MAX_ROW_KEYS,
        max_key_chars: int = MAX_KEY_CHARS,
        max_value_bytes: int = MAX_VALUE_BYTES,
        max_row_bytes: int = MAX_ROW_BYTES,
    ) -> None:
        self.max_keys = max_keys
        self.max_key_chars = max_key_chars
        self.max_value_bytes = max_value_bytes
        self.max_row_bytes = max_row_bytes

    def __repr__(self) -> str:
        return (
            f"RowLimits(max_keys={self.max_keys}, max_key_chars={self.max_key_chars}, "
            f"max_value_bytes={self.max_value_bytes}, max_row_bytes={self.max_row_bytes})"
        )


def _size(value: Any) -> int:
    """The encoded size of ``value`` (at most 4 bytes over, for scalars, without packing);
    ProtocolError when the wire format cannot take it (the fast paths refuse exactly what
    packing would: a lone surrogate, an int past 64 bits)."""
    if value is None or isinstance(value, (bool, float)):
        return 9
    if isinstance(value, int) and -(2**63) <= value < 2**64:
        return 9
    if isinstance(value, str) and len(value) < 1024:
        try:
            return 5 + len(value.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise ProtocolError(f"cannot encode: {exc}") from None
    return len(pack_value(value))


def fit(row: Mapping[str, Any], limits: RowLimits) -> tuple[dict[str, Any], list[str]]:
    """``row`` without the keys that break ``limits``, and one line per key dropped, saying
    why."""
    kept: dict[str, Any] = {}
    dropped: list[str] = []
    total = 0
    for key, value in row.items():
        if len(key) > limits.max_key_chars:
            dropped.append(
                f"{key[:40]!r}... (a key of {len(key)} characters; at most {limits.max_key_chars})"
            )
            continue
        if len(kept) >= limits.max_keys:
            dropped.append(f"{key!r} (past {limits.max_keys} keys in one row)")
            continue
        try:
            size = _size(value)
        except ProtocolError as exc:
            dropped.append(f"{key!r} ({exc})")
            continue
        if size > limits.max_value_bytes:
            dropped.append(f"{key!r} (a value of {size} bytes; at most {limits.max_value_bytes})")
            continue
        if total + size > limits.max_row_bytes:
            dropped.append(f"{key!r} (the row passed {limits.max_row_bytes} bytes)")
            continue
        total += size
        kept[key] = value
    return kept, dropped
