"""W&B's in-trial API under ``import redsweep as wandb``, with training scripts written in the
style of wandb/examples: in a command trial, in a function trial and outside a sweep. Run
files (saved files, figures, tables) land in the run's files folder and Api() lists them."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from agent_scripts import ROOT, Agents

from redsweep.results import Api
from redsweep.shared.records import RunState
from redsweep.shared.store import Store

# A script as W&B's examples write them: argparse config, define_metric, a figure logged
# beside scalars, a table, save(), summary, run attributes, an artifact, a child process
# that clears WANDB_* (W&B's cross-validation example) and so gets a run of its own.
TRAIN = """\
import argparse, os, subprocess, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import redsweep as wandb

if os.path.exists("redis_url.txt"):  # a command trial is given no Redis URL: Api() and the
    os.environ["REDSWEEP_REDIS_URL"] = open("redis_url.txt").read()  # child want the sweep's

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.5)
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--use_bn", type=bool, default=False)
args = parser.parse_args()

assert wandb.run is None
run = wandb.init(project="demo", config=args, tags=["cv"], notes="first try", group="g")
assert wandb.run is run
wandb.define_metric("val_loss", summary="min")
wandb.define_metric("acc", summary="max,mean")
for epoch in range(wandb.config.epochs):
    wandb.log({"val_loss": wandb.config.lr / (epoch + 1) + (0.3 if epoch == 2 else 0),
               "acc": 0.1 * epoch})
plt.plot([1, 2, 3], [wandb.config.lr, 0.2, 0.1])
wandb.log({"Data": plt, "final_acc": 0.9,
           "preds": wandb.Table(columns=["id", "pred"], data=[[0, 1], [1, 0]])})
with open(os.path.join(wandb.run.dir, "notes.txt"), "w") as f:
    f.write("kept")
with open("model.h5", "w") as f:
    f.write("weights")
wandb.save("model.h5")
# a running run's files folder can be found already (the list follows at its end)
assert wandb.Api().run(run.path).files_dir == run.dir
wandb.run.summary["best_epoch"] = 1
art = wandb.Artifact("model", type="model")
art.add_file("model.h5")
wandb.log_artifact(art)
print("RUN", run.id, run.project, run.tags, run.notes, run.group, run.url,
      run.get_sweep_url(), run.get_project_url(), run.name, run.dir, flush=True)
env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
child = subprocess.run([sys.executable, "-c",
    "import redsweep as wandb; r = wandb.init(project='demo', group='g', job_type='fold');"
    "wandb.log({'fold_acc': 0.5}); print('CHILD', r.sweep_id, r.id); wandb.finish()"],
    env=env, capture_output=True, text=True)
print(child.stdout.strip(), child.stderr.strip(), flush=True)
assert child.returncode == 0
wandb.join()
"""


def _script_env(redis_url: str) -> dict[str, str]:
    return {"PYTHONPATH": str(ROOT), "REDSWEEP_REDIS_URL": redis_url}


def _line(text: str, head: str) -> list[str]:
    [line] = [ln for ln in text.splitlines() if ln.startswith(head + " ")]
    return line.split()[1:]


def _check_run(api: Api, sweep_id: str, run_id: str, lr: float) -> Any:
    run = api.run(f"{sweep_id}/{run_id}")
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["val_loss"] == {"min": pytest.approx(lr / 2)}  # min, not last
    assert run.summary["acc"] == {"max": pytest.approx(0.2), "mean": pytest.approx(0.1)}
    assert run.summary["best_epoch"] == 1
    assert run.summary["_artifacts"] == ["model:v0"]
    assert (run.summary["_tags"], run.summary["_notes"], run.summary["_group"]) == (
        ["cv"],
        "first try",
        "g",
    )
    # the figure row kept its scalar, and the figure is a PNG file of the run
    [row] = [r for r in run.history() if "Data" in r]
    assert row["final_acc"] == 0.9
    assert row["Data"]["_type"] == "image-file"
    files = Path(run.files_dir)
    assert (files / row["Data"]["path"]).read_bytes().startswith(b"\x89PNG")
    table = json.loads((files / row["preds"]["path"]).read_text())
    assert table == {"columns": ["id", "pred"], "data": [[0, 1], [1, 0]]}
    assert {"model.h5", "notes.txt", row["Data"]["path"], row["preds"]["path"]} <= set(run.files)
    assert (files / "model.h5").read_text() == "weights"
    return run


def test_a_command_trial_runs_a_wandb_style_script_unchanged(
    store: Store, agents: Agents, tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "redis_url.txt").write_text(redis_url)
    sweep_id = store.sweeps.create(
        {
            "method": "grid",
            "program": "train.py",
            "metric": {"name": "val_loss", "goal": "minimize"},
            "parameters": {"lr": {"values": [0.2]}, "use_bn": {"values": [True]}},
        },
        project="demo",
        grid_size=1,
    )
    # a WANDB_MODE=disabled left in the shell does not lose the sweep's results
    env = {"WANDB_MODE": "disabled"}
    proc = agents.start(sweep_id, env=env, agent_dir=repr(str(tmp_path / "agent")))
    result = agents.result(proc, timeout=90)
    assert (result["ran"], result["finished"]) == (1, 1), agents.stderr(proc)
    [log] = (tmp_path / "agent").glob("*.log")
    output = log.read_text()
    [trial] = store.reads.trials(sweep_id)
    fields = _line(output, "RUN")
    assert fields[:2] == [trial.id, "demo"]
    assert "('cv',) first try g" in output
    assert "redsweep: WANDB_MODE=disabled is ignored in a sweep's trial" in output
    assert f"redsweep://{sweep_id}/{trial.id} redsweep://{sweep_id}" in output
    with Api(store=store) as api:
        run = _check_run(api, sweep_id, trial.id, 0.2)
        assert run.config == {"lr": 0.2, "use_bn": True}
        assert (
            Path(run.files_dir) == tmp_path / ".redsweep" / "runs" / sweep_id / trial.id / "files"
        )
        # the child that cleared WANDB_* is a run of its own, outside the sweep
        child_sweep, child_run = _line(output, "CHILD")
        assert child_sweep != sweep_id
        child = api.run(f"{child_sweep}/{child_run}")
        assert child.summary == {"fold_acc": 0.5, "_group": "g", "_job_type": "fold"}
        assert [r.id for r in api.sweep(sweep_id).runs] == [trial.id]


def test_the_same_script_outside_a_sweep_is_a_local_run_with_its_files(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    proc = procs.spawn([sys.executable, "train.py"], env=_script_env(redis_url), cwd=tmp_path)
    assert proc.wait(90) == 0, procs.output(proc)
    out = procs.output(proc)[0]
    run_id = _line(out, "RUN")[0]
    [sweep] = [s for s in store.sweeps.list("demo") if store.reads.trials(s.id)[0].id == run_id]
    with Api(store=store) as api:
        run = _check_run(api, sweep.id, run_id, 0.5)
        assert run.config["lr"] == 0.5 and run.config["epochs"] == 3


FUNCTION_AGENT = """\
import sys
import numpy as np
import redsweep as wandb

def train():
    with wandb.init(project="p", config={"lr": 0.1, "layers": 2}) as run:
        assert wandb.run is run and run.sweep_id == sys.argv[1] and run.project == "p"
        wandb.define_metric("loss", summary="min")
        for step in range(3):
            hist = wandb.Histogram(np.arange(10))
            wandb.log({"loss": wandb.config.lr * (3 - step), "hist": hist})
        wandb.log({"img": wandb.Image(np.zeros((4, 4, 3), dtype=np.uint8)), "acc": 0.7})
        wandb.summary["note"] = "ok"

wandb.agent(sys.argv[1], function=train, count=1)
"""


@pytest.mark.parametrize("isolate", [False, True], ids=["in-process", "forked"])
def test_a_function_trial_gets_the_same_api(
    store: Store, procs: Any, tmp_path: Path, redis_url: str, isolate: bool
) -> None:
    sweep_id = store.sweeps.create(  # no project: init's is the run's
        {"method": "grid", "parameters": {"lr": {"values": [0.5]}}}, grid_size=1
    )
    script = FUNCTION_AGENT
    if isolate:
        script = script.replace("count=1)", "count=1, isolate=True)")
    (tmp_path / "agent.py").write_text(script)
    env = _script_env(redis_url)
    proc = procs.spawn([sys.executable, "agent.py", sweep_id], env=env, cwd=tmp_path)
    assert proc.wait(90) == 0, procs.output(proc)
    with Api(store=store) as api:
        [run] = api.sweep(sweep_id).runs
        assert run.state is RunState.FINISHED, run.error
        assert run.config == {"lr": 0.5}
        assert run.summary["loss"] == {"min": 0.5}
        assert run.summary["note"] == "ok"
        assert run.summary["acc"] == 0.7
        assert run.summary["hist"]["_type"] == "histogram"
        [image] = run.files
        assert (Path(run.files_dir) / image).read_bytes().startswith(b"\x89PNG")


REAL_WANDB = """\
import os
import wandb
run = wandb.init(project="demo", mode="offline")
print("REAL", dict(run.config), run.id, flush=True)
run.log({"loss": 0.1})
run.finish()
import redsweep
r = redsweep.init()
redsweep.log({"loss": run.config["x"] / 10})
"""


def test_the_real_wandb_package_beside_redsweep_is_not_misled(
    store: Store, agents: Agents, tmp_path: Path
) -> None:
    """The variables the agent sets give the real wandb (offline) the sweep's values as its
    config and the trial's id, and nothing that sends it to a W&B server for the sweep."""
    pytest.importorskip("wandb")
    (tmp_path / "train.py").write_text(REAL_WANDB)
    sweep_id = store.sweeps.create(
        {"method": "grid", "program": "train.py", "parameters": {"x": {"values": [3]}}},
        grid_size=1,
    )
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(tmp_path)}
    proc = agents.start(sweep_id, env=env, agent_dir=repr(str(tmp_path / "agent")))
    result = agents.result(proc, timeout=120)
    [log] = (tmp_path / "agent").glob("*.log")
    assert result["finished"] == 1, log.read_text()
    [trial] = store.reads.trials(sweep_id)
    assert f"REAL {{'x': 3}} {trial.id}" in log.read_text()
    assert store.reads.summary(sweep_id, trial.id) == {"loss": 0.3}
    assert os.environ.get("WANDB_SWEEP_ID") is None


LIGHTGBM = """\
import numpy as np
import lightgbm as lgb
import redsweep as wandb

wandb.init(project="gbm", config={"num_leaves": 7})
rng = np.random.default_rng(0)
x = rng.normal(size=(200, 3))
y = x[:, 0] * 2 + rng.normal(size=200) * 0.1
train, valid = lgb.Dataset(x[:150], y[:150]), lgb.Dataset(x[150:], y[150:])
params = {"objective": "regression", "metric": "l2", "verbose": -1,
          "num_leaves": wandb.config.num_leaves}
model = lgb.train(params, train, num_boost_round=5, valid_sets=[valid], valid_names=["valid"],
                  callbacks=[wandb.lightgbm.wandb_callback()])
wandb.lightgbm.log_summary(model)
print("RUN", wandb.run.sweep_id, wandb.run.id, flush=True)
wandb.finish()
"""


def test_the_lightgbm_callback_logs_each_iteration_through_redsweep(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    pytest.importorskip("lightgbm")
    (tmp_path / "gbm.py").write_text(LIGHTGBM)
    proc = procs.spawn([sys.executable, "gbm.py"], env=_script_env(redis_url), cwd=tmp_path)
    assert proc.wait(90) == 0, procs.output(proc)
    sweep_id, run_id = _line(procs.output(proc)[0], "RUN")
    with Api(store=store) as api:
        run = api.run(f"{sweep_id}/{run_id}")
        rows = [r for r in run.history() if "valid_l2" in r]
        assert [r["iteration"] for r in rows] == [0, 1, 2, 3, 4]
        assert rows[-1]["valid_l2"] < rows[0]["valid_l2"]
        assert run.summary["best_iteration"] is not None
        assert "media/tables/Feature_Importance_5.table.json" in run.files


XGBOOST = """\
import numpy as np
import xgboost as xgb
import redsweep as wandb

wandb.init(project="gbm")
rng = np.random.default_rng(0)
x = rng.normal(size=(200, 3))
y = (x[:, 0] > 0).astype(int)
train = xgb.DMatrix(x[:150], label=y[:150])
valid = xgb.DMatrix(x[150:], label=y[150:])
xgb.train({"objective": "binary:logistic", "eval_metric": "logloss"}, train,
          num_boost_round=4, evals=[(train, "train"), (valid, "valid")],
          callbacks=[wandb.xgboost.wandb_callback()])
print("RUN", wandb.run.sweep_id, wandb.run.id, flush=True)
"""


def test_the_xgboost_callback_logs_each_round_through_redsweep(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    pytest.importorskip("xgboost")
    (tmp_path / "xgb.py").write_text(XGBOOST)
    proc = procs.spawn([sys.executable, "xgb.py"], env=_script_env(redis_url), cwd=tmp_path)
    assert proc.wait(90) == 0, procs.output(proc)
    sweep_id, run_id = _line(procs.output(proc)[0], "RUN")
    with Api(store=store) as api:
        run = api.run(f"{sweep_id}/{run_id}")
        assert run.state is RunState.FINISHED  # finished at exit, without finish()
        rows = run.history()
        assert [r["epoch"] for r in rows] == [0, 1, 2, 3]
        assert rows[-1]["train-logloss"] < rows[0]["train-logloss"]
        assert "valid-logloss" in rows[-1]


class _Classifier:
    """What wandb.sklearn's helpers read of a fitted scikit-learn classifier."""

    _estimator_type = "classifier"
    feature_importances_ = (0.75, 0.25)

    def predict(self, x: Any) -> Any:
        import numpy as np

        return (np.asarray(x)[:, 0] > 0).astype(int)


def test_sklearn_helpers_log_charts_and_summary_metrics(
    store: Store, tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import numpy as np

    import redsweep as wandb

    monkeypatch.setenv("REDSWEEP_REDIS_URL", redis_url)
    monkeypatch.delenv("REDSWEEP_RUN_ID", raising=False)
    monkeypatch.chdir(tmp_path)
    x_test = np.array([[1.0, 0.0], [-1.0, 0.0], [2.0, 1.0], [-0.5, 1.0]])
    y_test = np.array([1, 0, 0, 0])
    probas = np.array([[0.2, 0.8], [0.9, 0.1], [0.3, 0.7], [0.6, 0.4]])
    model = _Classifier()
    with wandb.init(project="sk") as run:
        wandb.sklearn.plot_classifier(
            model, None, x_test, None, y_test, model.predict(x_test), probas, ["no", "yes"]
        )
    with Api(store=store) as api:
        result = api.run(run.path)
    assert result.summary["accuracy"] == 0.75
    charts = {k: v for k, v in result.summary.items() if isinstance(v, dict) and "chart" in v}
    assert {v["chart"] for v in charts.values()} == {"confusion_matrix", "roc_curve", "pr_curve"}
    matrix = json.loads(
        (Path(result.files_dir) / result.summary["confusion_matrix"]["path"]).read_text()
    )
    assert ["no", "yes", 1] in matrix["data"] and ["yes", "yes", 1] in matrix["data"]
    table = result.summary["feature_importances"]
    body = json.loads((Path(result.files_dir) / table["path"]).read_text())
    assert body["data"] == [["0", 0.75], ["1", 0.25]]


def test_set_summary_merges_only_for_the_running_trials_holder(store: Store) -> None:
    """What a command or forked trial's code set on run.summary reaches the store with the
    trial's token, and only while the trial runs under it."""
    sweep_id = store.sweeps.create({"method": "grid", "parameters": {"a": {"value": 1}}})
    epoch = store.controllers.acquire(sweep_id, "test-controller", 60_000)
    [trial_id] = store.trials.add(sweep_id, [{"a": 1}], epoch=epoch)
    token, _ = store.trials.claim(sweep_id, trial_id, 1, "agent", 60_000)
    store.trials.report(sweep_id, trial_id, token, [(0, {"loss": 2.0})], lease_ms=60_000)
    summary = {"loss": {"min": 1.0}, "_files": ["a.png"]}
    assert store.trials.set_summary(sweep_id, trial_id, token, summary)
    assert not store.trials.set_summary(sweep_id, trial_id, "not-the-token", {"loss": 9})
    assert store.reads.summary(sweep_id, trial_id) == summary
    assert store.trials.finish(sweep_id, trial_id, token, RunState.FINISHED)
    assert not store.trials.set_summary(sweep_id, trial_id, token, {"late": 1})
    assert store.reads.summary(sweep_id, trial_id) == summary


# Stand-ins for the frameworks not installed here (Keras, Lightning, transformers, fastai):
# only the base classes and the calls their training loops make on a callback, so that the
# callbacks' own code runs through redsweep as under the real loops.
FRAMEWORKS = {
    "keras/__init__.py": "from . import callbacks\n",
    "keras/callbacks.py": (
        "class Callback:\n    def __init__(self): pass\n"
        "class ModelCheckpoint(Callback):\n    pass\n"
    ),
    "lightning/__init__.py": "",
    "lightning/pytorch/__init__.py": "",
    "lightning/pytorch/loggers.py": "class Logger:\n    def __init__(self): pass\n",
    "transformers/__init__.py": "class TrainerCallback:\n    pass\n",
    "fastai/__init__.py": "",
    "fastai/callback/__init__.py": "",
    "fastai/callback/core.py": "class Callback:\n    def __init__(self): pass\n",
}

LOOPS = """\
import argparse, sys
import redsweep as wandb
from redsweep.integration.lightning import RedsweepLogger
from redsweep.integration.transformers import RedsweepCallback

run = wandb.init(project="frameworks")
keras_cb = wandb.keras.WandbCallback(monitor="val_loss")
assert "keras" in sys.modules
for epoch, val in enumerate([0.5, 0.3, 0.4]):
    keras_cb.on_epoch_end(epoch, {"loss": val + 0.1, "val_loss": val})
metrics = wandb.integration.keras.WandbMetricsLogger()
metrics.on_epoch_end(3, {"accuracy": 0.9})

logger = RedsweepLogger()
logger.log_hyperparams(argparse.Namespace(hidden=32))
logger.log_metrics({"train_loss": 0.25}, step=40)

class State:
    is_world_process_zero, global_step = True, 50
class Args:
    def to_dict(self):
        return {"learning_rate": 5e-5}
hf = RedsweepCallback()
hf.on_train_begin(Args(), State(), None)
hf.on_log(Args(), State(), None, logs={"loss": 0.2, "eval_accuracy": 0.8})

class Recorder:
    metric_names = ["epoch", "train_loss", "valid_loss", "accuracy", "time"]
    log = [0, 0.6, 0.5, 0.7, "00:01"]
class Learner:
    recorder = Recorder()
fastai_cb = wandb.fastai.WandbCallback()
fastai_cb.learn, fastai_cb.epoch = Learner(), 0
fastai_cb.after_epoch()
print("RUN", run.sweep_id, run.id, flush=True)
print("CONFIG", sorted(wandb.config.items()), flush=True)
"""


def test_framework_callbacks_log_what_wandbs_log(
    store: Store, procs: Any, tmp_path: Path, redis_url: str
) -> None:
    for name, text in FRAMEWORKS.items():
        (tmp_path / "fw" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "fw" / name).write_text(text)
    (tmp_path / "loops.py").write_text(LOOPS)
    env = {**_script_env(redis_url), "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path / 'fw'}"}
    proc = procs.spawn([sys.executable, "loops.py"], env=env, cwd=tmp_path)
    assert proc.wait(60) == 0, procs.output(proc)
    out = procs.output(proc)[0]
    sweep_id, run_id = _line(out, "RUN")
    assert "CONFIG [('hidden', 32), ('learning_rate', 5e-05)]" in out
    with Api(store=store) as api:
        run = api.run(f"{sweep_id}/{run_id}")
        history = run.history()
    assert [r for r in history if "val_loss" in r][1] == {
        "loss": 0.4,
        "val_loss": 0.3,
        "epoch": 1,
        "_step": 1,
    }
    assert (run.summary["best_val_loss"], run.summary["best_epoch"]) == (0.3, 1)
    assert {"epoch/accuracy": 0.9, "epoch/epoch": 3}.items() <= history[3].items()
    assert {"train_loss": 0.25, "trainer/global_step": 40}.items() <= history[4].items()
    hf_row = {"train/loss": 0.2, "eval/accuracy": 0.8, "train/global_step": 50}
    assert hf_row.items() <= history[5].items()
    fastai_row = {"train_loss": 0.6, "valid_loss": 0.5, "accuracy": 0.7, "epoch": 0}
    assert fastai_row.items() <= history[6].items() and "time" not in history[6]


FOLDS = """\
import multiprocessing, os
import redsweep as wandb

# a command trial is given no Redis URL: the folds' runs of their own want the sweep's Redis
os.environ["REDSWEEP_REDIS_URL"] = open("redis_url.txt").read()

def fold(num, config, out):
    for key in [k for k in os.environ if k.startswith("WANDB_")]:
        del os.environ[key]
    assert wandb.run is None  # the parent's run stays the parent's
    run = wandb.init(group="cv", job_type="fold", config=config)
    run.log({"val_accuracy": config["x"] * (num + 1)})
    wandb.join()
    out.put((run.sweep_id, run.id))

if __name__ == "__main__":
    parent = wandb.init()
    ctx = multiprocessing.get_context("fork")  # forked after init: W&B's example forks before
    out = ctx.Queue()
    folds = []
    for num in range(2):
        p = ctx.Process(target=fold, args=(num, dict(parent.config), out))
        p.start()
        folds.append(out.get())
        p.join()
    parent.log({"val_accuracy": 1.5 * parent.config["x"]})
    print("FOLDS", " ".join("/".join(f) for f in folds), flush=True)
"""


def test_folds_forked_after_init_with_wandb_cleared_get_runs_of_their_own(
    store: Store, agents: Agents, tmp_path: Path, redis_url: str
) -> None:
    (tmp_path / "cv.py").write_text(FOLDS)
    (tmp_path / "redis_url.txt").write_text(redis_url)
    sweep_id = store.sweeps.create(
        {"method": "grid", "program": "cv.py", "parameters": {"x": {"values": [2]}}},
        grid_size=1,
    )
    proc = agents.start(sweep_id, agent_dir=repr(str(tmp_path / "agent")))
    result = agents.result(proc, timeout=90)
    [log] = (tmp_path / "agent").glob("*.log")
    assert result["finished"] == 1, log.read_text()
    [trial] = store.reads.trials(sweep_id)
    assert store.reads.summary(sweep_id, trial.id) == {"val_accuracy": 3.0}
    with Api(store=store) as api:
        folds = [api.run(path) for path in _line(log.read_text(), "FOLDS")]
        assert [f.summary.get("val_accuracy") for f in folds] == [2, 4]
        assert all(f.sweep_id != sweep_id and f.config == {"x": 2} for f in folds)
