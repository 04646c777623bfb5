"""The wire format: msgpack records and plain values <-> bytes. The only msgpack import.

Every wire record is a msgpack map ``{"v": WIRE_VERSION, "t": TAG, <field>: <value>, ...}``
carrying exactly the fields of its dataclass in :mod:`redsweep.shared.records`. Plain values
(params, summaries, configs, RQ job data) are ``str``/``int``/``float``/``bool``/``None``/lists/
dicts with ``str`` keys, nothing else.

Decoding is strict: no ext types (timestamps included), no binary strings, no non-str map keys,
no trailing bytes, at most :data:`MAX_MESSAGE_BYTES`; every failure raises
:class:`~redsweep.errors.ProtocolError` keeping the bad bytes in ``.raw``.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Mapping

import msgpack

from redsweep.errors import ProtocolError

# ``typing`` is for the type checker only: a command trial imports this module, and typing
# (with the ``re`` it imports) would cost each trial's start ~10 ms (docs/architecture.md)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn, TypeVar

    # imported on first use: a command trial's frames need no records
    from redsweep.shared.records import TrialMessage

    WireRecord = TrialMessage
    R = TypeVar("R", bound="TrialMessage")

WIRE_VERSION = 1
MAX_MESSAGE_BYTES = 1 << 20  # 1 MiB: far above any real trial message, far below harm
MAX_DEPTH = 64  # nesting of lists/dicts in a plain value

#: The type tag ``t`` of a trial message (take.lua is given it to recognise one).
TRIAL_TAG = "trial"

_HEADER = ("v", "t")


class _Invalid(Exception):
    """Internal: a value or field is not acceptable; turned into ProtocolError with the bytes."""


# ---- plain values ------------------------------------------------------------------------------


def _is_numpy_scalar(obj: Any) -> bool:
    # checked by module name so that this module (imported by every training script through
    # the in-trial API) does not pay for importing numpy
    return type(obj).__module__ == "numpy" and getattr(obj, "ndim", None) == 0


def _where(path: str) -> str:
    return f"{path}: " if path else ""


def _plain(obj: Any, path: str = "", depth: int = 0) -> Any:
    """A copy of ``obj`` made of exact plain types; numpy scalars and tuples converted."""
    if depth > MAX_DEPTH:
        raise _Invalid(f"{_where(path)}nested deeper than {MAX_DEPTH} levels")
    kind = type(obj)
    if obj is None or kind in (str, int, float, bool):
        return obj
    if _is_numpy_scalar(obj):
        item = obj.item()
        if type(item) in (str, int, float, bool):
            return item
        raise _Invalid(f"{_where(path)}numpy value of type {kind.__name__} is not a plain value")
    # subclasses (str/int enums, float subclasses) travel as their base value
    if isinstance(obj, bool):
        return bool(obj)
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return float(obj)
    if isinstance(obj, str):
        return str.__str__(obj)
    if isinstance(obj, (list, tuple)):
        return [_plain(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(obj)]
    if isinstance(obj, Mapping):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise _Invalid(f"{_where(path)}map key {key!r} is not a string")
            key = str.__str__(key)
            out[key] = _plain(value, f"{path}.{key}" if path else key, depth + 1)
        return out
    raise _Invalid(f"{_where(path)}value of type {kind.__name__} is not a plain value")


def _check_plain(obj: Any, path: str = "", depth: int = 0) -> None:
    """Refuse anything in a decoded tree that is not a plain value (bytes, Timestamp, ...)."""
    if depth > MAX_DEPTH:
        raise _Invalid(f"{_where(path)}nested deeper than {MAX_DEPTH} levels")
    kind = type(obj)
    if obj is None or kind in (str, int, float, bool):
        return
    if kind is list:
        for i, value in enumerate(obj):
            _check_plain(value, f"{path}[{i}]", depth + 1)
        return
    if kind is dict:
        for key, value in obj.items():
            if type(key) is not str:
                raise _Invalid(f"{_where(path)}map key {key!r} is not a string")
            _check_plain(value, f"{path}.{key}" if path else key, depth + 1)
        return
    raise _Invalid(f"{_where(path)}value of type {kind.__name__} is not allowed")


def _refuse_ext(code: int, data: bytes) -> NoReturn:
    raise _Invalid(f"msgpack ext type {code} is not allowed")


def _pack(obj: Any, limit: int = MAX_MESSAGE_BYTES) -> bytes:
    try:
        raw = msgpack.packb(obj, use_bin_type=True, strict_types=True)
    except (OverflowError, ValueError, TypeError) as exc:
        raise ProtocolError(f"cannot encode: {exc}") from None
    if len(raw) > limit:
        raise ProtocolError(f"encoded message is {len(raw)} bytes, over the limit of {limit} bytes")
    return raw


def _unpack(raw: Any, limit: int = MAX_MESSAGE_BYTES) -> Any:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"expected bytes, got {type(raw).__name__}", raw=b"")
    raw = bytes(raw)
    if len(raw) > limit:
        raise ProtocolError(
            f"message is {len(raw)} bytes, over the limit of {limit} bytes", raw=raw
        )
    if not raw:
        raise ProtocolError("empty message", raw=raw)
    try:
        obj = msgpack.unpackb(
            raw,
            raw=False,
            strict_map_key=True,
            ext_hook=_refuse_ext,
            use_list=True,
            timestamp=0,
        )
        _check_plain(obj)
    except _Invalid as exc:
        raise ProtocolError(f"invalid message: {exc}", raw=raw) from None
    except msgpack.ExtraData:
        raise ProtocolError("invalid message: trailing bytes after the message", raw=raw) from None
    except msgpack.StackError:
        raise ProtocolError("invalid message: nested too deeply", raw=raw) from None
    except msgpack.FormatError:
        raise ProtocolError("invalid message: not msgpack (bad format byte)", raw=raw) from None
    except Exception as exc:  # msgpack's other errors: truncated, bad utf-8, bad map key, ...
        detail = str(exc) or type(exc).__name__
        raise ProtocolError(f"invalid message: {detail}", raw=raw) from None
    return obj


def pack_value(obj: Any) -> bytes:
    """Encode a plain value (params, summaries, configs); tuples become lists.

    Raises ProtocolError for anything that is not a plain value or encodes bigger than the limit.
    """
    try:
        plain = _plain(obj)
    except _Invalid as exc:
        raise ProtocolError(f"cannot encode: {exc}") from None
    return _pack(plain)


def unpack_value(raw: bytes) -> Any:
    """Decode bytes made by :func:`pack_value`; anything else raises ProtocolError."""
    return _unpack(raw)


# ---- frames: the channel between an agent and its command trial ------------------------------

#: A frame's length prefix; a frame (a report of up to 500 rows) may be well over a message.
_FRAME_LENGTH = struct.Struct(">I")
MAX_FRAME_BYTES = 64 << 20


def pack_frame(obj: Any) -> bytes:
    """A plain value as one length-prefixed frame (ProtocolError as :func:`pack_value`)."""
    try:
        plain = _plain(obj)
    except _Invalid as exc:
        raise ProtocolError(f"cannot encode: {exc}") from None
    raw = _pack(plain, MAX_FRAME_BYTES)
    return _FRAME_LENGTH.pack(len(raw)) + raw


class FrameReader:
    """Splits a byte stream into the values of the frames :func:`pack_frame` made."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        """Take in ``data``; return the values of the frames it completed (ProtocolError on a
        frame that is not a plain value, or too long)."""
        self._buffer += data
        out = []
        while len(self._buffer) >= _FRAME_LENGTH.size:
            (size,) = _FRAME_LENGTH.unpack_from(self._buffer)
            if size > MAX_FRAME_BYTES:
                raise ProtocolError(f"a frame of {size} bytes is over the limit", raw=b"")
            end = _FRAME_LENGTH.size + size
            if len(self._buffer) < end:
                break
            out.append(_unpack(self._buffer[_FRAME_LENGTH.size : end], MAX_FRAME_BYTES))
            del self._buffer[:end]
        return out


def unpack_rows(raw: bytes) -> list[tuple[int, Any]]:
    """Decode a trial's stored history (report.lua appends, per row, its step and then the row
    as :func:`pack_value` made it): ``(step, row)`` pairs, oldest first. No size limit: the
    history cap bounds it. Anything else raises ProtocolError."""
    raw = bytes(raw)
    if not raw:
        return []
    unpacker = msgpack.Unpacker(
        raw=False,
        strict_map_key=True,
        ext_hook=_refuse_ext,
        use_list=True,
        timestamp=0,
        max_buffer_size=len(raw),
    )
    unpacker.feed(raw)
    try:
        values = list(unpacker)
        if unpacker.tell() != len(raw) or len(values) % 2:
            raise _Invalid("truncated")
        rows = []
        for step, row in zip(values[::2], values[1::2], strict=True):
            if isinstance(step, bool) or not isinstance(step, int) or not isinstance(row, dict):
                raise _Invalid("not step, row pairs")
            _check_plain(row)
            rows.append((step, row))
    except _Invalid as exc:
        raise ProtocolError(f"invalid history: {exc}", raw=raw[:64]) from None
    except Exception as exc:  # msgpack's own: bad format byte, bad utf-8, ...
        detail = str(exc) or type(exc).__name__
        raise ProtocolError(f"invalid history: {detail}", raw=raw[:64]) from None
    return rows


# ---- wire records ------------------------------------------------------------------------------


def _str(value: Any, name: str) -> str:
    if type(value) is not str:
        if isinstance(value, str):
            return str.__str__(value)
        raise _Invalid(f"field {name!r} must be a string, got {type(value).__name__}")
    return value


def _count(value: Any, name: str) -> int:
    if _is_numpy_scalar(value) and isinstance(value.item(), int):
        value = value.item()
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Invalid(f"field {name!r} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise _Invalid(f"field {name!r} must not be negative, got {value}")
    return int(value)


@functools.cache
def _records() -> tuple[dict[type, str], dict[str, type], dict[type, dict[str, Any]]]:
    """The wire records: tag by class, class by tag, and per record its field name ->
    checker returning the normalised value (used both ways)."""
    from redsweep.shared.records import TrialMessage

    tags: dict[type, str] = {TrialMessage: TRIAL_TAG}
    fields = {TrialMessage: {"sweep_id": _str, "trial_id": _str, "attempt": _count}}
    return tags, {tag: cls for cls, tag in tags.items()}, fields


def _describe(cls: type) -> str:
    return "trial message" if cls.__name__ == "TrialMessage" else cls.__name__


def encode(record: WireRecord) -> bytes:
    """Encode a wire record; raises ProtocolError when a field has the wrong type or the
    message would exceed :data:`MAX_MESSAGE_BYTES`."""
    cls = type(record)
    tags, _, all_fields = _records()
    if cls not in tags:
        raise ProtocolError(f"cannot encode {cls.__name__}: not a wire record")
    out: dict[str, Any] = {"v": WIRE_VERSION, "t": tags[cls]}
    try:
        for name, check in all_fields[cls].items():
            value = check(getattr(record, name), name)
            out[name] = value
    except _Invalid as exc:
        raise ProtocolError(f"cannot encode {_describe(cls)}: {exc}") from None
    return _pack(out)


def decode(raw: bytes, expected: type[R] | None = None) -> R | WireRecord:
    """Decode a wire record; with ``expected``, refuse any other record type.

    Raises ProtocolError (``.raw`` = the bytes) for anything that is not exactly a record this
    version of redsweep writes.
    """
    obj = _unpack(raw)
    raw = bytes(raw)
    if type(obj) is not dict:
        raise ProtocolError(f"invalid message: expected a map, got {type(obj).__name__}", raw=raw)
    version = obj.get("v")
    if version is None:
        raise ProtocolError("invalid message: no wire version field 'v'", raw=raw)
    if version != WIRE_VERSION or type(version) is not int:
        raise ProtocolError(
            f"wire version {version!r} is not supported (this redsweep speaks {WIRE_VERSION})",
            raw=raw,
        )
    tag = obj.get("t")
    _, types, all_fields = _records()
    cls = types.get(tag) if type(tag) is str else None
    if cls is None:
        known = ", ".join(types)
        raise ProtocolError(f"invalid message: unknown type tag {tag!r} (known: {known})", raw=raw)
    if expected is not None and cls is not expected:
        raise ProtocolError(f"expected a {_describe(expected)}, got a {_describe(cls)}", raw=raw)
    fields = all_fields[cls]
    missing = [name for name in fields if name not in obj]
    extra = sorted(key for key in obj if key not in fields and key not in _HEADER)
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing field(s) " + ", ".join(missing))
        if extra:
            parts.append("unknown field(s) " + ", ".join(extra))
        raise ProtocolError(f"invalid {_describe(cls)}: {'; '.join(parts)}", raw=raw)
    try:
        values = {name: check(obj[name], name) for name, check in fields.items()}
    except _Invalid as exc:
        raise ProtocolError(f"invalid {_describe(cls)}: {exc}", raw=raw) from None
    return cls(**values)


# ---- RQ ----------------------------------------------------------------------------------------


class MsgpackSerializer:
    """RQ's ``Serializer`` protocol over plain msgpack values: no pickle, nothing but data.

    Job data ``(func_name, instance, args, kwargs)`` comes back as a list, which RQ unpacks the
    same way; anything that is not a plain value raises ProtocolError.
    """

    @staticmethod
    def dumps(obj: Any) -> bytes:
        return pack_value(obj)

    @staticmethod
    def loads(raw: bytes) -> Any:
        return unpack_value(raw)
