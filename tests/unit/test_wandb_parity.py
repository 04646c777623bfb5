"""Config parity with W&B's own engine (the ``sweeps`` package).

Two halves: the engine cases issue 13 lists (what W&B accepts, collapses or refuses), and the
sweep configs of W&B's public ``wandb/examples`` repository, each checked to validate here exactly
when W&B's engine accepts it. Each verdict is recorded in the table, so our half runs everywhere;
when ``sweeps`` is installed (the ``bench`` extra) W&B's engine is run beside ours on the same
data and must agree with the recorded verdict too.
"""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from redsweep.errors import ConfigError
from redsweep.shared.engine.command import render_command
from redsweep.shared.engine.config import load_config, parse_config


def wandb_accepts(config: dict[str, Any]) -> bool:
    """W&B's engine: its schema check, then a first suggestion. A deprecated distribution
    (``log_uniform``) is a notice there, not a refusal: W&B's CLI and engine still run it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sweeps = pytest.importorskip("sweeps", reason="W&B's engine: pip install sweeps")
    try:
        violations = sweeps.schema_violations_from_proposed_config(config)
        if [v for v in violations if " where min/max specify base-e exponents" not in v]:
            return False
        sweeps.next_run(config, [], validate=False)
    except Exception:  # ValueError, jsonschema errors: W&B refuses it
        return False
    return True


def ours_accepts(tmp_path: Path, text: str) -> bool:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    try:
        load_config(path)
    except ConfigError:
        return False
    return True


# ---- the sweep configs of wandb/examples: (source path, accepted by W&B, YAML text) --------
# Read with the search tool from github.com/wandb/examples (configs only, as test data).

EXAMPLES: list[tuple[str, bool, str]] = [
    ("colabs/pyg/pointnet-classification/sweep_config.yaml", True, """
program: train.py
method: bayes
metric: {name: Validation/Accuracy, goal: maximize}
parameters:
  batch_size: {values: [8, 16, 32]}
  sample_points: {values: [512, 1024, 2048]}
  set_abstraction_ratio_1: {min: 0.1, max: 0.9}
  set_abstraction_radius_1: {min: 0.1, max: 0.5}
  set_abstraction_ratio_2: {min: 0.1, max: 0.9}
  set_abstraction_radius_2: {min: 0.1, max: 0.5}
  dropout: {min: 0.1, max: 0.7}
"""),
    # a Ray Tune config (no method, no parameters): neither engine takes it
    ("examples/keras/keras-cnn-fashion/sweep-tune-hyperopt.yaml", False, """
program: train.py
tune:
  num_samples: 10
  run_or_experiment: train.py
  search_alg:
    hyperopt.HyperOptSearch:
      metric: val_loss
      mode: min
      space:
        dropout:
          hyperopt.hp.uniform: [dropout, 0.15, 0.4]
"""),
    ("examples/llama-cpp/sweep.yaml", True, """
program: evaluate.py
method: random
metric: {goal: maximize, name: diff_score}
parameters:
  model:
    distribution: categorical
    values: [codellama-13b-instruct.Q4_K_M.gguf, codellama-7b.Q5_K_S.gguf, gpt-3.5-turbo]
  system_prompt:
    distribution: categorical
    values:
      - You're a Docker expert. Translate the following sentence to a simple docker command.
      - You'll be asked a question about Docker.  Only provide a single command.
  temperature: {distribution: uniform, max: 0.6, min: 0}
"""),
    ("examples/minimal-hydra-example/wandb_sweep.yaml", True, """
program: main.py
metric: {name: val_loss, goal: minimize}
method: bayes
parameters:
  optimizer.config.learning_rate:
    min: !!float 1e-5
    max: 0.1
  experiment: {values: [expt001, expt002]}
  optimizer: {values: [sgd, adagrad, adam]}
command: ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]
"""),
    ("examples/pytorch/pytorch-cnn-fashion/sweep-grid-hyperband.yaml", True, """
program: train.py
method: grid
metric: {goal: minimize, name: loss}
parameters:
  dropout: {values: [0.1, 0.2, 0.4, 0.5, 0.7]}
  channels_one: {values: [10, 12, 14, 16, 18, 20]}
  channels_two: {values: [24, 28, 32, 36, 40, 44]}
  learning_rate: {values: [0.001, 0.005, 0.0005]}
  epochs: {value: 27}
early_terminate: {type: hyperband, s: 2, eta: 3, max_iter: 27}
"""),
    ("examples/wandb-sweeps/sweeps-boolean-parameters/sweep-bool.yaml", True, """
program: train-bool.py
method: grid
parameters:
  optimizer: {values: ["sgd", "adam"]}
  flag1: {values: [false, true]}
  flag2: {values: [false, true]}
"""),
    ("examples/wandb-sweeps/sweeps-cross-validation/sweep-cross-validation.yaml", True, """
method: random
metric: {goal: maximize, name: val_accuracy}
parameters:
  batch_size: {distribution: int_uniform, max: 128, min: 32}
  epochs: {distribution: constant, value: 200}
  node_size1: {distribution: categorical, values: [64, 128, 256]}
  num_layers: {distribution: categorical, values: [1, 2, 3]}
  optimizer: {distribution: categorical, values: [Adam, Adamax, Adagrad]}
program: train-cross-validation.py
"""),
    # log_uniform: deprecated (exponents as bounds) but accepted by both
    ("fastai1-simpsons/sweep.yaml", True, """
program: train_sweep.py
method: bayes
metric: {name: accuracy, goal: maximize}
parameters:
  epochs: {distribution: constant, value: 20}
  dropout: {distribution: uniform, min: 0, max: 1}
  img_size: {distribution: categorical, values: [64, 100]}
  one_cycle: {distribution: categorical, values: [True, False]}
  batch_size: {distribution: categorical, values: [8, 16, 32, 64]}
  learning_rate: {distribution: log_uniform, min: -11, max: -2}
"""),
    # decay: [1e-5, 1e-6, 1e-7] are strings under YAML 1.1: accepted, with a warning here
    ("keras-cnn-fashion/sweep-grid-hyperband.yaml", True, """
program: train.py
method: grid
metric: {goal: minimize, name: val_loss}
parameters:
  dropout: {values: [0.15, 0.2, 0.25, 0.3, 0.4]}
  hidden_layer_size: {values: [96, 128, 148]}
  learn_rate: {values: [0.001, 0.01, 0.003]}
  decay: {values: [1e-5, 1e-6, 1e-7]}
  momentum: {values: [0.8, 0.9, 0.95]}
  epochs: {value: 27}
early_terminate: {type: hyperband, s: 2, eta: 3, max_iter: 27}
"""),
    ("keras-cnn-fashion/sweep-random-hyperband.yaml", True, """
program: train.py
method: random
metric: {goal: minimize, name: val_loss}
parameters:
  dropout: {values: [0.15, 0.2, 0.25, 0.3, 0.4]}
  layer_1_size: {values: [10, 12, 14, 16, 18, 20]}
  decay: {values: [1e-5, 1e-6, 1e-7]}
  epochs: {value: 27}
early_terminate: {type: hyperband, s: 2, eta: 3, max_iter: 27}
"""),
    ("keras/keras-cnn-fashion/sweep-bayes-hyperband.yaml", True, """
program: train.py
method: bayes
metric: {goal: minimize, name: val_loss}
parameters:
  dropout: {values: [0.15, 0.2, 0.25, 0.3, 0.4]}
  layer_2_size: {values: [24, 28, 32, 36, 40, 44]}
  decay: {values: [1e-5, 1e-6, 1e-7]}
  epochs: {value: 27}
early_terminate: {type: hyperband, s: 2, eta: 3, max_iter: 27}
"""),
    ("sweep.yaml", True, """
---
program: main.py
method: bayes
metric: {goal: maximize, name: test/accuracy}
parameters:
  model.num_groups: {values: [2, 4, 8]}
  dataset.train_batch: {values: [8, 16, 32]}
  normalization: {values: [batch, nonorm, instance, group]}
command: ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}"]
"""),
    ("sweep_cifar10.yaml", True, """
---
program: main.py
method: bayes
metric: {goal: maximize, name: test/accuracy}
parameters:
  model.num_groups: {values: [2, 4, 8]}
  dataset: {values: [cifar10]}
  dataset.train_batch: {values: [8, 16, 32]}
  normalization: {values: [batch, nonorm, instance, group]}
command: ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}", +num_gpus=1]
"""),
    ("sweep_mnist.yaml", True, """
---
program: main.py
method: bayes
metric: {goal: maximize, name: test/accuracy}
parameters:
  model.num_groups: {values: [2, 4, 8]}
  dataset: {values: [mnist]}
  dataset.train_batch: {values: [8, 16, 32]}
  normalization: {values: [batch, nonorm, instance, group]}
command: ["${env}", "${interpreter}", "${program}", "${args_no_hyphens}", +num_gpus=1]
"""),
    # W&B Launch configs: W&B's engine refuses them too (scheduler.engine missing)
    ("examples/launch/launch-sweeps/quickstart/launch_sweep_config.yaml", False, """
description: sweeps on launch quickstart
method: grid
run_cap: 10
job: wandb/sweep-jobs/job-fashion-MNIST-train:latest
metric: {name: epoch/val_loss, goal: minimize}
parameters:
  learning_rate: {values: [0, 0.0001, 0.001, 0.01, 0.1, 1]}
  epochs: {max: 20, min: 10, distribution: int_uniform}
scheduler: {num_workers: 8}
"""),
    ("examples/launch/launch-sweeps/optuna-scheduler/optuna_config_basic.yaml", False, """
description: A basic configuration for an Optuna scheduler
job: wandb/sweep-jobs/job-fashion-MNIST-train:latest
run_cap: 5
metric: {name: epoch/val_loss, goal: minimize}
scheduler:
  job: wandb/sweep-jobs/job-optuna-sweep-scheduler:latest
  resource: local-container
  num_workers: 2
  settings:
    pruner:
      type: PercentilePruner
      args: {percentile: 25.0, n_warmup_steps: 10}
parameters:
  learning_rate: {min: 0.0001, max: 1.0}
"""),
    ("examples/launch/launch-sweeps/custom-scheduler/custom_job_sweep_config.yaml", False, """
scheduler:
  job: <INSERT SCHEDULER JOB>
  settings: {verbose_logging: True, method: grid}
job: wandb/sweep-jobs/job-fashion-MNIST-train:latest
parameters:
  param1: {max: 10, min: 0}
"""),
    # python dicts passed to wandb.sweep(), written here as YAML
    ("examples/wandb-sweeps/sweeps-python/sweep.py", True, """
method: grid
parameters:
  layers: {values: [32, 64, 96, 128, 256]}
"""),
    ("examples/wandb-sweeps/sweeps-xgboost/xgboost_tune.py", True, """
method: bayes
metric: {name: mse, goal: minimize}
parameters:
  max_depth: {values: [1, 2, 5, 10]}
  learning_rate: {distribution: uniform, min: 0, max: 0.1}
  n_estimators: {values: [100, 500, 1000]}
"""),
]  # fmt: skip

_IDS = [source for source, _, _ in EXAMPLES]


@pytest.mark.parametrize(("source", "accepted", "text"), EXAMPLES, ids=_IDS)
def test_wandb_examples_validate_here_exactly_when_wandb_accepts_them(
    tmp_path: Path, source: str, accepted: bool, text: str
) -> None:
    assert ours_accepts(tmp_path, text) is accepted, source


@pytest.mark.parametrize(("source", "accepted", "text"), EXAMPLES, ids=_IDS)
def test_wandb_engine_gives_the_recorded_verdict(source: str, accepted: bool, text: str) -> None:
    assert wandb_accepts(yaml.safe_load(text)) is accepted, source


# ---- engine cases (issue 13): accepted or refused as W&B's engine does ---------------------


def _sweep(method: str = "grid", **params: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"method": method, "parameters": params}
    if method == "bayes":
        config["metric"] = {"name": "loss", "goal": "minimize"}
    return config


ENGINE_CASES: list[tuple[str, bool, dict[str, Any]]] = [
    ("duplicate values", True, _sweep(x={"values": [1, 2, 2, 2.0]})),
    ("dicts differing in key order", True,
     _sweep(x={"values": [{"a": 1, "b": 2}, {"b": 2, "a": 1}]})),
    ("duplicate lists", True, _sweep(x={"values": [[1, 2], [1, 2], [2, 1]]})),
    ("a number in command", True, {**_sweep(x={"values": [1]}), "command": ["python", 2]}),
    ("bayes over constants only", False, _sweep("bayes", x={"value": 1}, y={"value": 2})),
    ("bayes over one searchable", True, _sweep("bayes", x={"value": 1}, y={"values": [1, 2]})),
    ("probabilities of the wrong length", False,
     _sweep("random", x={"values": [1, 2], "probabilities": [1.0]})),
    ("distribution: loguniform", False,
     _sweep("random", x={"distribution": "loguniform", "min": 1, "max": 2})),
    ("a misspelt values", False, _sweep("random", x={"valuse": [1, 2]})),
    ("YAML 1.1 strings", True, _sweep("random", x={"values": ["1e-4", "1e-3"]})),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "accepted", "config"), ENGINE_CASES, ids=[c[0] for c in ENGINE_CASES]
)
def test_engine_cases_match_wandb(case: str, accepted: bool, config: dict[str, Any]) -> None:
    try:
        parse_config(config)
        ours = True
    except ConfigError:
        ours = False
    assert ours is accepted, case
    assert wandb_accepts(config) is accepted, case


def _warnings(config: dict[str, Any]) -> list[str]:
    return list(parse_config(config).warnings)


def _problem(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    assert len(info.value.problems) == 1, info.value.problems
    problem = info.value.problems[0]
    return f"{problem.path}: {problem.message}"


def test_duplicate_values_collapse_with_a_warning_naming_each() -> None:
    config = parse_config(_sweep(x={"values": [1, {"a": 1, "b": [2]}, 1.0, {"b": [2], "a": 1}]}))
    assert config.params[0].values == (1, {"a": 1, "b": [2]})
    found = list(config.warnings)
    assert len(found) == 2
    assert found[0].startswith("parameters.x.values[2]: duplicate value 1.0")
    assert found[1].startswith("parameters.x.values[3]: duplicate value")


def test_a_duplicate_with_a_probability_gives_its_chance_to_its_twin() -> None:
    config = parse_config(
        _sweep("random", x={"values": [1, 2, 1], "probabilities": [0.25, 0.5, 0.25]})
    )
    assert config.params[0].values == (1, 2)
    assert config.params[0].probabilities == (0.5, 0.5)


def test_number_command_elements_become_strings() -> None:
    config = parse_config({**_sweep(x={"values": [1]}), "command": ["python", 2, True, 0.5]})
    assert config.command == ("python", "2", "True", "0.5")


def test_unknown_whole_element_macro_is_warned_and_expands_to_nothing() -> None:
    config = parse_config(
        {**_sweep(x={"values": [1]}), "command": ["python", "${nope}", "${args}"]}
    )
    assert any(w.startswith("command[1]: ${nope} is no macro") for w in config.warnings)
    plan = render_command(
        config, {"x": 1}, sweep_id="s", run_id="r", agent_dir="/tmp/x", env={}, interpreter="py"
    )
    assert plan.argv == ("python", "--x=1")


def test_unset_envvar_keeps_the_literal_name_with_a_warning() -> None:
    config = parse_config({**_sweep(x={"values": [1]}), "command": ["echo", "${envvar:NOT_SET_X}"]})
    plan = render_command(
        config, {}, sweep_id="s", run_id="r", agent_dir="/tmp/x", env={}, interpreter="py"
    )
    assert plan.argv == ("echo", "NOT_SET_X")
    assert "NOT_SET_X is not set" in plan.warnings[0]


def test_bayes_over_constants_is_refused_with_the_reason() -> None:
    message = _problem(_sweep("bayes", x={"value": 1}))
    assert message.startswith("parameters: bayes search needs at least one parameter to search")


def test_probabilities_of_the_wrong_length_say_so() -> None:
    message = _problem(_sweep("random", x={"values": [1, 2, 3], "probabilities": [0.5, 0.5]}))
    assert "must have the same length as `values`" in message


def test_yaml11_number_strings_are_warned(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        textwrap.dedent("""
        method: grid
        parameters:
          lr: {values: [1e-4, 1e-3]}
    """)
    )
    config = load_config(path)
    assert config.params[0].values == ("1e-4", "1e-3")
    assert any("write 1.0e-4, 1.0e-3" in w for w in config.warnings), config.warnings


def test_loguniform_suggests_log_uniform_values() -> None:
    message = _problem(_sweep("random", x={"distribution": "loguniform", "min": 1, "max": 2}))
    assert "did you mean 'log_uniform_values'?" in message


@pytest.mark.parametrize(
    ("typo", "meant"), [("valuse", "values"), ("vaules", "values"), ("mni", "min"), ("mx", "max")]
)
def test_did_you_mean_goes_by_edit_distance(typo: str, meant: str) -> None:
    message = _problem(_sweep("random", x={typo: [1, 2] if "v" in typo else 1}))
    assert f"did you mean {meant!r}?" in message
