"""The trial's compact layout in Redis: packed history rows, chunked long values, and stores
written by the layout before it (a history stream per trial) read without crashing."""

from __future__ import annotations

import pytest
import redis

from redsweep.results import Api
from redsweep.shared import protocol
from redsweep.shared.records import RunState
from redsweep.shared.store import Store, keys
from redsweep.shared.store.scripts.trials import AddTrial

LONG = 30_000


@pytest.fixture
def sweep(store: Store) -> tuple[str, int]:
    sweep_id = store.sweeps.create({"method": "random", "metric": {"name": "loss"}})
    epoch = store.controllers.acquire(sweep_id, "ctl", LONG)
    assert epoch is not None
    return sweep_id, epoch


def _claim(store: Store, sweep_id: str) -> tuple[str, str, dict]:
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.token
    assert taken.trial_id is not None
    return taken.trial_id, taken.token, dict(taken.params)


@pytest.mark.parametrize("size", [1, 63, 64, 65, 128, 300])
def test_params_of_any_length_come_back_whole_and_the_trial_stays_compact(
    store: Store, redis_client: redis.Redis, sweep: tuple[str, int], size: int
) -> None:
    sweep_id, epoch = sweep
    params = {"name": "x" * size, "lr": 0.001, "layers": [64, 128, {"act": "relu"}]}
    call = AddTrial(sweep_id, params, epoch=epoch)
    assert store.conn.call(call) == "ok"
    assert store.conn.call(call) == "ok"  # a retried call (its reply lost) adds nothing
    assert store.queue.length(sweep_id) == 1
    trial_id, token, claimed = _claim(store, sweep_id)
    assert trial_id == call.trial_id and claimed == params
    path = "/home/someone/projects/a-rather-long-name/.redsweep/agents/" + "p" * size + ".log"
    store.trials.note_log(sweep_id, trial_id, host="gpu-box", path=path)
    assert store.trials.finish(sweep_id, trial_id, token, "finished", summary={"loss": 0.5})
    trial = store.reads.trial(sweep_id, trial_id)
    assert (trial.params, trial.log_path, trial.state) == (params, path, RunState.FINISHED)
    assert store.reads.trials(sweep_id)[0].params == params
    assert redis_client.object("encoding", keys.trial(sweep_id, trial_id)) == b"listpack"


def test_history_rows_read_back_as_logged(store: Store, sweep: tuple[str, int]) -> None:
    sweep_id, epoch = sweep
    store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    trial_id, token, _ = _claim(store, sweep_id)
    rows = [
        (0, {"loss": 0.5}),
        (1, {"loss": 0.25, "text": "é" * 100, "nested": {"a": [1, 2.5, None, True]}}),
        (2**40, {"loss": -1e300, "big": 2**63 - 1}),
    ]
    for row in rows:  # one call per row, then several in one call
        store.trials.report(sweep_id, trial_id, token, [row], metric_name="loss", lease_ms=LONG)
    more = [(2**40 + i, {"i": i}) for i in range(1, 50)]
    store.trials.report(sweep_id, trial_id, token, more, metric_name="loss", lease_ms=LONG)
    # past 8 KiB the rows are appended, not written whole: both read back the same
    for start in range(50, 250, 20):
        batch = [(2**40 + i, {"i": i, "t": "y" * 100}) for i in range(start, start + 20)]
        store.trials.report(sweep_id, trial_id, token, batch, metric_name="loss", lease_ms=LONG)
        more += batch
    expected = [{**row, "_step": step} for step, row in rows + more]
    assert store.reads.history(sweep_id, trial_id) == expected
    assert store.reads.histories(sweep_id, [trial_id]) == {trial_id: expected}
    assert store.reads.trial(sweep_id, trial_id).history_rows == len(expected)


def test_a_store_of_the_stream_layout_reads_without_crashing(
    store: Store, redis_client: redis.Redis, redis_url: str, sweep: tuple[str, int]
) -> None:
    """A trial written by the layout before (its id and finished_by on the hash, its rows in a
    stream ``:history``): listed, read and finished as before; its old rows are not read."""
    sweep_id, epoch = sweep
    store.trials.add(sweep_id, [{"x": 2}], epoch=epoch)
    trial_id, token, _ = _claim(store, sweep_id)
    trial_key = keys.trial(sweep_id, trial_id)
    old_history = f"{trial_key}:history"
    redis_client.xadd(old_history, {"step": 0, "row": protocol.pack_value({"loss": 3.0})})
    redis_client.hset(trial_key, mapping={"id": trial_id, "stop_requested": 0})
    store.trials.report(
        sweep_id, trial_id, token, [(1, {"loss": 2.0})], metric_name="loss", lease_ms=LONG
    )
    assert store.trials.finish(sweep_id, trial_id, token, "finished")
    redis_client.hset(trial_key, "finished_by", token)
    assert store.reads.history(sweep_id, trial_id) == [{"loss": 2.0, "_step": 1}]
    [(trial, run)] = store.reads.runs(sweep_id)
    assert trial.id == trial_id and run.summary == {"loss": 2.0}
    api_run = Api(redis=redis_url).sweep(sweep_id).runs[0]
    assert [row["loss"] for row in api_run.scan_history()] == [2.0]
    assert redis_client.type(old_history) == b"stream"  # left alone
