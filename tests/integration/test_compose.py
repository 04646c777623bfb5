"""docker-compose.yml: its services' commands are valid redsweep invocations, and those same
commands, run here as local processes against the test Redis, finish a launched sweep."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import click
import pytest
import yaml
from helpers import redsweep_cmd, run_cli, wait_for

from redsweep.cli import main
from redsweep.shared.records import RunState, SweepState

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """\
import os, time
import redsweep

redsweep.init()
deadline = time.monotonic() + 60  # wait at the gate (a file) the test opens
while not os.path.exists("gate") and time.monotonic() < deadline:
    time.sleep(0.05)
redsweep.log({"loss": (redsweep.config.x - 2) ** 2})
"""


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def redsweep_services() -> dict[str, list[str]]:
    """The services built from this repository's Dockerfile, with their command argv."""
    return {
        name: service["command"]
        for name, service in compose()["services"].items()
        if service.get("build") in (".", {"context": "."})
    }


def parse(argv: list[str]) -> click.Context:
    """Parse ``argv`` (``redsweep COMMAND ...``) as the CLI would, without running it."""
    assert argv[0] == "redsweep" and not argv[1].startswith("-")
    parent = click.Context(main, info_name="redsweep")
    command = main.get_command(parent, argv[1])
    assert command is not None, f"{argv}: no such redsweep command"
    return command.make_context(argv[1], list(argv[2:]), parent=parent)


def test_the_compose_file_has_redis_a_controller_and_scalable_workers():
    services = compose()["services"]
    assert set(services) == {"redis", "controller", "worker"}
    redis_service = services["redis"]
    command = " ".join(redis_service["command"])
    assert "--appendonly yes" in command
    assert "--requirepass ${REDIS_PASSWORD" in command  # from the environment, never a literal
    assert any(v.endswith(":/data") for v in redis_service["volumes"])
    assert "redis-cli" in " ".join(redis_service["healthcheck"]["test"])
    for name in ("controller", "worker"):
        env = services[name]["environment"]["REDSWEEP_REDIS_URL"]
        assert env.startswith("redis://:${REDIS_PASSWORD") and env.endswith("@redis:6379/0")
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    # scalable: no fixed container name or host port on the worker
    assert "container_name" not in services["worker"] and "ports" not in services["worker"]
    assert (ROOT / "Dockerfile").is_file()


@pytest.mark.parametrize("name", sorted(redsweep_services()))
def test_each_service_command_is_a_valid_redsweep_invocation(name):
    argv = redsweep_services()[name]
    ctx = parse(argv)
    assert ctx.command.name == {"controller": "controller", "worker": "worker"}[name]
    if name == "controller":
        assert ctx.params["all_sweeps"] is True


def test_a_bad_invocation_would_be_caught():
    with pytest.raises(click.UsageError):
        parse(["redsweep", "worker", "--no-such-option"])


def test_the_compose_commands_finish_a_launched_sweep(store, redis_url, tmp_path, procs):
    env = {"REDSWEEP_REDIS_URL": redis_url}
    running = {
        name: procs.spawn(redsweep_cmd(None, *argv[1:]), env=env, cwd=tmp_path)
        for name, argv in redsweep_services().items()
    }
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "sweep.yaml").write_text(
        yaml.safe_dump(
            {
                "program": "train.py",  # relative: found in the workers' /code (here: tmp_path)
                "method": "grid",
                "metric": {"name": "loss"},
                "parameters": {"x": {"values": [0, 1, 2, 3]}},
            }
        )
    )
    # created after the controller started: `controller --all` picks it up
    result = run_cli(
        None, "sweep", "sweep.yaml", "--launch", "2", env={**os.environ, **env}, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "Launched 2 agent sessions" in result.stdout
    sweep_id = result.stdout.strip().splitlines()[-1]
    # the trials wait at a gate until the dedicated controller has the sweep: four trivial
    # trials could otherwise be done before its next scan, run by the agents' background
    # controllers alone (agents hand the sweep over to a dedicated controller that asks)
    wait_for(
        lambda: f"controlling sweep {sweep_id}" in procs.output(running["controller"])[1],
        30,
        "the dedicated controller to take the sweep",
        procs=procs,
        watched=list(running.values()),
    )
    (tmp_path / "gate").touch()
    wait_for(
        lambda: store.sweeps.get(sweep_id).state is SweepState.FINISHED,
        60,
        "the launched sweep to finish",
        procs=procs,
        watched=list(running.values()),
    )
    info = store.sweeps.get(sweep_id)
    assert info.best_value == 0.0
    assert Counter(
        t.params["x"] for t in store.reads.trials(sweep_id) if t.state is RunState.FINISHED
    ) == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    # the dedicated controller ran it (agents' background controllers hand over to it)
    _out, err = procs.output(running["controller"])
    assert f"controlling sweep {sweep_id}" in err
    for proc in running.values():
        assert proc.poll() is None  # both keep serving
