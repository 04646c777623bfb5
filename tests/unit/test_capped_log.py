"""A command trial's log file is capped: the head and the tail, a marker line between them."""

from __future__ import annotations

from pathlib import Path

import pytest

from redsweep.errors import RedsweepError
from redsweep.worker.trial.output import CappedLog, log_cap_from_env


def written(tmp_path: Path, data: bytes, cap: int, chunk: int) -> bytes:
    log = CappedLog(tmp_path / "t.log", cap)
    for i in range(0, len(data), chunk):
        log.write(data[i : i + chunk])
    log.close()
    return (tmp_path / "t.log").read_bytes()


def marker(left_out: int, head: int, tail: int) -> bytes:
    return (
        f"\n[redsweep: {left_out} bytes of output left out here; the log keeps the first "
        f"{head} and the last {tail} bytes]\n"
    ).encode()


@pytest.mark.parametrize("chunk", [1, 7, 100, 4096])
@pytest.mark.parametrize("size", [0, 50, 99, 100])
def test_output_within_the_cap_is_kept_whole(tmp_path: Path, size: int, chunk: int) -> None:
    data = bytes(i % 251 for i in range(size))
    assert written(tmp_path, data, 100, chunk) == data


@pytest.mark.parametrize("chunk", [1, 7, 33, 50, 64, 1000, 10_000])
@pytest.mark.parametrize("size", [102, 150, 177, 1234, 5000])
def test_output_past_the_cap_keeps_its_head_and_its_tail(
    tmp_path: Path, size: int, chunk: int
) -> None:
    data = bytes(i % 251 for i in range(size))
    cap = 101  # an odd cap: a head of 50, a tail of 51
    assert (
        written(tmp_path, data, cap, chunk) == data[:50] + marker(size - cap, 50, 51) + data[-51:]
    )


def test_the_cap_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDSWEEP_LOG_CAP", raising=False)
    assert log_cap_from_env() == 64 * 1024 * 1024
    monkeypatch.setenv("REDSWEEP_LOG_CAP", "4096")
    assert log_cap_from_env() == 4096
    monkeypatch.setenv("REDSWEEP_LOG_CAP", "64M")
    with pytest.raises(RedsweepError, match=r"REDSWEEP_LOG_CAP='64M': expected a number of bytes"):
        log_cap_from_env()
