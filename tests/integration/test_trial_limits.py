"""Bounds on what one trial can pour into the store: the history cap (report.lua thins the
stored history, the summary and best value stay exact) and the limits of one logged row (the
offending keys are dropped, the rest kept, one warning per trial), against the session's
private Redis, through the store, a function trial and a command trial."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import redis

from redsweep.results import Api
from redsweep.shared.protocol import unpack_rows
from redsweep.shared.records import SweepState
from redsweep.shared.store import Store, keys

ROOT = Path(__file__).resolve().parents[2]
LONG = 120_000
CAP = 16
ROWS = 2_000


def running_trial(store: Store, config: dict[str, Any] | None = None) -> tuple[str, str, str]:
    """(sweep id, trial id, token) of a trial claimed by hand."""
    sweep_id = store.sweeps.create(config or {"method": "random"})
    epoch = store.controllers.acquire(sweep_id, "ctl", LONG)
    assert epoch is not None
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING])
    store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "a1", LONG)
    assert taken is not None and taken.trial_id and taken.token
    return sweep_id, taken.trial_id, taken.token


def assert_thinned(store: Store, sweep_id: str, trial_id: str, rows: int, cap: int) -> None:
    """What a user reading the history of a trial that logged ``rows`` rows sees."""
    history = store.reads.history(sweep_id, trial_id)
    steps = [r["_step"] for r in history]
    assert len(history) <= cap + 1  # the cap, and the latest row
    assert steps[0] == 0 and steps[-1] == rows - 1  # the first and the latest row
    assert steps == sorted(steps)
    stride = steps[1] - steps[0]
    assert stride > 1 and all(s % stride == 0 for s in steps[:-1])  # every k-th row
    assert len(history) >= cap // 2  # thinned, not emptied
    assert history[-1]["loss"] == 1.0 / rows
    summary = store.reads.summary(sweep_id, trial_id)
    assert summary["loss"] == 1.0 / rows and summary["i"] == rows - 1  # the summary is exact
    trial = store.reads.trial(sweep_id, trial_id)
    assert trial.best == 1.0 / rows and trial.history_rows == rows


def test_report_thins_the_history_past_the_cap_for_any_writer(store: Store) -> None:
    sweep_id, trial_id, token = running_trial(store)
    step = 0
    for size in [1, 5, 3, 100, 7, 500, 1, 383, 1000]:  # batches of any size: 2000 rows
        rows = [(s, {"loss": 1.0 / (s + 1), "i": s}) for s in range(step, step + size)]
        renewal = store.trials.report(
            sweep_id, trial_id, token, rows, metric_name="loss", lease_ms=LONG, history_cap=CAP
        )
        assert renewal.ok
        step += size
    assert step == ROWS
    assert_thinned(store, sweep_id, trial_id, ROWS, CAP)
    assert store.sweeps.get(sweep_id).best_value == 1.0 / ROWS


def test_the_default_cap_holds_without_being_asked(store: Store, redis_client: redis.Redis) -> None:
    sweep_id, trial_id, token = running_trial(store)
    cap = 10_000
    for start in range(0, 25_000, 500):
        rows = [(s, {"loss": 1.0 / (s + 1), "i": s}) for s in range(start, start + 500)]
        store.trials.report(sweep_id, trial_id, token, rows, metric_name="loss", lease_ms=LONG)
    assert_thinned(store, sweep_id, trial_id, 25_000, cap)
    stored = unpack_rows(redis_client.get(keys.trial_history(sweep_id, trial_id)))
    assert len(stored) <= cap


# ---- through an agent: a function trial and a command trial ------------------------------------

# {rows} rows of loss and i; then, with {bad}, a row with a too long key and a too big value,
# and one of 1,100 keys
LOGS = """\
for i in range({rows}):
    redsweep.log({{"loss": 1.0 / (i + 1), "i": i}})
if {bad}:
    redsweep.log({{"loss": 1.0 / {rows}, "i": {rows} - 1, "k" * 300: 1, "big": "x" * 100_000}})
    redsweep.log({{**{{f"m{{j}}": j for j in range(1_100)}}, "loss": 1.0}}, step={rows} + 1)
"""

AGENT = """\
import json, os, sys
import redsweep.worker.api.functions as redsweep
from redsweep.worker.agent.session import AgentSession

def objective():
{logs}
session = AgentSession(os.environ["REDSWEEP_REDIS_URL"], sys.argv[1], {options})
print(json.dumps(session.run().as_dict()))
"""

TRAIN = """\
import redsweep.worker.api.functions as redsweep

redsweep.init()
{logs}
print("trained")
"""

WARNING = "log() dropped"


def logs(rows: int, bad: bool) -> str:
    return LOGS.format(rows=rows, bad=bad)


def run_agent(
    procs: Any, tmp_path: Path, redis_url: str, sweep_id: str, options: str, objective: str = ""
) -> str:
    """Run one agent to its end (``objective``: its function's body); its stderr."""
    script = tmp_path / "agent.py"
    body = textwrap.indent(objective or "pass", "    ")
    script.write_text(AGENT.format(logs=body, options=options))
    env = {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url}
    proc = procs.spawn([sys.executable, str(script), sweep_id], env=env, cwd=tmp_path)
    code = proc.wait(timeout=60)
    out, err = procs.output(proc)
    assert code == 0, f"agent exited {code}\nstdout:\n{out}\nstderr:\n{err}"
    assert json.loads(out.strip().splitlines()[-1])["finished"] == 1
    return err


def sweep(store: Store, **config: Any) -> str:
    return store.sweeps.create(
        {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"values": [1]}},
            **config,
        },
        grid_size=1,
    )


def assert_capped(store: Store, sweep_id: str, trial_id: str) -> None:
    """A trial that logged ROWS rows under a cap of CAP."""
    history = store.reads.history(sweep_id, trial_id)
    assert len(history) <= CAP + 1
    assert history[0]["_step"] == 0 and history[-1]["_step"] == ROWS - 1
    assert store.reads.summary(sweep_id, trial_id) == {"loss": 1.0 / ROWS, "i": ROWS - 1}
    trial = store.reads.trial(sweep_id, trial_id)
    assert trial.best == 1.0 / ROWS and trial.history_rows == ROWS
    assert store.sweeps.get(sweep_id).best_value == 1.0 / ROWS


def assert_row_limits(store: Store, sweep_id: str, trial_id: str, output: str) -> None:
    """The rows over a limit kept their other keys; one warning names what was dropped."""
    history = store.reads.history(sweep_id, trial_id)
    assert [r["_step"] for r in history] == [0, 1, 2, 3]
    assert history[2] == {"loss": 0.5, "i": 1, "_step": 2}  # without "k..." and "big"
    assert len(history[3]) == 1_000 + 1 and history[3]["m999"] == 999  # the first 1,000 keys
    summary = store.reads.summary(sweep_id, trial_id)
    assert "big" not in summary and "k" * 300 not in summary and "m1000" not in summary
    assert summary["loss"] == 0.5 and summary["m999"] == 999  # row 3's loss was key 1,101
    assert output.count(WARNING) == 1
    assert "'big' (a value of" in output and "a key of 300 characters" in output
    warning = store.reads.trial(sweep_id, trial_id).warning
    assert warning is not None and "'big'" in warning
    assert Api(store=store).sweep(sweep_id).run(trial_id).warning == warning


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "forked"])
def test_a_function_trial_flooding_log_keeps_the_cap_and_an_exact_summary(
    store: Store, procs: Any, tmp_path: Path, redis_url: str, isolate: bool
) -> None:
    sweep_id = sweep(store)
    options = f"function=objective, history_cap={CAP}, count=1, isolate={isolate}"
    run_agent(procs, tmp_path, redis_url, sweep_id, options, logs(ROWS, False))
    [trial] = store.reads.trials(sweep_id)
    assert_capped(store, sweep_id, trial.id)


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "forked"])
def test_a_function_trial_row_over_the_limits_keeps_its_other_keys_and_warns_once(
    store: Store, procs: Any, tmp_path: Path, redis_url: str, isolate: bool
) -> None:
    sweep_id = sweep(store)
    options = f"function=objective, count=1, isolate={isolate}"
    err = run_agent(procs, tmp_path, redis_url, sweep_id, options, logs(2, True))
    [trial] = store.reads.trials(sweep_id)
    assert_row_limits(store, sweep_id, trial.id, err)


def command_trial(
    store: Store, procs: Any, tmp_path: Path, redis_url: str, rows: int, bad: bool, options: str
) -> tuple[str, str, str]:
    """(sweep id, trial id, the agent's stderr) of a command trial logging through the API."""
    (tmp_path / "train.py").write_text(TRAIN.format(logs=logs(rows, bad)))
    sweep_id = sweep(store, program="train.py")
    agent_dir = tmp_path / "agent"
    options = f"count=1, agent_dir={str(agent_dir)!r}{options}"
    err = run_agent(procs, tmp_path, redis_url, sweep_id, options)
    [trial] = store.reads.trials(sweep_id)
    return sweep_id, trial.id, err


def test_a_command_trial_flooding_log_keeps_the_cap_and_an_exact_summary(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    options = f", history_cap={CAP}"
    sweep_id, trial_id, _ = command_trial(store, procs, tmp_path, redis_url, ROWS, False, options)
    assert_capped(store, sweep_id, trial_id)


def test_a_command_trial_row_over_the_limits_warns_once_in_its_log_and_the_agents_output(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    sweep_id, trial_id, err = command_trial(store, procs, tmp_path, redis_url, 2, True, "")
    assert_row_limits(store, sweep_id, trial_id, err)
    log = (tmp_path / "agent" / f"{trial_id}.log").read_text()
    assert log.count(WARNING) == 1 and "'big' (a value of" in log


def test_redis_memory_stays_flat_under_a_flooding_trial(
    store: Store, redis_client: redis.Redis
) -> None:
    """20,000 rows through the in-trial API with a cap of 1,000: the stored history takes no
    more than it did at 1,000 rows (it is thinned to 500 and grows back to 1,000)."""
    from redsweep.worker.api.config import Config
    from redsweep.worker.api.link import TrialLink
    from redsweep.worker.api.run import Run

    cap = 1_000
    sweep_id, trial_id, token = running_trial(store)
    link = TrialLink(store, sweep_id, trial_id, token, params={}, metric_name="loss")
    link.history_cap = cap
    run = Run(link, mode="agent", config=Config())
    history = keys.trial_history(sweep_id, trial_id)

    def log(start: int, stop: int) -> None:
        for i in range(start, stop):
            run.log({"loss": 1.0 / (i + 1), "acc": i / 20_000, "lr": 0.001, "epoch": i // 100})
        assert run.flush(30.0)

    log(0, cap - 1)  # the most the history holds: cap - 1 rows, then it is thinned
    full = redis_client.memory_usage(history, samples=0)
    used = redis_client.info("memory")["used_memory"]
    log(cap - 1, 20_000)
    run.finish()
    assert redis_client.memory_usage(history, samples=0) <= full
    assert redis_client.info("memory")["used_memory"] - used < 5 * full  # all kept: 20x
    assert store.reads.summary(sweep_id, trial_id)["loss"] == 1.0 / 20_000
