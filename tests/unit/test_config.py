"""Loading and validating sweep configs: defaults, inference, and one clear problem per mistake."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from redsweep.errors import ConfigError, ConfigProblem
from redsweep.shared.engine import params as P
from redsweep.shared.engine.config import load_config, parse_config
from redsweep.shared.records import Goal, Hyperband, Impute, Method, Metric


def sweep(*, method: str = "random", **extra: Any) -> dict[str, Any]:
    """A minimal valid config with one parameter ``x`` unless ``parameters`` is given."""
    config: dict[str, Any] = {"method": method, "parameters": {"x": {"values": [1, 2]}}}
    config.update(extra)
    return config


def with_param(spec: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return sweep(parameters={"x": spec}, **extra)


def problems(config: Any) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        parse_config(config)
    return info.value.problems


def one_problem(config: Any) -> ConfigProblem:
    found = problems(config)
    assert len(found) == 1, found
    return found[0]


def write(tmp_path: Path, text: str, name: str = "sweep.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def file_problems(path: Path) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return info.value.problems


# ---- every distribution, with its defaults filled in ----------------------------------------

DEFAULTS = {
    "constant": ({"value": 3}, {"value": 3}),
    "categorical": ({"values": ["a", "b"]}, {"values": ["a", "b"]}),
    "categorical_w_probabilities": (
        {"values": [1, 2], "probabilities": [0.25, 0.75]},
        {"values": [1, 2], "probabilities": [0.25, 0.75]},
    ),
    "int_uniform": ({"min": 1, "max": 5}, {"min": 1, "max": 5}),
    "uniform": ({"min": 0.0, "max": 2.5}, {"min": 0.0, "max": 2.5}),
    "q_uniform": ({"min": 0, "max": 10}, {"min": 0, "max": 10, "q": 1.0}),
    "log_uniform": ({"min": -5, "max": 0}, {"min": -5, "max": 0}),
    "log_uniform_values": ({"min": 1e-4, "max": 0.1}, {"min": 1e-4, "max": 0.1}),
    "q_log_uniform": ({"min": 0, "max": 3}, {"min": 0, "max": 3, "q": 1.0}),
    "q_log_uniform_values": ({"min": 1, "max": 100}, {"min": 1, "max": 100, "q": 1.0}),
    "inv_log_uniform": ({"min": 0, "max": 5}, {"min": 0, "max": 5}),
    "inv_log_uniform_values": ({"min": 0.01, "max": 1.0}, {"min": 0.01, "max": 1.0}),
    "normal": ({}, {"mu": 0.0, "sigma": 1.0}),
    "q_normal": ({}, {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "log_normal": ({"mu": 1.0}, {"mu": 1.0, "sigma": 1.0}),
    "q_log_normal": ({}, {"mu": 0.0, "sigma": 1.0, "q": 1.0}),
    "beta": ({}, {"a": 1.0, "b": 1.0}),
    "q_beta": ({"q": 0.1}, {"a": 1.0, "b": 1.0, "q": 0.1}),
}


def test_the_defaults_table_covers_all_18_distributions() -> None:
    assert set(DEFAULTS) == set(P.DISTRIBUTIONS)
    assert len(DEFAULTS) == 18


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_distribution_loads_with_its_defaults_filled(name: str) -> None:
    given, filled = DEFAULTS[name]
    config = load_config(with_param({"distribution": name, **given}))
    (param,) = config.params
    assert type(param) is P.DISTRIBUTIONS[name]
    assert param.path == ("x",)
    assert config.parameters == {"x": {"distribution": name, **filled}}


def test_default_q_is_the_float_1_so_q_uniform_yields_floats() -> None:
    (param,) = load_config(with_param({"distribution": "q_uniform", "min": 0, "max": 3})).params
    assert isinstance(param.q, float)
    assert all(isinstance(v, float) for v in param.grid_values())
    (param,) = load_config(
        with_param({"distribution": "q_uniform", "min": 0, "max": 3, "q": 1})
    ).params
    assert param.grid_values() == [0, 1, 2]
    assert all(type(v) is int for v in param.grid_values())


# ---- inference when `distribution` is absent (as W&B) ---------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"value": 0.5}, "constant"),
        ({"value": [1, 2]}, "constant"),
        ({"values": [1, 2, 3]}, "categorical"),
        ({"values": [1, 2], "probabilities": [0.5, 0.5]}, "categorical_w_probabilities"),
        ({"min": 1, "max": 10}, "int_uniform"),
        ({"min": 0.0, "max": 10}, "uniform"),
        ({"min": 0, "max": 0.5}, "uniform"),
        ({"min": 0.001, "max": 0.1}, "uniform"),
    ],
)
def test_distribution_is_inferred_like_wandb(spec: dict[str, Any], expected: str) -> None:
    (param,) = load_config(with_param(spec)).params
    assert param.distribution == expected


def test_int_uniform_inferred_from_int_bounds_is_inclusive() -> None:
    (param,) = load_config(with_param({"min": 1, "max": 3})).params
    assert param.grid_values() == [1, 2, 3]


# ---- the rest of the config ------------------------------------------------------------------


def test_wandb_quickstart_dict_loads() -> None:
    sweep_configuration = {
        "method": "random",
        "name": "sweep",
        "metric": {"goal": "maximize", "name": "val_acc"},
        "parameters": {
            "batch_size": {"values": [16, 32, 64]},
            "epochs": {"values": [5, 10, 15]},
            "lr": {"max": 0.1, "min": 0.0001},
        },
    }
    config = load_config(sweep_configuration)
    assert config.method is Method.RANDOM
    assert config.name == "sweep"
    assert config.metric == Metric("val_acc", Goal.MAXIMIZE, None, Impute.WORST, Impute.FALSE)
    assert [p.name for p in config.params] == ["batch_size", "epochs", "lr"]
    assert config.parameters["lr"] == {"distribution": "uniform", "min": 0.0001, "max": 0.1}
    assert config.raw == sweep_configuration
    assert config.warnings == ()


def test_every_top_level_key_is_kept() -> None:
    config = load_config(
        sweep(
            method="bayes",
            metric={"name": "loss", "target": 0.1, "impute": "best", "impute_while_running": False},
            early_terminate={"type": "hyperband", "min_iter": 3, "eta": 2},
            run_cap=20,
            command=["${env}", "python", "${program}", "${args}"],
            program="train.py",
            name="n",
            description="d",
            project="p",
            entity="me",
            apiVersion="v1",
            kind="sweep",
            controller={"type": "local"},
        )
    )
    assert config.metric == Metric("loss", Goal.MINIMIZE, 0.1, Impute.BEST, Impute.FALSE)
    assert config.early_terminate == Hyperband(min_iter=3, eta=2.0, strict=True)
    assert config.run_cap == 20
    assert config.command == ("${env}", "python", "${program}", "${args}")
    assert (config.program, config.name, config.description, config.project) == (
        "train.py",
        "n",
        "d",
        "p",
    )


def test_hyperband_defaults_and_max_iter_form() -> None:
    config = load_config(
        sweep(
            metric={"name": "loss"}, early_terminate={"type": "hyperband", "max_iter": 27, "s": 2}
        )
    )
    assert config.early_terminate == Hyperband(max_iter=27, s=2, eta=3.0, strict=True)


def test_nested_parameters_are_flattened_and_sorted() -> None:
    config = load_config(
        sweep(
            parameters={
                "optimizer": {
                    "parameters": {
                        "momentum": {"value": 0.9},
                        "lr": {"min": 0.001, "max": 0.1},
                    }
                },
                "epochs": {"values": [1, 2]},
                "z": {"value": 1},
            }
        )
    )
    assert [p.path for p in config.params] == [
        ("epochs",),
        ("optimizer", "lr"),
        ("optimizer", "momentum"),
        ("z",),
    ]
    assert config.parameters["optimizer"] == {
        "parameters": {
            "lr": {"distribution": "uniform", "min": 0.001, "max": 0.1},
            "momentum": {"distribution": "constant", "value": 0.9},
        }
    }


def test_raw_is_a_plain_copy_of_the_input() -> None:
    given = sweep()
    config = load_config(given)
    given["parameters"]["x"]["values"].append(3)
    assert config.raw == sweep()


@pytest.mark.parametrize("name", ["log_uniform", "q_log_uniform", "inv_log_uniform"])
def test_v1_log_forms_load_with_a_deprecation_warning(name: str) -> None:
    config = load_config(with_param({"distribution": name, "min": -3, "max": 0}))
    (warning,) = config.warnings
    assert warning.startswith(f"parameters.x: '{name}' takes natural-log exponents as min/max")
    assert f"use '{name}_values' with min/max as the values themselves" in warning


def test_values_forms_load_without_warning() -> None:
    config = load_config(with_param({"distribution": "log_uniform_values", "min": 1, "max": 2}))
    assert config.warnings == ()


def test_grid_accepts_values_int_uniform_q_uniform_and_constants() -> None:
    config = load_config(
        sweep(
            method="grid",
            parameters={
                "a": {"values": [1, 2]},
                "b": {"min": 1, "max": 3},
                "c": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.5},
                "d": {"value": "x"},
            },
        )
    )
    assert config.method is Method.GRID


# ---- one clear problem per mistake, with its path ------------------------------------------


@pytest.mark.parametrize(
    ("config", "path", "fragments"),
    [
        # unknown keys, at every level, with did-you-mean
        (sweep(run_caps=3), "run_caps", ["unknown key 'run_caps'", "did you mean 'run_cap'?"]),
        (
            {"method": "grid", "paramters": {"x": {"value": 1}}},
            "paramters",
            ["unknown key 'paramters'; did you mean 'parameters'?"],
        ),
        (
            sweep(metric={"name": "loss", "goall": "minimize"}),
            "metric.goall",
            ["did you mean 'goal'?"],
        ),
        (
            sweep(
                metric={"name": "l"},
                early_terminate={"type": "hyperband", "min_iter": 1, "etaa": 2},
            ),
            "early_terminate.etaa",
            ["did you mean 'eta'?"],
        ),
        (
            with_param({"min": 0.1, "max": 1.0, "distrbution": "uniform"}),
            "parameters.x.distrbution",
            ["did you mean 'distribution'?"],
        ),
        (
            with_param({"valeus": [1, 2]}),
            "parameters.x.valeus",
            ["did you mean 'values'?"],
        ),
        (
            with_param({"distribution": "categorical", "values": [1], "probabilities": [1.0]}),
            "parameters.x.probabilities",
            ["'probabilities' does not apply to a categorical parameter"],
        ),
        # choices
        (sweep(method="gird"), "method", ["unknown method 'gird'", "grid, random, bayes"]),
        (
            sweep(metric={"name": "l", "goal": "maximise"}),
            "metric.goal",
            ["did you mean 'maximize'?", "minimize, maximize"],
        ),
        (
            sweep(metric={"name": "l", "impute": "zero"}),
            "metric.impute",
            ["unknown impute 'zero'", "latest, best, worst"],
        ),
        (
            sweep(metric={"name": "l", "impute_while_running": True}),
            "metric.impute_while_running",
            ["latest, best, worst, false"],
        ),
        (
            with_param({"distribution": "nromal"}),
            "parameters.x.distribution",
            ["unknown distribution 'nromal'", "did you mean 'normal'?", "q_beta"],
        ),
        # cloud-only W&B features
        (sweep(method="custom"), "method", ["not supported by redsweep"]),
        (sweep(scheduler={"engine": "optuna"}), "scheduler", ["not supported by redsweep"]),
        (sweep(metrics=[{"name": "a"}, {"name": "b"}]), "metrics", ["not supported by redsweep"]),
        (sweep(job="j"), "job", ["not supported by redsweep"]),
        (sweep(image_uri="i"), "image_uri", ["not supported by redsweep"]),
        (sweep(kind="job"), "kind", ["'sweep'"]),
        # types: bool is not a number; numeric strings get a YAML 1.1 hint
        (with_param({"min": True, "max": 2}), "parameters.x.min", ["got the boolean true"]),
        (
            with_param({"min": "1e-3", "max": 0.1}),
            "parameters.x.min",
            ["YAML 1.1 reads 1e-3", "write 1.0e-3"],
        ),
        (
            with_param({"min": 0.0, "max": "0.5"}),
            "parameters.x.max",
            ["got the string '0.5'", "without quotes"],
        ),
        (
            with_param({"distribution": "int_uniform", "min": 1.0, "max": 5}),
            "parameters.x.min",
            ["int_uniform needs integer bounds, got 1.0"],
        ),
        (sweep(run_cap=2.5), "run_cap", ["expected an integer, got 2.5"]),
        (sweep(name=3), "name", ["expected a string, got 3"]),
        (sweep(command=["python", {"a": 1}]), "command[1]", ["expected a string"]),
        (sweep(command="python train.py"), "command", ["expected a list of strings"]),
        (sweep(metric={"name": "l", "target": "high"}), "metric.target", ["expected a number"]),
        (sweep(metric={"goal": "minimize"}), "metric.name", ["missing"]),
        (with_param(0.1), "parameters.x", ["expected a parameter's settings"]),
        (sweep(parameters={"1lr": {"value": 1}}), "parameters.1lr", ["must start with a letter"]),
        # ranges and shapes
        (with_param({"min": 5, "max": 1}), "parameters.x.min", ["min 5 must be less than max 1"]),
        (with_param({"min": 1.0, "max": 1.0}), "parameters.x.min", ["min 1.0 must be less"]),
        (
            with_param({"distribution": "log_uniform_values", "min": 0, "max": 1}),
            "parameters.x.min",
            ["must be > 0; got min 0"],
        ),
        (
            with_param({"distribution": "inv_log_uniform_values", "min": -1.0, "max": 1.0}),
            "parameters.x.min",
            ["must be > 0"],
        ),
        (with_param({"distribution": "normal", "sigma": 0}), "parameters.x.sigma", ["> 0"]),
        (with_param({"distribution": "log_normal", "sigma": -1}), "parameters.x.sigma", ["> 0"]),
        (with_param({"distribution": "beta", "a": 0}), "parameters.x.a", ["> 0"]),
        (with_param({"distribution": "beta", "b": -2.0}), "parameters.x.b", ["> 0"]),
        (
            with_param({"distribution": "q_uniform", "min": 0, "max": 1, "q": 0}),
            "parameters.x.q",
            ["must be > 0 (the quantization step), got 0"],
        ),
        (with_param({"values": []}), "parameters.x.values", ["at least one value"]),
        (with_param({"values": 3}), "parameters.x.values", ["expected a list"]),
        (
            with_param({"values": [1, 2], "probabilities": [1.5, -0.5]}),
            "parameters.x.probabilities[1]",
            ["must be >= 0, got -0.5"],
        ),
        (
            with_param({"values": [1, 2], "probabilities": [1.0]}),
            "parameters.x.probabilities",
            ["must have the same length as `values`", "1 probabilities for 2 values"],
        ),
        (
            with_param({"values": [1, 2], "probabilities": [0.5, 0.4]}),
            "parameters.x.probabilities",
            ["must sum to 1", "0.9"],
        ),
        (with_param({"distribution": "uniform", "min": 0}), "parameters.x.max", ["needs 'max'"]),
        (with_param({"distribution": "constant"}), "parameters.x.value", ["needs 'value'"]),
        (with_param({}), "parameters.x", ["cannot tell the distribution"]),
        (sweep(parameters={}), "parameters", ["at least one parameter"]),
        (
            with_param({"parameters": {"y": {"value": 1}}, "value": 2}),
            "parameters.x.value",
            ["nested parameter block takes only 'parameters'"],
        ),
        ({"parameters": {"x": {"value": 1}}}, "method", ["missing 'method'"]),
        ({"method": "random"}, "parameters", ["missing 'parameters'"]),
        # non-finite numbers
        (with_param({"min": float("nan"), "max": 1.0}), "parameters.x.min", ["finite", "nan"]),
        (with_param({"min": 0.0, "max": float("inf")}), "parameters.x.max", ["finite", "inf"]),
        (
            sweep(metric={"name": "l", "target": float("-inf")}),
            "metric.target",
            ["finite"],
        ),
        (with_param({"values": [1.0, float("inf")]}), "parameters.x.values[1]", ["non-finite"]),
        (with_param({"value": float("nan")}), "parameters.x.value", ["non-finite"]),
        # run_cap
        (sweep(run_cap=0), "run_cap", ["positive", "got 0"]),
        (sweep(run_cap=-3), "run_cap", ["positive", "got -3"]),
        (sweep(run_cap=True), "run_cap", ["boolean"]),
        # method needs
        (
            with_param({"min": 0.0, "max": 1.0}, method="grid"),
            "parameters.x",
            [
                "grid search cannot walk 'x'",
                "uniform",
                "values, int_uniform, q_uniform or a constant",
            ],
        ),
        (
            with_param({"distribution": "normal"}, method="grid"),
            "parameters.x",
            ["normal (continuous)"],
        ),
        (
            with_param({"values": [1, 2], "probabilities": [0.5, 0.5]}, method="grid"),
            "parameters.x",
            ["categorical_w_probabilities", "probabilities do not apply"],
        ),
        (sweep(method="bayes"), "metric", ["bayes search needs a metric"]),
        (
            sweep(early_terminate={"type": "hyperband", "min_iter": 3}),
            "early_terminate",
            ["needs", "metric"],
        ),
        # hyperband
        (
            sweep(metric={"name": "l"}, early_terminate={"min_iter": 3}),
            "early_terminate.type",
            ["type: hyperband"],
        ),
        (
            sweep(metric={"name": "l"}, early_terminate={"type": "asha", "min_iter": 3}),
            "early_terminate.type",
            ["hyperband"],
        ),
        (
            sweep(metric={"name": "l"}, early_terminate={"type": "hyperband"}),
            "early_terminate",
            ["min_iter, or max_iter and s"],
        ),
        (
            sweep(metric={"name": "l"}, early_terminate={"type": "hyperband", "max_iter": 9}),
            "early_terminate.s",
            ["max_iter needs s"],
        ),
        (
            sweep(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 0}),
            "early_terminate.min_iter",
            [">= 1"],
        ),
        (
            sweep(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 2.5}),
            "early_terminate.min_iter",
            ["expected an integer"],
        ),
        (
            sweep(
                metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 1, "eta": 1}
            ),
            "early_terminate.eta",
            ["must be > 1"],
        ),
        (
            sweep(
                metric={"name": "l"},
                early_terminate={"type": "hyperband", "min_iter": 1, "strict": "yes"},
            ),
            "early_terminate.strict",
            ["true or false"],
        ),
        (
            sweep(
                metric={"name": "l"},
                early_terminate={"type": "hyperband", "max_iter": 2, "s": 1},
            ),
            "early_terminate.max_iter",
            ["leaves no bracket"],
        ),
        (
            sweep(
                metric={"name": "l"},
                early_terminate={"type": "hyperband", "min_iter": 10, "max_iter": 3},
            ),
            "early_terminate.min_iter",
            ["min_iter 10 is above max_iter 3", "<= the last"],
        ),
        # one parameter given twice, dotted and nested
        (
            sweep(parameters={"a.b": {"value": 1}, "a": {"parameters": {"b": {"value": 2}}}}),
            "parameters.a.parameters.b",
            ["'a.b' is given twice", "parameters.a.b and as parameters.a.parameters.b"],
        ),
    ],
)
def test_each_mistake_is_one_problem_naming_its_path(
    config: dict[str, Any], path: str, fragments: list[str]
) -> None:
    problem = one_problem(config)
    assert problem.path == path
    for fragment in fragments:
        assert fragment in problem.message, problem.message


def test_booleans_and_ones_are_different_values() -> None:
    (param,) = load_config(with_param({"values": [True, 1, False, 0]})).params
    assert param.values == (True, 1, False, 0)


def test_not_a_mapping_is_one_problem() -> None:
    assert "must be a mapping" in one_problem(["method", "grid"]).message  # type: ignore[arg-type]


def test_several_problems_are_collected_at_once() -> None:
    found = problems(
        {
            "method": "bayes",
            "run_cap": 0,
            "parameters": {
                "lr": {"min": 1, "max": 0},
                "bs": {"values": []},
                "opt": {"distribution": "sgd"},
            },
        }
    )
    assert {p.path for p in found} == {
        "run_cap",
        "parameters.lr.min",
        "parameters.bs.values",
        "parameters.opt.distribution",
        "metric",
    }


# ---- files: YAML lines, JSON, read errors ---------------------------------------------------

YAML_CASES = [
    (
        """
        method: random
        parameters:
          lr:
            min: 1e-3
            max: 0.1
        """,
        "parameters.lr.min",
        4,
        "write 1.0e-3",
    ),
    (
        """
        method: random
        parameters:
          lr:
            min: 0.001
            max: 0.1
          lr:
            values: [1, 2]
        """,
        "parameters.lr",
        6,
        "duplicate key 'lr' (first at line 3)",
    ),
    (
        """
        method: grid
        parameters:
          x:
            values: [1, 2]
          y:
            distribution: normal
        """,
        "parameters.y",
        5,
        "grid search cannot walk 'y'",
    ),
    (
        """
        method: random
        metric:
          name: loss
          goal: maximise
        parameters:
          x:
            value: 1
        """,
        "metric.goal",
        4,
        "did you mean 'maximize'?",
    ),
    (
        """
        method: random
        parameters:
          x:
            min: .nan
            max: .inf
            distribution: uniform
        """,
        "parameters.x.min",
        4,
        "finite",
    ),
    (
        """
        method: bayes
        parameters:
          x:
            value: 1
        """,
        "metric",
        1,
        "bayes search needs a metric",
    ),
    (
        """
        method: random
        parameters:
          x:
            distribution: uniform
            min: 0
        """,
        "parameters.x.max",
        3,
        "needs 'max'",
    ),
]


@pytest.mark.parametrize(("text", "path", "line", "fragment"), YAML_CASES)
def test_yaml_problems_carry_their_line(
    tmp_path: Path, text: str, path: str, line: int, fragment: str
) -> None:
    source = write(tmp_path, text)
    found = [p for p in file_problems(source) if p.path == path]
    assert found, file_problems(source)
    assert found[0].line == line
    assert fragment in found[0].message


def test_rendered_error_is_file_line_path_message(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        """
        method: random
        run_cap: 0
        parameters:
          lr:
            min: 1e-3
            max: 0.1
          bs:
            values: []
        """,
    )
    with pytest.raises(ConfigError) as info:
        load_config(source)
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{source}:2: run_cap: must be a positive number of runs")
    assert lines[1].startswith(f"{source}:5: parameters.lr.min: expected a number")
    assert lines[2].startswith(f"{source}:8: parameters.bs.values: needs at least one value")
    assert info.value.path == "run_cap"


def test_yaml_false_is_accepted_for_impute_while_running(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        """
        method: bayes
        metric: {name: loss, impute_while_running: false}
        parameters:
          x: {min: 0.0, max: 1.0}
        """,
    )
    assert load_config(source).metric.impute_while_running is Impute.FALSE


def test_yaml_file_loads_with_nested_parameters(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        """
        program: train.py
        method: grid
        parameters:
          optimizer:
            parameters:
              lr:
                values: [0.1, 0.01]
          epochs:
            value: 3
        """,
        name="sweep.yml",
    )
    config = load_config(source)
    assert [p.path for p in config.params] == [("epochs",), ("optimizer", "lr")]
    assert config.program == "train.py"
    assert config.raw["parameters"]["optimizer"]["parameters"]["lr"]["values"] == [0.1, 0.01]


def test_yaml_syntax_error_is_one_problem_with_its_line(tmp_path: Path) -> None:
    source = write(
        tmp_path,
        """
        method: random
        parameters:
          x: [1, 2
        """,
    )
    (problem,) = file_problems(source)
    assert "not valid YAML" in problem.message
    assert problem.line is not None and problem.line >= 3


def test_empty_yaml_file_is_one_problem(tmp_path: Path) -> None:
    (problem,) = file_problems(write(tmp_path, "\n"))
    assert "empty" in problem.message


def test_json_file_loads(tmp_path: Path) -> None:
    data = sweep(metric={"name": "acc", "goal": "maximize"}, method="bayes")
    source = tmp_path / "sweep.json"
    source.write_text(json.dumps(data))
    config = load_config(str(source))
    assert config.method is Method.BAYES
    assert config.raw == data


def test_json_reads_1e_minus_3_as_a_number(tmp_path: Path) -> None:
    source = tmp_path / "sweep.json"
    source.write_text('{"method": "random", "parameters": {"lr": {"min": 1e-3, "max": 1e-1}}}')
    (param,) = load_config(source).params
    assert (param.min, param.max) == (0.001, 0.1)


def test_json_duplicate_keys_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "sweep.json"
    source.write_text('{"method": "random", "parameters": {"x": {"value": 1}, "x": {"value": 2}}}')
    (problem,) = file_problems(source)
    assert problem.path == "parameters.x"
    assert "duplicate key 'x'" in problem.message


def test_json_syntax_error_has_its_line(tmp_path: Path) -> None:
    source = tmp_path / "sweep.json"
    source.write_text('{\n"method": "random",\n"parameters": {,}\n}')
    (problem,) = file_problems(source)
    assert problem.line == 3
    assert "not valid JSON" in problem.message


def test_missing_file_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(missing)
    message = str(info.value)
    assert "\n" not in message
    assert str(missing) in message
    assert "cannot read the config file" in message


def test_parse_config_uses_the_given_lines_and_source() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(
            with_param({"min": 2, "max": 1}),
            source="s.yaml",
            lines={"parameters": 2, "parameters.x": 3, "parameters.x.min": 4},
        )
    assert str(info.value) == "s.yaml:4: parameters.x.min: min 2 must be less than max 1"


# ---- redsweep's own block ------------------------------------------------------------------


def test_the_redsweep_block_sets_a_trial_timeout_and_shows_it_back() -> None:
    config = parse_config(sweep(redsweep={"trial_timeout": 30}))
    assert config.trial_timeout == 30.0
    assert config.to_dict()["redsweep"] == {"trial_timeout": 30.0}
    assert parse_config(sweep()).trial_timeout is None
    assert "redsweep" not in parse_config(sweep()).to_dict()


@pytest.mark.parametrize("bad", [0, -1, "30s", True, float("inf")])
def test_a_trial_timeout_that_is_not_a_positive_number_is_one_problem(bad: Any) -> None:
    problem = one_problem(sweep(redsweep={"trial_timeout": bad}))
    assert problem.path == "redsweep.trial_timeout"
    assert str(bad).lower() in problem.message.lower()


def test_the_redsweep_block_refuses_keys_it_does_not_know() -> None:
    typo = one_problem(sweep(redsweep={"trial_timout": 3}))
    assert "did you mean 'trial_timeout'" in typo.message
    assert "a mapping" in one_problem(sweep(redsweep=30)).message


def test_a_top_level_timeout_points_to_the_redsweep_block() -> None:
    problem = one_problem(sweep(timeout=30))
    assert problem.path == "timeout"
    assert "redsweep: {trial_timeout: 30}" in problem.message
