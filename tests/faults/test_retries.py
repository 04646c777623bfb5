"""A point whose attempts keep crashing: retried twice by default, then the sweep ends saying
so (never a silent "finished" with a point missing), and ``redsweep retry`` runs it again.
Real processes, lease 2 s."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from faults.kit import LEASE_S, agent, controller, grid_sweep, started, sweep_finished
from helpers import STARTUP_S, run_cli, wait_for

from redsweep.shared.records import RunState
from redsweep.shared.store import Store


def test_a_point_crashed_three_times_ends_the_sweep_honestly_and_retry_runs_it_again(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    sweep_id = grid_sweep(redis_url, tmp_path, 1)
    ctl = controller(procs, redis_url, sweep_id, tmp_path)
    seen: list[str] = []
    for attempt in (1, 2, 3):  # the first run and its two retries, each agent killed
        doomed = agent(procs, redis_url, sweep_id, tmp_path, WORK_1=60)

        def new_start():
            line = started(tmp_path, 1)
            return line if line is not None and line.trial_id not in seen else None

        line = wait_for(new_start, STARTUP_S + 4 * LEASE_S, f"attempt {attempt} starts",
                        procs=procs, watched=[ctl, doomed])  # fmt: skip
        seen.append(line.trial_id)
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    wait_for(lambda: sweep_finished(store, sweep_id), 6 * LEASE_S + STARTUP_S,
             "the sweep to end", procs=procs, watched=[ctl])  # fmt: skip
    assert ctl.wait(timeout=60) == 0, procs.output(ctl)
    trials = {t.id: t for t in store.reads.trials(sweep_id)}
    assert [(trials[t].attempt, trials[t].state) for t in seen] == [
        (1, RunState.CRASHED),
        (2, RunState.CRASHED),
        (3, RunState.CRASHED),
    ]
    assert len(trials) == 3  # two retries, no more
    reason = store.sweeps.get(sweep_id).done_reason or ""
    assert "1 crashed after 3 attempts" in reason, reason
    status = run_cli(redis_url, "status", sweep_id, check=True).stdout
    assert "1 crashed after 3 attempts" in status, status
    assert "runs    1/1 done" in status, status  # one point, however many attempts

    retried = run_cli(redis_url, "retry", sweep_id, "--crashed", cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    last = agent(procs, redis_url, sweep_id, tmp_path, WORK_1=0.2)
    assert last.wait(timeout=60) == 0, procs.output(last)
    finished = [t for t in store.reads.trials(sweep_id) if t.state is RunState.FINISHED]
    assert [t.params for t in finished] == [{"a": 1}]
    assert store.sweeps.get(sweep_id).state.value == "finished"
    status = run_cli(redis_url, "status", sweep_id, check=True).stdout
    assert "runs    1/1 done" in status, status
