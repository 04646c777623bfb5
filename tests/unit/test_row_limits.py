"""The limits of one logged row: only the keys that break one are dropped, each named."""

from __future__ import annotations

from redsweep.worker.api.limits import RowLimits, fit


def test_a_row_within_the_limits_is_kept_as_it_is() -> None:
    row = {"loss": 0.5, "name": "x" * 100, "hist": list(range(100)), "ok": None}
    assert fit(row, RowLimits()) == (row, [])


def test_only_the_keys_over_a_limit_are_dropped_and_each_is_named() -> None:
    limits = RowLimits(max_keys=3, max_key_chars=8, max_value_bytes=100, max_row_bytes=150)
    row = {
        "loss": 0.5,
        "a_very_long_key": 1,
        "big": "x" * 200,
        "odd": object(),
        "list": list(range(40)),
        "more": 2,
        "most": 3,
    }
    kept, dropped = fit(row, limits)
    assert kept == {"loss": 0.5, "list": list(range(40)), "more": 2}
    assert len(dropped) == 4
    assert "'a_very_lo" in dropped[0] and "15 characters; at most 8" in dropped[0]
    assert dropped[1].startswith("'big' (a value of") and "at most 100" in dropped[1]
    assert dropped[2].startswith("'odd' (") and "object" in dropped[2]
    assert dropped[3].startswith("'most' (past 3 keys")
    assert "the row passed 150 bytes" not in " ".join(dropped)


def test_values_past_the_row_total_are_dropped() -> None:
    limits = RowLimits(max_value_bytes=100, max_row_bytes=150)
    kept, dropped = fit({"a": "x" * 80, "b": "y" * 80, "c": 1}, limits)
    assert kept == {"a": "x" * 80, "c": 1}
    assert dropped == ["'b' (the row passed 150 bytes)"]


def test_what_the_wire_refuses_is_dropped_by_key_and_the_rest_packs() -> None:
    """A lone surrogate or an int past 64 bits passed the fast size paths, and then the
    reporter dropped the whole row; now only those keys go."""
    import os

    from redsweep.shared.protocol import pack_value

    row = {"acc": 0.9, "bad": "\ud800", "huge": 2**64, "Data": os, "ok": -(2**63)}
    kept, dropped = fit(row, RowLimits())
    assert kept == {"acc": 0.9, "ok": -(2**63)}
    assert [d.split(" ")[0] for d in dropped] == ["'bad'", "'huge'", "'Data'"]
    pack_value(kept)  # the rest of the row goes on the wire
