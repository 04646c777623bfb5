"""Where a run's folder goes: the project's ``.redsweep/``, found the way the local server's
is, so a run started in a subfolder makes no second ``.redsweep/`` there (which would then be
taken for a project of its own by every command run in that subfolder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from redsweep.worker.api.files import runs_root


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("REDSWEEP_RUNS_DIR", "REDSWEEP_HOME"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "proj" / ".redsweep").mkdir(parents=True)
    (tmp_path / "proj" / "examples" / "deeper").mkdir(parents=True)
    return tmp_path / "proj"


def test_a_run_in_a_subfolder_goes_to_the_projects_folder(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "examples" / "deeper")
    assert runs_root() == str(project / ".redsweep" / "runs")


def test_with_no_project_above_the_run_goes_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDSWEEP_RUNS_DIR", raising=False)
    monkeypatch.delenv("REDSWEEP_HOME", raising=False)
    (tmp_path / "lone").mkdir()
    monkeypatch.chdir(tmp_path / "lone")
    assert runs_root() == str(tmp_path / "lone" / ".redsweep" / "runs")


def test_the_home_the_runs_dir_and_init_dir_say_where_outright(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(project / "examples")
    assert runs_root(tmp_path / "given") == str(tmp_path / "given" / ".redsweep" / "runs")
    monkeypatch.setenv("REDSWEEP_HOME", str(tmp_path / "home"))
    assert runs_root() == str(tmp_path / "home" / "runs")
    monkeypatch.setenv("REDSWEEP_RUNS_DIR", str(tmp_path / "runs"))
    assert runs_root() == str(tmp_path / "runs")
