"""Hyperband in the loop: a real controller and agent run a sweep over synthetic learning
curves; the runs stopped are exactly those W&B's rule (our pure engine) names, each with the
band, threshold and value that stopped it, and the others run to the end."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml
from helpers import redsweep_cmd, run_cli

from redsweep import engine
from redsweep.shared.engine import stopping
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

#: each curve's loss at its second logged row (iteration 2, the one band of this config)
AT_BAND = [0.5, 0.8, 0.3, 0.9, 0.2, 0.7]
ROWS = 12

CURVE = f"""\
import time
import redsweep

AT_BAND = {AT_BAND!r}
redsweep.init()
v = AT_BAND[redsweep.config.curve]
curve = [v + 0.1] + [round(v - 0.01 * k, 4) for k in range({ROWS - 1})]
for loss in curve:
    redsweep.log({{"loss": loss}})
    time.sleep(0.1)
"""

CONFIG = {
    "program": "curve.py",
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"curve": {"values": list(range(len(AT_BAND)))}},
    # bands: int(6 / 3) = 2 only, so a run is judged at its second value whenever it is seen
    "early_terminate": {"type": "hyperband", "max_iter": 6, "s": 1, "eta": 3},
}


def test_hyperband_stops_exactly_the_runs_the_engine_names(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    (tmp_path / "curve.py").write_text(CURVE)
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(CONFIG))
    made = run_cli(redis_url, "sweep", "sweep.yaml", cwd=tmp_path, check=True)
    sweep_id = made.stdout.strip().splitlines()[-1]
    ctl = procs.spawn(redsweep_cmd(redis_url, "controller", sweep_id), cwd=tmp_path)
    # one agent: the trials run in order
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path)
    for proc in (agent, ctl):
        try:
            assert proc.wait(timeout=90) == 0, procs.output(proc)
        except subprocess.TimeoutExpired:
            raise AssertionError(procs.output(proc)) from None
    assert store.sweeps.get(sweep_id).state is SweepState.FINISHED

    trials = sorted(store.reads.trials(sweep_id), key=lambda t: t.claimed_ms or 0)
    assert [t.params["curve"] for t in trials] == list(range(len(AT_BAND)))
    histories = {t.id: store.reads.history(sweep_id, t.id) for t in trials}

    # replay: each run judged, while running with its first two values, against those before it
    config = engine.load_config(CONFIG)
    expected: dict[str, stopping.StopDecision] = {}
    before: list[engine.RunRecord] = []
    for t in trials:
        rows = histories[t.id]
        now = engine.RunRecord(t.id, "running", t.params, history=rows[:2])
        for decision in stopping.stop_decisions(config, [*before, now]):
            expected[decision.run_id] = decision
        assert engine.stop_runs(config, [*before, now]) == ([t.id] if t.id in expected else [])
        before.append(engine.RunRecord(t.id, t.state.value, t.params, history=rows))

    stopped = {t.id for t in trials if t.state is RunState.STOPPED}
    assert stopped == set(expected)
    # by hand: 0.8 > 0.5 (of 2, index 0); 0.9 > 0.5 (of 4, index 1); 0.7 > 0.5 (of 6, index 2)
    assert sorted(t.params["curve"] for t in trials if t.id in stopped) == [1, 3, 5]
    for t in trials:
        if t.id in stopped:
            d = expected[t.id]
            assert t.stop_reason == {
                "rule": "hyperband",
                "band": d.band,
                "threshold": d.threshold,
                "value": d.value,
            }
            assert (d.band, d.threshold, d.value) == (2, 0.5, AT_BAND[t.params["curve"]])
            assert len(histories[t.id]) < ROWS  # ended early
        else:
            assert t.state is RunState.FINISHED
            assert t.stop_reason is None
            assert len(histories[t.id]) == ROWS  # ran to the end
