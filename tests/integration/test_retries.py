"""The retry policy and honest endings: a crashed trial runs again up to the policy's retries
(default 2; the sweep's ``redsweep: {retries: N}``; the controller process's own setting
first), a point whose every attempt crashed is said in the done reason and in ``status``, and
``redsweep retry`` runs such points again, each once, as new runs."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import yaml
from helpers import redsweep_cmd, run_cli, wait_for

from redsweep.controller.controller import Controller
from redsweep.progress import Progress
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

LONG = 30_000
TRAIN = """\
import redsweep

run = redsweep.init()
redsweep.log({"score": redsweep.config.a})
"""


def grid(tmp_path: Path, values: list[int], **own: Any) -> dict[str, Any]:
    (tmp_path / "train.py").write_text(TRAIN)
    config: dict[str, Any] = {
        "program": str(tmp_path / "train.py"),
        "method": "grid",
        "metric": {"name": "score", "goal": "minimize"},
        "parameters": {"a": {"values": values}},
    }
    if own:
        config["redsweep"] = own
    return config


def controller_for(store: Store, config: dict[str, Any], **options: Any) -> Controller:
    sweep_id = store.sweeps.create(config, grid_size=len(config["parameters"]["a"]["values"]))
    controller = Controller(store, sweep_id, poll_ms=10, lease_ms=400, **options)
    assert controller.acquire()
    out = io.StringIO()
    controller.progress = Progress(sweep_id, total=None, metric=None, out=out, tty=False)
    store.agents.heartbeat(sweep_id, "a1", LONG, busy=False, host="h")
    return controller


def take(store: Store, sweep_id: str, a: int, lease_ms: int = LONG) -> Any:
    """Take queued trials as agent a1 until the one of point ``a``; the others go back."""
    skipped = []
    while True:
        taken = store.queue.take(sweep_id, "a1", lease_ms)
        assert taken is not None and taken.trial_id and taken.token
        if store.reads.trial(sweep_id, taken.trial_id).params["a"] == a:
            store.queue.ack(sweep_id, "a1", taken.entry)
            for other in reversed(skipped):  # pending again, at the head of the queue
                assert store.queue.release(sweep_id, "a1", other)
            return taken
        skipped.append(taken)


def crash(store: Store, controller: Controller, a: int) -> str:
    """Run point ``a``'s next attempt under a lease that lapses (its agent "died"), and step
    the controller until it has reaped it: the crashed trial's id."""
    sweep_id = controller.sweep_id
    wait_for(lambda: controller.step() and store.queue.length(sweep_id), 10, "a queued trial")
    taken = take(store, sweep_id, a, lease_ms=50)
    wait_for(
        lambda: (
            controller.step() is not None
            and store.reads.trial(sweep_id, taken.trial_id).state is RunState.CRASHED
        ),
        10,
        "the controller to reap the lapsed trial",
    )
    return taken.trial_id


def finish(
    store: Store, controller: Controller, a: int, state: RunState = RunState.FINISHED
) -> str:
    sweep_id = controller.sweep_id
    wait_for(lambda: controller.step() and store.queue.length(sweep_id), 10, "a queued trial")
    taken = take(store, sweep_id, a)
    summary = {"score": float(a)} if state is RunState.FINISHED else None
    assert store.trials.finish(sweep_id, taken.trial_id, taken.token, state, summary=summary)
    return taken.trial_id


def run_out(store: Store, controller: Controller) -> None:
    """Step the controller until it finishes the sweep."""
    wait_for(lambda: controller.step() is False, 10, "the controller to finish the sweep")
    assert store.sweeps.get(controller.sweep_id).state is SweepState.FINISHED


def test_a_trial_that_crashes_twice_then_succeeds_ends_its_point_finished(
    store: Store, tmp_path: Path
) -> None:
    """The default policy is two retries (it was one: the point was lost, the sweep said
    nothing)."""
    controller = controller_for(store, grid(tmp_path, [1]))
    sweep_id = controller.sweep_id
    first = crash(store, controller, 1)
    second = crash(store, controller, 1)
    third = finish(store, controller, 1)
    run_out(store, controller)
    info = store.sweeps.get(sweep_id)
    assert (info.done_reason, info.counts) == ("grid_exhausted", {"crashed": 2, "finished": 1})
    trials = {t.id: t for t in store.reads.trials(sweep_id)}
    assert (trials[second].retry_of, trials[second].attempt) == (first, 2)
    assert (trials[third].retry_of, trials[third].attempt, trials[third].state) == (
        second,
        3,
        RunState.FINISHED,
    )


def test_three_crashes_with_two_retries_end_the_sweep_saying_so(
    store: Store, redis_url: str, tmp_path: Path
) -> None:
    """retries: 2 in the sweep's config: the third crash is the last; the sweep ends with a
    done reason that says one point has no result, the foreground controller's last line
    says it, and so does ``redsweep status`` (with the command that runs it again)."""
    controller = controller_for(store, grid(tmp_path, [1, 2, 3], retries=2))
    sweep_id = controller.sweep_id
    assert controller.retries == 2
    crashed = [crash(store, controller, 1) for _ in range(3)]
    finish(store, controller, 2)
    failed = finish(store, controller, 3, RunState.FAILED)  # the objective's error: no retry
    run_out(store, controller)
    reason = "grid exhausted: 1 finished, 1 failed, 1 crashed after 3 attempts"
    info = store.sweeps.get(sweep_id)
    assert info.done_reason == reason
    assert info.counts == {"crashed": 3, "finished": 1, "failed": 1}
    assert not [t for t in store.reads.trials(sweep_id) if t.retry_of == failed]
    said = controller.progress.out.getvalue().splitlines()  # type: ignore[union-attr]
    assert said[-1] == f"sweep {sweep_id} finished ({reason})", said
    status = run_cli(redis_url, "status", sweep_id, check=True).stdout
    assert f"finished ({reason})" in status, status
    assert f"2 points: 1 failed, 1 crashed after 3 attempts (last runs {crashed[2]}" in status
    assert f"run them again: redsweep retry {sweep_id} --failed" in status, status


def test_the_controller_process_setting_wins_over_the_sweeps(store: Store, tmp_path: Path) -> None:
    controller = controller_for(store, grid(tmp_path, [1], retries=2), retries=0)
    crash(store, controller, 1)
    run_out(store, controller)
    info = store.sweeps.get(controller.sweep_id)
    assert info.done_reason == "grid exhausted: 1 crashed"
    assert info.counts == {"crashed": 1}


def test_redsweep_retry_runs_crashed_then_failed_points_again_to_finished(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    controller = controller_for(store, grid(tmp_path, [1, 2, 3]), retries=0)
    sweep_id = controller.sweep_id
    crashed = crash(store, controller, 1)
    finish(store, controller, 2)
    failed = finish(store, controller, 3, RunState.FAILED)
    run_out(store, controller)
    controller.release()

    typo = run_cli(redis_url, "retry", "nosuchid")
    assert (typo.returncode, typo.stderr.strip()) == (1, "error: no sweep 'nosuchid'")

    first = run_cli(redis_url, "retry", sweep_id, check=True)
    [new] = [t.id for t in store.reads.trials(sweep_id) if t.retry_of == crashed]
    assert first.stdout.splitlines()[:2] == [
        f"sweep {sweep_id}: queued 1 point again (the sweep was finished: it runs again)",
        f"  run {new} retries run {crashed} (crashed)",
    ], first.stdout
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.RUNNING, None)
    again = run_cli(redis_url, "retry", sweep_id, check=True)  # it has a retry now: none
    assert again.stdout.strip() == f"sweep {sweep_id}: no crashed points to run again (running)"
    with_failed = run_cli(redis_url, "retry", sweep_id, "--failed", check=True)
    [new_failed] = [t.id for t in store.reads.trials(sweep_id) if t.retry_of == failed]
    assert f"  run {new_failed} retries run {failed} (failed)" in with_failed.stdout

    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    info = store.sweeps.get(sweep_id)
    assert (info.state, info.done_reason) == (SweepState.FINISHED, "grid_exhausted")
    trials = {t.id: t for t in store.reads.trials(sweep_id)}
    assert trials[crashed].state is RunState.CRASHED  # ended runs never change
    assert trials[failed].state is RunState.FAILED
    assert (trials[new].state, trials[new].attempt) == (RunState.FINISHED, 2)
    assert (trials[new_failed].state, trials[new_failed].attempt) == (RunState.FINISHED, 2)
    assert len(trials) == 5  # each point retried once
    status = run_cli(redis_url, "status", sweep_id, check=True).stdout
    assert "retry" not in status and "no result" not in status, status


def test_validate_documents_retries_as_redsweeps_own(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(grid(tmp_path, [1], retries=3)))
    said = run_cli(None, "validate", str(path), check=True).stdout
    assert "3 retries of a crashed trial (redsweep.retries)" in said
    path.write_text(yaml.safe_dump(grid(tmp_path, [1], retries=-1)))
    bad = run_cli(None, "validate", str(path))
    assert bad.returncode == 2
    assert "redsweep.retries: must be a whole number of retries, 0 or more, got -1" in bad.stderr


def test_an_agent_crashing_a_lapsed_trial_queues_its_retry_once(
    store: Store, tmp_path: Path
) -> None:
    """No controller holds the sweep (say, the agents' background controllers failed): an
    agent crashes the lapsed trial and, as the policy allows, queues its retry; a controller
    that comes next is told it is retried and adds none."""
    from redsweep.worker.agent.reaper import Reaper

    controller = controller_for(store, grid(tmp_path, [1]))
    sweep_id = controller.sweep_id
    wait_for(lambda: controller.step() and store.queue.length(sweep_id), 10, "a queued trial")
    controller.release()
    lapsing = take(store, sweep_id, 1, lease_ms=50)
    said: list[str] = []
    reaper = Reaper(store, sweep_id, say=said.append, retries=2)
    wait_for(lambda: reaper.now(), 10, "the agent to crash the lapsed trial")
    [retry] = [t for t in store.reads.trials(sweep_id) if t.retry_of == lapsing.trial_id]
    assert (retry.attempt, retry.state) == (2, RunState.PENDING)
    assert said == [
        f"run {lapsing.trial_id} of sweep {sweep_id} crashed: its lease lapsed (its agent is "
        f"gone) and no controller held the sweep; running it again as {retry.id}"
    ]
    successor = Controller(store, sweep_id, poll_ms=10, lease_ms=400)
    assert successor.acquire()
    finish(store, successor, 1)
    run_out(store, successor)
    assert len(store.reads.trials(sweep_id)) == 2  # one retry, not two
    assert store.sweeps.get(sweep_id).done_reason == "grid_exhausted"


def test_an_agents_last_line_says_a_point_without_a_result(
    store: Store, redis_url: str, tmp_path: Path, procs: Any
) -> None:
    """The agent's closing line says how the sweep ended, honestly: a point whose run failed
    is no result (it used to end with only "ran 2 trials (1 failed)")."""
    config = grid(tmp_path, [1, 2])
    (tmp_path / "train.py").write_text(
        TRAIN + "if redsweep.config.a == 2:\n    raise SystemExit(1)\n"
    )
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config))
    made = run_cli(redis_url, "sweep", str(path), cwd=tmp_path, check=True)
    sweep_id = made.stdout.strip().splitlines()[-1]
    agent = procs.spawn(redsweep_cmd(redis_url, "agent", sweep_id), cwd=tmp_path)
    assert agent.wait(timeout=60) == 0, procs.output(agent)
    reason = "grid exhausted: 1 finished, 1 failed"
    assert store.sweeps.get(sweep_id).done_reason == reason
    last = procs.output(agent)[1].strip().splitlines()[-1]
    assert "ran 2 trials (1 failed); sweep " in last and f": {reason}" in last, last
