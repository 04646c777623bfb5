"""The wire format: every record round-trips; every kind of bad input is one ProtocolError
that keeps the bytes."""

from __future__ import annotations

import math
import pickle

import msgpack
import numpy as np
import pytest

from redsweep.errors import ProtocolError
from redsweep.shared.protocol import (
    MAX_MESSAGE_BYTES,
    MsgpackSerializer,
    decode,
    encode,
    pack_value,
    unpack_value,
)
from redsweep.shared.records import TrialMessage

TRIAL = TrialMessage(sweep_id="sw1", trial_id="t-0007", attempt=2)


def _packed(obj: object) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def _wire(record_map: dict) -> bytes:
    return _packed(record_map)


def _map_of(record: object) -> dict:
    return msgpack.unpackb(encode(record), raw=False)  # type: ignore[arg-type]


def _refused(raw: bytes, *, expected: type | None = None, match: str | None = None) -> None:
    with pytest.raises(ProtocolError, match=match) as info:
        decode(raw, expected)
    assert info.value.raw == raw


# ---- round trips ---------------------------------------------------------------------------------


def test_a_trial_message_round_trips() -> None:
    raw = encode(TRIAL)
    assert isinstance(raw, bytes)
    assert decode(raw) == TRIAL
    assert decode(raw, TrialMessage) == TRIAL


def test_wire_map_has_version_tag_and_exact_fields() -> None:
    assert _map_of(TRIAL) == {
        "v": 1,
        "t": "trial",
        "sweep_id": "sw1",
        "trial_id": "t-0007",
        "attempt": 2,
    }


def test_nan_and_infinite_floats_survive() -> None:
    decoded = unpack_value(pack_value({"nan": math.nan, "inf": math.inf, "ninf": -math.inf}))
    assert math.isnan(decoded["nan"])
    assert decoded["inf"] == math.inf
    assert decoded["ninf"] == -math.inf


def test_numpy_scalars_and_tuples_become_plain_values() -> None:
    decoded = decode(encode(TrialMessage("s", "t", np.int64(3))), TrialMessage)  # type: ignore[arg-type]
    assert decoded.attempt == 3 and type(decoded.attempt) is int
    metrics = unpack_value(pack_value({"a": np.float32(0.5), "b": (1, 2), "c": np.bool_(True)}))
    assert metrics == {"a": 0.5, "b": [1, 2], "c": True}
    assert type(metrics["a"]) is float
    assert type(metrics["c"]) is bool


def test_encode_refuses_values_that_are_not_plain() -> None:
    with pytest.raises(ProtocolError, match=r"metrics\.obj.*object"):
        pack_value({"metrics": {"obj": object()}})
    with pytest.raises(ProtocolError, match="attempt"):
        encode(TrialMessage("s", "t", "2"))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="not a wire record"):
        encode({"v": 1})  # type: ignore[arg-type]


def test_encode_refuses_oversized_message() -> None:
    with pytest.raises(ProtocolError, match="over the limit"):
        encode(TrialMessage("x" * MAX_MESSAGE_BYTES, "t", 1))
    with pytest.raises(ProtocolError, match="over the limit"):
        pack_value({"blob": "x" * MAX_MESSAGE_BYTES})


# ---- refused input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xc1", b"hello world", b"\xff\xfe\xfd", b"\x00\x01"],
    ids=["empty", "never-used-byte", "text", "garbage", "trailing"],
)
def test_garbage_bytes_are_refused(raw: bytes) -> None:
    _refused(raw)


def test_truncated_message_is_refused() -> None:
    raw = encode(TRIAL)
    for cut in (1, len(raw) // 2, len(raw) - 1):
        _refused(raw[:cut])


def test_trailing_bytes_are_refused() -> None:
    _refused(encode(TRIAL) + b"\x00", match="trailing")


def test_ext_types_are_refused() -> None:
    fields = _map_of(TRIAL)
    fields["sweep_id"] = {"when": msgpack.ExtType(42, b"payload")}
    _refused(_wire(fields), match="ext type 42")


def test_msgpack_timestamps_are_refused() -> None:
    fields = _map_of(TRIAL)
    fields["sweep_id"] = {"when": msgpack.Timestamp(1_700_000_000)}
    _refused(_wire(fields), match="Timestamp")


def test_binary_strings_are_refused() -> None:
    fields = _map_of(TRIAL)
    fields["sweep_id"] = b"sw1"
    _refused(_wire(fields), match="bytes")


def test_invalid_utf8_is_refused() -> None:
    # a fixstr of length 2 holding bytes that are not UTF-8
    _refused(b"\xa2\xff\xfe")


def test_oversized_input_is_refused_before_unpacking() -> None:
    raw = b"\x91" * (MAX_MESSAGE_BYTES + 1)  # would be absurdly deep if unpacked
    _refused(raw, match="over the limit")


def test_deep_nesting_is_refused() -> None:
    fields = _map_of(TRIAL)
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    fields["sweep_id"] = {"deep": deep}
    _refused(_wire(fields), match="nested")


def test_unknown_version_is_refused_with_a_clear_message() -> None:
    fields = _map_of(TRIAL)
    fields["v"] = 7
    _refused(_wire(fields), match=r"^wire version 7 is not supported \(this redsweep speaks 1\)$")


def test_missing_version_is_refused() -> None:
    fields = _map_of(TRIAL)
    del fields["v"]
    _refused(_wire(fields), match="version")


def test_boolean_version_is_not_version_one() -> None:
    fields = _map_of(TRIAL)
    fields["v"] = True
    _refused(_wire(fields), match="not supported")


def test_unknown_type_tag_is_refused() -> None:
    fields = _map_of(TRIAL)
    fields["t"] = "job"
    _refused(_wire(fields), match="unknown type tag 'job'")


def test_message_that_is_not_a_map_is_refused() -> None:
    _refused(_packed([1, "trial", "s", "t", 1]), match="expected a map")


def test_missing_fields_are_refused() -> None:
    fields = _map_of(TRIAL)
    del fields["trial_id"]
    del fields["attempt"]
    _refused(_wire(fields), match="missing field.*trial_id, attempt")


def test_extra_fields_are_refused() -> None:
    fields = _map_of(TRIAL)
    fields["priority"] = 5
    _refused(_wire(fields), match="unknown field.*priority")


@pytest.mark.parametrize(
    ("record", "field", "value", "match"),
    [
        (TRIAL, "attempt", "2", "'attempt' must be an integer"),
        (TRIAL, "attempt", 2.0, "'attempt' must be an integer"),
        (TRIAL, "attempt", True, "'attempt' must be an integer"),
        (TRIAL, "attempt", -1, "'attempt' must not be negative"),
        (TRIAL, "sweep_id", 5, "'sweep_id' must be a string"),
        (TRIAL, "trial_id", None, "'trial_id' must be a string"),
    ],
)
def test_wrong_field_types_are_refused(record: object, field: str, value: object, match: str):
    fields = _map_of(record)
    fields[field] = value
    _refused(_wire(fields), match=match)


def test_non_string_map_keys_are_refused() -> None:
    # strict_map_key refuses int keys, the plain-value check refuses binary keys
    fields = _map_of(TRIAL)
    fields["sweep_id"] = {1: 0.5}
    _refused(_wire(fields))
    fields["sweep_id"] = {b"loss": 0.5}
    _refused(_wire(fields), match="map key")


def test_decode_of_non_bytes_is_refused() -> None:
    with pytest.raises(ProtocolError, match="expected bytes"):
        decode("not bytes")  # type: ignore[arg-type]


# ---- plain values -----------------------------------------------------------


def test_plain_values_round_trip() -> None:
    value = {"lr": 0.001, "layers": [64, 128], "opt": {"name": "adam", "beta": None}, "on": True}
    assert unpack_value(pack_value(value)) == value


def test_plain_values_convert_tuples_and_numpy_scalars() -> None:
    assert unpack_value(pack_value((1, np.int32(2), np.float64(2.5)))) == [1, 2, 2.5]


@pytest.mark.parametrize(
    "value",
    [b"bytes", {1: "int key"}, {"s": {1, 2}}, object(), np.array([1, 2]), 2**64, 1 + 2j],
    ids=["bytes", "int-key", "set", "object", "ndarray", "huge-int", "complex"],
)
def test_pack_value_refuses_what_is_not_plain(value: object) -> None:
    with pytest.raises(ProtocolError):
        pack_value(value)


def test_unpack_value_is_as_strict_as_decode() -> None:
    for raw in (
        b"\xc1",
        _packed(msgpack.ExtType(1, b"x")),
        _packed({1: 2}),
        _packed(b"bin"),
        b"\x91" * (MAX_MESSAGE_BYTES + 1),
    ):
        with pytest.raises(ProtocolError) as info:
            unpack_value(raw)
        assert info.value.raw == raw


# ---- RQ serializer -------------------------------------------------------------------------------


def test_rq_serializer_round_trips_job_data_as_lists() -> None:
    job = ("redsweep.worker.agent.session", None, ("sweep1",), {"count": 3})
    raw = MsgpackSerializer.dumps(job)
    assert MsgpackSerializer.loads(raw) == [
        "redsweep.worker.agent.session",
        None,
        ["sweep1"],
        {"count": 3},
    ]


def test_rq_serializer_refuses_anything_but_data() -> None:
    class Evil:
        def __reduce__(self) -> tuple:
            return (print, ("pwned",))

    with pytest.raises(ProtocolError):
        MsgpackSerializer.dumps(("f", Evil(), (), {}))
    pickled = pickle.dumps(("f", None, (), {}))
    with pytest.raises(ProtocolError) as info:
        MsgpackSerializer.loads(pickled)
    assert info.value.raw == pickled


def test_rq_accepts_the_serializer() -> None:
    from rq.serializers import Serializer, resolve_serializer

    assert isinstance(MsgpackSerializer, Serializer)
    assert resolve_serializer(MsgpackSerializer) is MsgpackSerializer
    assert resolve_serializer("redsweep.shared.protocol.MsgpackSerializer") is MsgpackSerializer
