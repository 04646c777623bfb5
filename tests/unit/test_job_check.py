"""The worker daemons' job allow-list: an agent session's arguments, strictly."""

from __future__ import annotations

from typing import Any

import pytest

from redsweep.worker.daemon.job import ENTRY, RefusedJob, _check


def job(**kwargs: Any) -> list[Any]:
    return [ENTRY, None, ["abc123"], kwargs]


@pytest.mark.parametrize("kwargs", [{}, {"count": 3}, {"count": None, "trial_timeout": 2.5},
                                    {"trial_timeout": 30}, {"trial_timeout": None},
                                    {"retries": 0}, {"count": 2, "retries": 5}])  # fmt: skip
def test_a_session_with_a_count_a_trial_timeout_and_retries_passes(kwargs: dict[str, Any]) -> None:
    assert _check("j1", job(**kwargs))[2] == kwargs


@pytest.mark.parametrize(
    "kwargs",
    [
        {"trial_timeout": 0},
        {"trial_timeout": -1.0},
        {"trial_timeout": "30"},
        {"trial_timeout": True},
        {"trial_timeout": float("nan")},
        {"trial_timeout": float("inf")},
        {"timeout": 30},
        {"retries": -1},
        {"retries": 1.5},
        {"retries": True},
        {"retries": "2"},
    ],
)
def test_a_bad_trial_timeout_retries_or_another_keyword_is_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(RefusedJob, match="refused job j1: an agent session takes"):
        _check("j1", job(**kwargs))
