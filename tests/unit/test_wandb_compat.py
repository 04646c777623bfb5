"""The in-trial API's parts that need no store: init's config forms, define_metric's summary,
media saved as files, artifacts and restore, disabled mode, and no AttributeError for W&B's
names."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import redsweep
from redsweep.errors import RedsweepError
from redsweep.worker.api.artifacts import Artifact, log_artifact, use_artifact
from redsweep.worker.api.files import RunFiles
from redsweep.worker.api.init_config import config_dict
from redsweep.worker.api.media import encode
from redsweep.worker.api.run import Run
from redsweep.worker.api.summary import Metrics, Summary

WANDB_NAMES = [
    "run", "config", "summary", "init", "log", "finish", "join", "define_metric", "watch",
    "unwatch", "save", "restore", "alert", "AlertLevel", "termlog", "termwarn", "termerror",
    "Settings", "util", "Table", "Image", "Histogram", "Audio", "Video", "Html", "Object3D",
    "plot", "Artifact", "log_artifact", "use_artifact", "login", "agent", "sweep", "Api",
    "keras", "integration", "xgboost", "lightgbm", "fastai", "sklearn", "Error",
]  # fmt: skip


@pytest.mark.parametrize("name", WANDB_NAMES)
def test_every_wandb_name_a_script_uses_exists(name: str) -> None:
    assert hasattr(redsweep, name), name


def test_wandb_submodule_helpers_exist() -> None:
    assert callable(redsweep.util.generate_id) and len(redsweep.util.generate_id()) == 8
    for helper in ("line", "scatter", "bar", "histogram", "line_series", "confusion_matrix",
                   "pr_curve", "roc_curve"):  # fmt: skip
        assert callable(getattr(redsweep.plot, helper))
    assert callable(redsweep.xgboost.wandb_callback)
    assert callable(redsweep.lightgbm.wandb_callback)
    assert callable(redsweep.sklearn.plot_confusion_matrix)
    assert redsweep.integration.keras is redsweep.keras
    assert issubclass(redsweep.errors.CommError, redsweep.errors.Error)
    assert redsweep.errors.UsageError is redsweep.Error


def test_init_config_takes_what_wandb_takes(tmp_path: Path) -> None:
    ns = argparse.Namespace(lr=0.1, use_bn=True)
    assert config_dict(ns) == {"lr": 0.1, "use_bn": True}
    (tmp_path / "c.yaml").write_text("lr: 0.2\nbatch: {value: 32, desc: W&B's form}\n")
    assert config_dict(str(tmp_path / "c.yaml")) == {"lr": 0.2, "batch": 32}
    (tmp_path / "c.json").write_text('{"lr": 0.3}')
    assert config_dict(tmp_path / "c.json") == {"lr": 0.3}

    class Hparams:
        def __init__(self) -> None:
            self.depth = 3
            self._private = 1

    assert config_dict(Hparams()) == {"depth": 3}
    assert config_dict({"a": 1, "b": 2}, exclude=["b"]) == {"a": 1}
    assert config_dict({"a": 1, "b": 2}, include=["b"]) == {"b": 2}
    with pytest.raises(RedsweepError, match="no such file"):
        config_dict(str(tmp_path / "missing.yaml"))
    with pytest.raises(RedsweepError, match="takes a dict"):
        config_dict(3)


def test_define_metric_keeps_min_max_mean_best_and_hides() -> None:
    metrics, summary = Metrics(), Summary()
    metrics.define("loss", summary="min")
    metrics.define("acc", summary="max,mean,last")
    metrics.define("score", summary="best", goal="maximize")
    metrics.define("debug/*", hidden=True)
    metrics.define("val/*", step_metric="epoch")
    for step, row in enumerate(
        [{"loss": 3.0, "acc": 0.1, "score": 1, "epoch": 0}, {"loss": 1.0, "acc": 0.5, "score": 5},
         {"loss": 2.0, "acc": 0.3, "score": 2, "debug/x": 1, "val/acc": 0.4}]
    ):  # fmt: skip
        metrics.apply(row, summary)
        if step == 2:
            assert row["epoch"] == 0  # the step metric joined the row
    assert summary["loss"] == {"min": 1.0}
    assert summary["acc"] == {"max": 0.5, "mean": pytest.approx(0.3), "last": 0.3}
    assert summary["score"] == {"best": 5}
    assert "debug/x" not in summary
    assert summary["epoch"] == 0 and summary["val/acc"] == 0.4  # undefined keys: last value
    with pytest.raises(redsweep.RedsweepError, match="unknown 'median'"):
        metrics.define("x", summary="median")


def test_logged_media_become_files_and_references(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    ref = encode(redsweep.Image(np.random.rand(5, 7), caption="noise"), files, "pic", 4)
    assert ref["_type"] == "image-file" and ref["path"] == "media/images/pic_4.png"
    assert (ref["width"], ref["height"], ref["caption"]) == (7, 5, "noise")
    assert (files.dir / ref["path"]).read_bytes().startswith(b"\x89PNG")
    table = redsweep.Table(columns=["x", "img"])
    table.add_data(1, redsweep.Image(np.zeros((2, 2, 3), dtype=np.uint8)))
    ref = encode(table, files, "val/preds", 0)
    body = json.loads((files.dir / ref["path"]).read_text())
    assert body["columns"] == ["x", "img"] and body["data"][0][1]["_type"] == "image-file"
    audio = encode(redsweep.Audio(np.zeros(100), sample_rate=8000), files, "a", 1)
    assert (files.dir / audio["path"]).read_bytes()[:4] == b"RIFF"
    video = encode(redsweep.Video(np.zeros((3, 3, 4, 4), dtype=np.uint8)), files, "v", 1)
    assert (files.dir / video["path"]).read_bytes()[:3] == b"GIF"
    html = encode(redsweep.Html("<b>hi</b>"), files, "h", 1)
    assert (files.dir / html["path"]).read_text() == "<b>hi</b>"
    assert encode(redsweep.Histogram([1, 2, 2, 3], num_bins=2), files, "h", 1) == {
        "_type": "histogram",
        "values": [1.0, 3.0],
        "bins": [1.0, 2.0, 3.0],
    }
    chart = encode(redsweep.plot.confusion_matrix(y_true=[0, 1], preds=[1, 1]), files, "cm", 0)
    body = json.loads((files.dir / chart["path"]).read_text())
    assert body["chart"] == "confusion_matrix"
    assert ["0", "1", 1] in body["data"] and ["1", "1", 1] in body["data"]
    assert len(files.names()) == 7


def test_a_matplotlib_figure_logged_directly_is_saved_as_png(tmp_path: Path) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = RunFiles(tmp_path / "run")
    figure = plt.figure()
    plt.plot([1, 2])
    for value in (figure, plt):
        ref = encode(value, files, "fig", 0)
        assert (files.dir / ref["path"]).read_bytes().startswith(b"\x89PNG")
    plt.close("all")


class _FakeRun:
    """What artifacts and restore read of a run: its id, files and summary."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.id, self.sweep_id = run_id, "sw"
        self.files = RunFiles(root / "sw" / run_id)
        self.summary: dict[str, Any] = {}
        self.dir = str(self.files.ensure())

    def restore(self, *args: Any) -> Any:
        from redsweep.worker.api.artifacts import restore

        return restore(self, *args)


def test_artifacts_are_kept_locally_with_a_manifest_and_found_again(tmp_path: Path) -> None:
    root = tmp_path / ".redsweep" / "runs"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.csv").write_text("1,2")
    (tmp_path / "w.bin").write_bytes(b"xyz")
    first = _FakeRun(root, "r1")
    art = Artifact("ds", type="dataset", metadata={"rows": 1})
    art.add_dir(str(tmp_path / "data"), name="raw")
    art.add_file(str(tmp_path / "w.bin"))
    log_artifact(first, art, aliases=["best"])
    log_artifact(first, Artifact("ds", "dataset"))  # v1: latest now
    assert first.summary["_artifacts"] == ["ds:v0", "ds:v1"]
    manifest = json.loads((tmp_path / ".redsweep/artifacts/ds/v0/manifest.json").read_text())
    assert manifest["run"] == "sw/r1" and manifest["metadata"] == {"rows": 1}
    assert {f["path"] for f in manifest["files"]} == {"raw/a.csv", "w.bin"}

    second = _FakeRun(root, "r2")
    assert use_artifact(second, "ds:latest").version == "v1"
    found = use_artifact(second, "entity/project/ds:best")
    assert found.version == "v0" and found.metadata == {"rows": 1}
    assert (Path(found.download()) / "raw" / "a.csv").read_text() == "1,2"
    with pytest.raises(redsweep.RedsweepError, match="no such artifact"):
        use_artifact(second, "nope")

    first.files.save(str(tmp_path / "w.bin"))
    with second.restore("w.bin", "sw/r1", False, str(tmp_path / "back")) as f:
        assert f.read() == "xyz"
    assert second.restore("missing.txt", "sw/r1", False, None) is None


def test_disabled_mode_makes_every_call_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDSWEEP_RUN_ID", raising=False)
    assert redsweep.init(settings={"mode": "disabled"}).disabled
    assert redsweep.init(settings=redsweep.Settings(mode="disabled")).disabled
    with redsweep.init(mode="disabled", config={"lr": 0.1}) as run:
        assert redsweep.run is run and run.disabled
        redsweep.log({"loss": 1.0, "img": object()})
        run.define_metric("loss", summary="min")
        run.save("*.nothing")
        run.watch(object())
        run.log_artifact(Artifact("x"))
        assert redsweep.config.lr == 0.1
        assert run.use_artifact("x:latest").name == "x"
    assert redsweep.run is None


def test_init_config_takes_absl_flags() -> None:
    flags = pytest.importorskip("absl.flags")
    values = flags.FlagValues()
    flags.DEFINE_float("lr", 0.01, "learning rate", flag_values=values)
    flags.DEFINE_integer("epochs", 5, "epochs", flag_values=values)
    values(["train.py", "--lr=0.5"])
    assert config_dict(values) == {"lr": 0.5, "epochs": 5}


def test_log_code_and_save_keep_paths_under_the_files_folder(tmp_path: Path) -> None:
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "train.py").write_text("x = 1")
    (tmp_path / "src" / "pkg" / "model.py").write_text("y = 2")
    (tmp_path / "src" / "ckpt").mkdir()
    (tmp_path / "src" / "ckpt" / "a.pt").write_text("w")
    files = RunFiles(tmp_path / "run")
    assert files.save(str(tmp_path / "src" / "ckpt" / "*.pt")) == ["a.pt"]
    assert files.save(str(tmp_path / "src" / "ckpt" / "*.pt"), base_path=str(tmp_path / "src")) == [
        "ckpt/a.pt"
    ]
    run = _FakeRun(tmp_path / "runs", "r1")
    run.files = files
    Run.log_code(run, str(tmp_path / "src"))  # type: ignore[arg-type]  # what it reads of a run
    assert files.names() == ["a.pt", "ckpt/a.pt", "code/pkg/model.py", "code/train.py"]


def test_config_update_takes_a_namespace_and_keeps_sweep_keys() -> None:
    from redsweep.worker.api.config import Config

    config = Config({"lr": 0.01}, locked={"lr"})
    with pytest.warns(UserWarning, match="set by the sweep"):
        config.update(argparse.Namespace(lr=0.5, epochs=3))
    assert config.as_dict() == {"lr": 0.01, "epochs": 3}
    config.update(argparse.Namespace(lr=0.5), allow_val_change=True)
    assert config.lr == 0.5


def test_wandb_mode_disabled_in_the_environment_disables_a_run_outside_a_sweep(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDSWEEP_RUN_ID", raising=False)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    run = redsweep.init(project="p")
    assert run.disabled and run.project == "p"
    redsweep.log({"loss": 1.0})
    redsweep.finish()
    assert redsweep.run is None


def test_the_agents_wandb_variables_and_the_config_file_in_wandbs_format(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from redsweep.worker.api.starts import wandb_env

    monkeypatch.setenv("REDSWEEP_RUNS_DIR", str(tmp_path / "runs"))
    env = wandb_env("sw", "r1", {"lr": 0.1, "net": {"depth": 2}})
    assert env["WANDB_RUN_ID"] == "r1" and "WANDB_SWEEP_ID" not in env
    written = yaml.safe_load(Path(env["WANDB_SWEEP_PARAM_PATH"]).read_text())
    assert written == {"wandb_version": 1, "lr": {"value": 0.1}, "net": {"value": {"depth": 2}}}
    assert config_dict(env["WANDB_SWEEP_PARAM_PATH"]) == {"lr": 0.1, "net": {"depth": 2}}

    (tmp_path / "a-file").write_text("")
    monkeypatch.setenv("REDSWEEP_RUNS_DIR", str(tmp_path / "a-file" / "runs"))
    env = wandb_env("sw", "r2", {"lr": 0.1})
    assert "WANDB_SWEEP_PARAM_PATH" not in env and env["WANDB_RUN_ID"] == "r2"
    assert "cannot write the run's config.yaml" in capsys.readouterr().err


class _PlotlyFigure:
    """A stand-in for plotly's Figure (plotly is not installed here): what log() reads."""

    __module__ = "plotly.graph_objs._figure"

    def to_json(self) -> str:
        return '{"data": [{"type": "bar", "y": [1, 2]}], "layout": {}}'

    def to_html(self) -> str:
        return "<div>figure</div>"


def test_a_plotly_figure_logged_directly_is_saved_as_its_json(tmp_path: Path) -> None:
    files = RunFiles(tmp_path / "run")
    ref = encode(_PlotlyFigure(), files, "chart", 2)
    assert ref["_type"] == "plotly-file" and ref["path"] == "media/plotly/chart_2.plotly.json"
    assert json.loads((files.dir / ref["path"]).read_text())["data"][0]["type"] == "bar"
