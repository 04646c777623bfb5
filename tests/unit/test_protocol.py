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
    canonical_params,
    decode,
    encode,
    pack_value,
    unpack_value,
)
from redsweep.shared.records import MetricReport, RunState, TrialMessage, TrialResult

TRIAL = TrialMessage(sweep_id="sw1", trial_id="t-0007", attempt=2)
REPORT = MetricReport(
    sweep_id="sw1",
    trial_id="t-0007",
    token="tok-abc",
    step=12,
    metrics={
        "loss": 0.25,
        "acc": 1,
        "nested": {"layer": [1, 2.5, "x", None, True], "deeper": {"k": {}}},
        "name": "résumé ✓ 数据",
    },
)
RESULT = TrialResult(
    sweep_id="sw1",
    trial_id="t-0007",
    token="tok-abc",
    state=RunState.FAILED,
    summary={"loss": 0.125, "epochs": 3},
    error="Traceback ...\nValueError: boom ✗",
)


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


@pytest.mark.parametrize("record", [TRIAL, REPORT, RESULT], ids=["trial", "report", "result"])
def test_every_record_round_trips(record: object) -> None:
    raw = encode(record)  # type: ignore[arg-type]
    assert isinstance(raw, bytes)
    assert decode(raw) == record
    assert decode(raw, type(record)) == record


def test_wire_map_has_version_tag_and_exact_fields() -> None:
    assert _map_of(TRIAL) == {
        "v": 1,
        "t": "trial",
        "sweep_id": "sw1",
        "trial_id": "t-0007",
        "attempt": 2,
    }
    assert set(_map_of(RESULT)) == {
        "v",
        "t",
        "sweep_id",
        "trial_id",
        "token",
        "state",
        "summary",
        "error",
    }


def test_run_state_travels_as_its_string_value() -> None:
    assert _map_of(RESULT)["state"] == "failed"
    decoded = decode(encode(RESULT), TrialResult)
    assert decoded.state is RunState.FAILED


def test_result_defaults_round_trip() -> None:
    result = TrialResult("s", "t", "tok", RunState.FINISHED)
    assert decode(encode(result)) == result


def test_nan_and_infinite_floats_survive() -> None:
    report = MetricReport("s", "t", "tok", 0, {"nan": math.nan, "inf": math.inf, "ninf": -math.inf})
    decoded = decode(encode(report), MetricReport)
    assert math.isnan(decoded.metrics["nan"])
    assert decoded.metrics["inf"] == math.inf
    assert decoded.metrics["ninf"] == -math.inf


def test_numpy_scalars_and_tuples_become_plain_values() -> None:
    report = MetricReport(
        "s", "t", "tok", np.int64(3), {"a": np.float32(0.5), "b": (1, 2), "c": np.bool_(True)}
    )
    decoded = decode(encode(report), MetricReport)
    assert decoded.step == 3
    assert decoded.metrics == {"a": 0.5, "b": [1, 2], "c": True}
    assert type(decoded.metrics["a"]) is float
    assert type(decoded.metrics["c"]) is bool


def test_encode_refuses_values_that_are_not_plain() -> None:
    bad = MetricReport("s", "t", "tok", 1, {"obj": object()})
    with pytest.raises(ProtocolError, match=r"metrics\.obj.*object"):
        encode(bad)
    with pytest.raises(ProtocolError, match="attempt"):
        encode(TrialMessage("s", "t", "2"))  # type: ignore[arg-type]
    with pytest.raises(ProtocolError, match="not a wire record"):
        encode({"v": 1})  # type: ignore[arg-type]


def test_encode_refuses_oversized_message() -> None:
    big = MetricReport("s", "t", "tok", 1, {"blob": "x" * MAX_MESSAGE_BYTES})
    with pytest.raises(ProtocolError, match="over the limit"):
        encode(big)


# ---- refused input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xc1", b"hello world", b"\xff\xfe\xfd", b"\x00\x01"],
    ids=["empty", "never-used-byte", "text", "garbage", "trailing"],
)
def test_garbage_bytes_are_refused(raw: bytes) -> None:
    _refused(raw)


def test_truncated_message_is_refused() -> None:
    raw = encode(REPORT)
    for cut in (1, len(raw) // 2, len(raw) - 1):
        _refused(raw[:cut])


def test_trailing_bytes_are_refused() -> None:
    _refused(encode(TRIAL) + b"\x00", match="trailing")


def test_ext_types_are_refused() -> None:
    fields = _map_of(REPORT)
    fields["metrics"] = {"when": msgpack.ExtType(42, b"payload")}
    _refused(_wire(fields), match="ext type 42")


def test_msgpack_timestamps_are_refused() -> None:
    fields = _map_of(REPORT)
    fields["metrics"] = {"when": msgpack.Timestamp(1_700_000_000)}
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
    fields = _map_of(REPORT)
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    fields["metrics"] = {"deep": deep}
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


def test_wrong_record_type_is_refused_when_one_is_expected() -> None:
    _refused(encode(TRIAL), expected=MetricReport, match="expected a metric report, got a trial")


def test_message_that_is_not_a_map_is_refused() -> None:
    _refused(_packed([1, "trial", "s", "t", 1]), match="expected a map")


def test_missing_fields_are_refused() -> None:
    fields = _map_of(RESULT)
    del fields["token"]
    del fields["error"]
    _refused(_wire(fields), match="missing field.*token, error")


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
        (REPORT, "metrics", [1, 2], "'metrics' must be a map"),
        (REPORT, "step", None, "'step' must be an integer"),
        (RESULT, "state", "exploded", "'exploded' is not a run state"),
        (RESULT, "state", 3, "'state' must be a run state"),
        (RESULT, "summary", "fine", "'summary' must be a map"),
        (RESULT, "error", 42, "'error' must be a string"),
    ],
)
def test_wrong_field_types_are_refused(record: object, field: str, value: object, match: str):
    fields = _map_of(record)
    fields[field] = value
    _refused(_wire(fields), match=match)


def test_non_string_map_keys_are_refused() -> None:
    # strict_map_key refuses int keys, the plain-value check refuses binary keys
    fields = _map_of(REPORT)
    fields["metrics"] = {1: 0.5}
    _refused(_wire(fields))
    fields["metrics"] = {b"loss": 0.5}
    _refused(_wire(fields), match="map key")


def test_decode_of_non_bytes_is_refused() -> None:
    with pytest.raises(ProtocolError, match="expected bytes"):
        decode("not bytes")  # type: ignore[arg-type]


# ---- plain values and canonical params -----------------------------------------------------------


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


def test_canonical_params_ignores_key_order_at_every_level() -> None:
    a = {"b": 1, "a": {"y": 2, "x": [1, {"q": 1, "p": 2}]}}
    b = {"a": {"x": [1, {"p": 2, "q": 1}], "y": 2}, "b": 1}
    assert canonical_params(a) == canonical_params(b)
    # keys come out sorted: map of 2, "a" first
    assert canonical_params(a).startswith(b"\x82\xa1a")


def test_canonical_params_keeps_integral_floats_apart_from_ints() -> None:
    assert canonical_params({"x": 1.0}) != canonical_params({"x": 1})
    assert unpack_value(canonical_params({"x": 1.0})) == {"x": 1.0}
    assert type(unpack_value(canonical_params({"x": 1.0}))["x"]) is float


def test_canonical_params_treats_tuples_and_numpy_like_plain_values() -> None:
    assert canonical_params({"x": (1, 2), "y": np.float64(0.5)}) == canonical_params(
        {"y": 0.5, "x": [1, 2]}
    )


def test_canonical_params_refuses_non_mappings() -> None:
    with pytest.raises(ProtocolError):
        canonical_params([("a", 1)])  # type: ignore[arg-type]


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
