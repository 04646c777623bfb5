"""Key names and URLs as users meet them: one slot per sweep, no passwords in messages."""

from __future__ import annotations

import re

import pytest

from redsweep.errors import NotFoundError
from redsweep.shared.store import keys, mask_url, new_id


def test_every_key_of_a_sweep_shares_its_hash_tag() -> None:
    sweep_keys = [
        keys.sweep("ab12cd34"),
        keys.controller("ab12cd34"),
        keys.trials("ab12cd34"),
        keys.running("ab12cd34"),
        keys.trial("ab12cd34", "t1"),
        keys.trial_lease("ab12cd34", "t1"),
        keys.trial_summary("ab12cd34", "t1"),
        keys.trial_history("ab12cd34", "t1"),
        keys.queue("ab12cd34"),
        keys.inflight("ab12cd34", "host-1:4242"),
        keys.inflight_agents("ab12cd34"),
        keys.agents("ab12cd34"),
        keys.agent("ab12cd34", "host-1:4242"),
        keys.dead_letters("ab12cd34"),
        keys.events("ab12cd34"),
    ]
    assert len(set(sweep_keys)) == len(sweep_keys)
    for key in sweep_keys:
        assert re.match(r"redsweep:\{ab12cd34\}:", key), key


@pytest.mark.parametrize("bad", ["", "a{b}", "a:b", "a b", "x" * 129])
def test_ids_that_would_break_key_names_are_refused(bad: str) -> None:
    with pytest.raises(NotFoundError):
        keys.sweep(bad)
    with pytest.raises(NotFoundError):
        keys.trial("ab12cd34", bad)


def test_new_ids_look_like_wandb_ids() -> None:
    ids = {new_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[0-9a-z]{8}", i) for i in ids)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cret@host:6379/0", "redis://:***@host:6379/0"),
        ("rediss://alice:s3cret@host:6380/1", "rediss://alice:***@host:6380/1"),
        ("unix://:s3cret@/tmp/r.sock?db=0", "unix://:***@/tmp/r.sock?db=0"),
        ("unix:///tmp/r.sock?db=0&password=s3cret", "unix:///tmp/r.sock?db=0&password=***"),
        ("redis://host:6379/0", "redis://host:6379/0"),
    ],
)
def test_passwords_are_masked_in_urls(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    assert "s3cret" not in mask_url(url)
