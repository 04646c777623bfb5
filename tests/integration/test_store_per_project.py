"""One store per project: the local server is found the way git finds .git, `server list`
shows the local servers running, and a server with no client stops itself (the data stays)
unless it is kept. Real `redsweep` commands, no --redis: each finds (or starts) its server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers import run_cli, wait_for

from redsweep.shared.server import embedded

pytestmark = pytest.mark.integration

CONFIG = "method: random\nparameters:\n  x: {values: [1, 2]}\n"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A project folder, and an environment with no Redis URL and a registry of its own."""
    root = tmp_path / "project"
    (root / "examples" / "deeper").mkdir(parents=True)
    (root / "sweep.yaml").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if k not in ("REDSWEEP_REDIS_URL", "REDSWEEP_HOME")}
    env["REDSWEEP_RUNTIME_DIR"] = str(tmp_path / "registry")
    yield root, env
    for folder in (root, root / "examples", root / "examples" / "deeper"):
        if (folder / ".redsweep").is_dir():
            embedded.stop(folder / ".redsweep")


def sweep_ids(cwd: Path, env: dict[str, str]) -> list[str]:
    out = run_cli(None, "status", "--json", cwd=cwd, env=env, check=True).stdout
    return [s["id"] for s in json.loads(out)]


def test_commands_in_a_subfolder_use_the_projects_store(project) -> None:
    root, env = project
    made = run_cli(None, "sweep", "sweep.yaml", cwd=root, env=env, check=True)
    sweep_id = made.stdout.strip().splitlines()[-1]
    deeper = root / "examples" / "deeper"
    assert sweep_ids(deeper, env) == [sweep_id]
    assert sweep_ids(root / "examples", env) == [sweep_id]
    assert not (deeper / ".redsweep").exists() and not (root / "examples" / ".redsweep").exists()
    listed = run_cli(None, "server", "list", cwd=deeper, env=env, check=True).stdout.splitlines()
    assert len(listed) == 2, listed  # one server: the project's
    assert listed[1].split()[1] == str(root)


def test_with_no_redsweep_folder_above_one_is_made_here(project) -> None:
    root, env = project
    deeper = root / "examples" / "deeper"
    run_cli(None, "sweep", "../../sweep.yaml", cwd=deeper, env=env, check=True)
    assert (deeper / ".redsweep" / "server").is_dir()
    assert not (root / ".redsweep").exists()
    # and the project root, above it, finds none of its own: a second server
    run_cli(None, "status", cwd=root, env=env, check=True)
    listed = run_cli(None, "server", "list", cwd=root, env=env, check=True).stdout.splitlines()
    assert sorted(line.split()[1] for line in listed[1:]) == sorted([str(root), str(deeper)])


def test_an_idle_server_stops_itself_and_its_data_stays(project) -> None:
    root, env = project
    env["REDSWEEP_IDLE_STOP_S"] = "1"
    made = run_cli(None, "sweep", "sweep.yaml", cwd=root, env=env, check=True)
    sweep_id = made.stdout.strip().splitlines()[-1]
    home = root / ".redsweep"
    log = home / "server" / "idle.log"  # (looking at the server would be a client of it)
    wait_for(lambda: "the server stopped" in log.read_text(), 60, "the idle server to stop")
    assert not embedded.status(home).running
    listed = run_cli(None, "server", "list", cwd=root, env=env, check=True).stdout
    assert listed.strip() == "no local server running"
    env["REDSWEEP_IDLE_STOP_S"] = "600"
    assert sweep_ids(root, env) == [sweep_id]  # started again, on the same data


def test_a_kept_server_does_not_stop_when_idle(project) -> None:
    root, env = project
    env["REDSWEEP_IDLE_STOP_S"] = "1"
    run_cli(None, "sweep", "sweep.yaml", cwd=root, env=env, check=True)  # with a watcher
    started = run_cli(None, "server", "start", "--keep", cwd=root, env=env, check=True).stdout
    assert "kept until `redsweep server stop`" in started
    home = root / ".redsweep"
    log = home / "server" / "idle.log"
    wait_for(lambda: log.exists() and "the server kept" in log.read_text(), 60,
             "the idle watcher to leave the kept server")  # fmt: skip
    assert embedded.status(home).running
    listed = run_cli(None, "server", "list", cwd=root, env=env, check=True).stdout.splitlines()
    assert listed[1].split()[-1] == "kept"
    assert (
        run_cli(None, "server", "stop", cwd=root, env=env, check=True).stdout.strip() == "stopped"
    )


def test_a_bad_idle_time_is_one_line(project) -> None:
    root, env = project
    env["REDSWEEP_IDLE_STOP_S"] = "soon"
    result = run_cli(None, "status", cwd=root, env=env)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: REDSWEEP_IDLE_STOP_S='soon': expected a positive number of seconds"
    ]


TRAIN = "import redsweep\nrun = redsweep.init()\nredsweep.log({'loss': run.config.x})\n"


def test_an_agent_in_a_subfolder_keeps_its_runs_in_the_projects_folder(project) -> None:
    """Before, the trial's run folder made `examples/.redsweep/runs`, and from then on every
    command run in `examples/` took that folder for a project of its own (no server, no
    sweeps: `redsweep status` showed nothing, `server stop` said "not running")."""
    root, env = project
    examples = root / "examples"
    (examples / "train.py").write_text(TRAIN)
    (examples / "sweep.yaml").write_text(CONFIG.replace("method:", "program: train.py\nmethod:"))
    made = run_cli(None, "sweep", "examples/sweep.yaml", cwd=root, env=env, check=True)
    sweep_id = made.stdout.strip().splitlines()[-1]
    run_cli(None, "agent", sweep_id, "--count", "1", cwd=examples, env=env, check=True)
    assert not (examples / ".redsweep").exists()
    [run_dir] = (root / ".redsweep" / "runs" / sweep_id).iterdir()
    assert (run_dir / "config.yaml").is_file()
    assert sweep_ids(examples, env) == [sweep_id]
