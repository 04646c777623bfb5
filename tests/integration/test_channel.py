"""A command trial talks to its agent over an inherited socket, not to Redis: it imports no
redis, its environment holds no Redis URL, password or token, what it logs still lands, and
the channel's end (its agent gone) ends it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from agent_scripts import LONG, ROOT, Agents, hold_controller
from helpers import wait_for

from redsweep.shared.records import RunState
from redsweep.shared.store import Store
from redsweep.worker.api.link import TrialLink
from redsweep.worker.trial.channel import TrialChannel
from redsweep.worker.trial.command import command_env

PROBE = """\
import json, os, sys
import redsweep

run = redsweep.init()
redsweep.log({"loss": run.config.x / 2})
run.summary["best"] = 7
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("redis", "numpy", "rq", "click"))
with open(f"probe-{run.id}.json", "w") as fh:
    json.dump({"modules": loaded, "env": dict(os.environ)}, fh)
"""


def one_point_sweep(store: Store, program: str) -> str:
    """A grid sweep of one point (x=1) whose trial runs ``program``."""
    return store.sweeps.create(
        {
            "method": "grid",
            "program": program,
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"values": [1]}},
        },
        grid_size=1,
    )


def test_a_command_trial_imports_no_redis_and_holds_no_url_password_or_token(
    store: Store, agents: Agents, tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    sweep_id = one_point_sweep(store, "probe.py")
    proc = agents.start(sweep_id, env={"MY_DATABASE": redis_url})
    result = agents.result(proc)
    assert (result["ran"], result["finished"]) == (1, 1)
    [trial] = store.reads.trials(sweep_id)
    assert trial.state is RunState.FINISHED
    assert store.reads.history(sweep_id, trial.id) == [{"loss": 0.5, "_step": 0}]
    assert store.reads.summary(sweep_id, trial.id)["best"] == 7

    probe = json.loads((tmp_path / f"probe-{trial.id}.json").read_text())
    assert probe["modules"] == []
    env = probe["env"]
    assert "REDSWEEP_REDIS_URL" not in env and "REDSWEEP_RUN_TOKEN" not in env
    password = urlsplit(redis_url).password
    assert password and not [k for k, v in env.items() if password in v]
    assert env["REDSWEEP_RUN_ID"] == trial.id == env["WANDB_RUN_ID"]


SLIM = """\
import atexit, sys

def record():  # registered before init(), so it runs after the run's finish at exit
    heavy = ("typing", "pathlib", "re", "urllib", "ipaddress")
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
    with open("slim.txt", "w") as fh:
        fh.write(" ".join(loaded))

atexit.register(record)
import redsweep

run = redsweep.init()
redsweep.log({"loss": run.config.x / 2})
run.summary["best"] = 7
"""


def test_a_command_trial_imports_no_typing_pathlib_or_re(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    """Start-up time: every command trial is a new interpreter that imports redsweep, and
    ``typing`` (with the ``re`` it imports) and ``pathlib`` (with ``re``, ``fnmatch``,
    ``urllib.parse`` and ``ipaddress``) would cost it ~10 ms each, about as much as the rest of
    ``import redsweep; redsweep.init()``. So ``import redsweep``, ``init()``, ``log()`` and the
    finish at exit import none of them (the script here imports only atexit and sys)."""
    (tmp_path / "slim.py").write_text(SLIM)
    sweep_id = one_point_sweep(store, "slim.py")
    result = agents.result(agents.start(sweep_id))
    assert (result["ran"], result["finished"]) == (1, 1)
    [trial] = store.reads.trials(sweep_id)
    assert trial.state is RunState.FINISHED
    assert store.reads.history(sweep_id, trial.id) == [{"loss": 0.5, "_step": 0}]
    assert store.reads.summary(sweep_id, trial.id)["best"] == 7  # sent by the finish at exit
    assert (tmp_path / "slim.txt").read_text().split() == []


LOOP = """\
import time
import redsweep

redsweep.init()
step = 0
while True:
    redsweep.log({"loss": 1.0 / (step + 1)})
    step += 1
    time.sleep(0.02)
"""


def test_the_end_of_the_channel_ends_the_trial_at_once(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No launcher here: the trial's own API sees the agent gone and ends its process."""
    monkeypatch.chdir(tmp_path)  # as an agent's: the trial's config file goes under it
    sweep_id = store.sweeps.create({"method": "random", "parameters": {"x": {"value": 1}}})
    epoch = hold_controller(store, sweep_id)
    store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "agent-1", LONG)
    assert taken is not None and taken.trial_id and taken.token
    link = TrialLink(store, sweep_id, taken.trial_id, taken.token, params={"x": 1}, lease_ms=LONG)
    (tmp_path / "loop.py").write_text(LOOP)
    channel = TrialChannel(link)
    fd = channel.fd
    env = {
        **command_env(link, store.url, tmp_path / "unsent"),
        "REDSWEEP_AGENT_FD": str(fd),  # where this test passes it (an agent's launcher: 3)
        "PYTHONPATH": str(ROOT),
    }
    trial = subprocess.Popen(
        [sys.executable, "loop.py"], cwd=tmp_path, env=env, pass_fds=(fd,), start_new_session=True
    )
    try:
        channel.start()
        wait_for(lambda: store.reads.history(sweep_id, link.trial_id), 20, "the trial's rows")
        assert trial.poll() is None
        channel.close()
        assert trial.wait(timeout=10) == -9  # it killed itself: nothing else signalled it
    finally:
        if trial.poll() is None:
            trial.kill()
            trial.wait()
        channel.close()
