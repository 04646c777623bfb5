"""Load and validate W&B-style sweep configs into :class:`~redsweep.shared.records.SweepConfig`.

Every key and rule of W&B's sweep config schema is checked; every problem found is collected
(key path, message, YAML line) and raised once as a :class:`~redsweep.errors.ConfigError`. A
valid config comes back as frozen records with every default filled in. No I/O but reading the
file given to :func:`load_config`.

redsweep's own settings live under one top-level key W&B does not have, ``redsweep:``
(``trial_timeout``, ``retries``), so a W&B config means here exactly what it means on W&B.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from redsweep.errors import ConfigError, ConfigProblem
from redsweep.shared.engine.command import MACROS, unknown_macros
from redsweep.shared.engine.config_checker import Checker, bad_choice, did_you_mean, unknown_key
from redsweep.shared.engine.config_params import check_parameters, grid_problem, name_clashes
from redsweep.shared.engine.params import Constant, Param
from redsweep.shared.engine.values import py_scalar
from redsweep.shared.engine.yaml_lines import join, load_json, load_yaml
from redsweep.shared.records import Goal, Hyperband, Impute, Method, Metric, SweepConfig

__all__ = ["load_config", "parse_config"]

_KEYS = (
    "method", "metric", "parameters", "early_terminate", "run_cap", "command",
    "program", "name", "description", "project",
)  # fmt: skip
#: W&B keys that mean nothing here but do no harm: accepted and ignored
_IGNORED = ("entity", "apiVersion", "kind", "controller")
#: W&B keys that need its cloud service
_CLOUD_ONLY = {
    "scheduler": "W&B's custom scheduler (the Optuna and Ax engines)",
    "metrics": "multi-objective optimization (W&B's method: custom)",
    "job": "W&B Launch jobs",
    "image_uri": "W&B Launch images",
}
_METHODS = tuple(m.value for m in Method)
_METRIC_KEYS = ("name", "goal", "target", "impute", "impute_while_running")
_IMPUTE = ("latest", "best", "worst")
_HYPERBAND_KEYS = ("type", "min_iter", "max_iter", "s", "eta", "strict")
_STRINGS = ("program", "name", "description", "project")
#: redsweep's own block (not W&B's) and its keys
_OWN = "redsweep"
_OWN_KEYS = ("trial_timeout", "retries")


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> SweepConfig:
    """Load a sweep config from a YAML (``.yaml``/``.yml``) or JSON (``.json``) file, or take a
    mapping (like W&B's ``sweep_configuration`` dict), validate it and fill in defaults.

    Raises :class:`~redsweep.errors.ConfigError` listing every problem found.
    """
    if isinstance(source, Mapping):
        return parse_config(source)
    path = os.fspath(source)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ConfigError(
            [ConfigProblem("", f"cannot read the config file: {reason}")], path
        ) from None
    except UnicodeDecodeError:
        problem = ConfigProblem("", "cannot read the config file: it is not UTF-8 text")
        raise ConfigError([problem], path) from None
    loaded = load_json(text) if path.lower().endswith(".json") else load_yaml(text)
    if loaded.data is None and loaded.problems:  # a syntax error: nothing more to check
        raise ConfigError(loaded.problems, path)
    config, problems = _build(loaded.data, Checker(loaded.lines))
    problems = loaded.problems + problems
    if problems or config is None:
        raise ConfigError(_in_file_order(problems), path)
    return config


def parse_config(
    data: Mapping[str, Any],
    *,
    source: str | None = None,
    lines: Mapping[str, int] | None = None,
) -> SweepConfig:
    """Validate an already-parsed config. ``lines`` maps key paths (``parameters.lr.min``) to
    their YAML lines, for messages; ``source`` names the file in them."""
    config, problems = _build(data, Checker(lines))
    if problems or config is None:
        raise ConfigError(_in_file_order(problems), source)
    return config


def _in_file_order(problems: list[ConfigProblem]) -> list[ConfigProblem]:
    return sorted(problems, key=lambda p: (p.line is None, p.line or 0))


def _plain(value: Any) -> Any:
    """A plain copy: mappings -> dicts, tuples -> lists, numpy scalars -> Python numbers."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return py_scalar(value)


def _build(data: Any, check: Checker) -> tuple[SweepConfig | None, list[ConfigProblem]]:
    if data is None:
        check.add("", "the config is empty; it needs at least 'method' and 'parameters'")
        return None, check.problems
    if not isinstance(data, Mapping):
        check.add("", f"a sweep config must be a mapping of keys, got {type(data).__name__}")
        return None, check.problems
    data = _plain(data)
    fields: dict[str, Any] = {}
    params: list[Param] = []
    warnings: list[str] = []
    typo_of: set[str | None] = set()  # keys an unknown key looks like a misspelling of
    for key, value in data.items():
        if key == "parameters":
            params = check_parameters(check, value, "parameters", (), warnings)
        elif key == _OWN:
            _own_block(check, value, fields)
        elif key == "command":
            _command(check, value, fields, warnings)
        elif key in _KEYS:
            _top_key(check, key, value, fields)
        elif key in _IGNORED:
            if key == "kind" and value != "sweep":
                check.add("kind", f"kind must be 'sweep' (as in W&B), got {value!r}")
        elif key in _CLOUD_ONLY:
            check.add(
                key,
                f"{key!r} is {_CLOUD_ONLY[key]}, a W&B cloud feature not supported by redsweep; "
                "remove it",
            )
        elif key in ("timeout", "trial_timeout"):
            check.add(str(key), f"unknown key {key!r}; a trial timeout is redsweep's own "
                      f"setting: write redsweep: {{trial_timeout: {value!r}}}")  # fmt: skip
        else:
            check.add(str(key), unknown_key(key, (*_KEYS, _OWN)))
            typo_of.add(did_you_mean(key, _KEYS))
    _cross_checks(check, data, fields, params, typo_of)
    if check.problems:
        return None, check.problems
    params.sort(key=lambda p: p.path)
    config = SweepConfig(params=tuple(params), raw=data, warnings=tuple(warnings), **fields)
    return config, []


def _top_key(check: Checker, key: str, value: Any, fields: dict[str, Any]) -> None:
    if key == "method":
        if value == "custom":
            check.add(
                "method",
                "method 'custom' needs W&B's cloud scheduler and is not supported by redsweep; "
                f"use one of: {', '.join(_METHODS)}",
            )
        elif isinstance(value, str) and value in _METHODS:
            fields["method"] = Method(value)
        else:
            check.add("method", bad_choice("method", value, _METHODS))
    elif key == "metric":
        metric = _metric(check, value)
        if metric is not None:
            fields["metric"] = metric
    elif key == "early_terminate":
        hyperband = _hyperband(check, value)
        if hyperband is not None:
            fields["early_terminate"] = hyperband
    elif key == "run_cap":
        if check.number(value, "run_cap", integer=True):
            if value <= 0:
                check.add("run_cap", f"must be a positive number of runs, got {value!r}")
            else:
                fields["run_cap"] = value
    elif key in _STRINGS and check.string(value, key):
        fields[key] = value


def _command(check: Checker, value: Any, fields: dict[str, Any], warnings: list[str]) -> None:
    """The argv template. As W&B's agent does, a number or boolean element becomes its text
    (``2`` -> ``"2"``), and an unknown ``${...}`` element expands to nothing (warned here)."""
    if not isinstance(value, list):
        check.add("command", f"expected a list of strings (the argv), got {value!r}")
        return
    argv: list[str] = []
    for i, item in enumerate(value):
        if isinstance(item, (Mapping, list)):
            check.add(f"command[{i}]", f"expected a string (one argv element), got {item!r}")
        else:
            argv.append(item if isinstance(item, str) else str(item))
    if len(argv) == len(value):
        fields["command"] = tuple(argv)
        for macro in unknown_macros(argv):
            warnings.append(
                f"command[{argv.index(macro)}]: {macro} is no macro W&B knows; it expands to "
                f"nothing (known: {', '.join('${' + m + '}' for m in sorted(MACROS))})"
            )


def _own_block(check: Checker, value: Any, fields: dict[str, Any]) -> None:
    """``redsweep: {trial_timeout: S, retries: N}``: redsweep's own settings, beside W&B's."""
    if not check.mapping(value, _OWN, "redsweep's own settings (trial_timeout, retries)"):
        return
    check.unknown_keys(value, _OWN, _OWN_KEYS)
    timeout = value.get("trial_timeout")
    path = f"{_OWN}.trial_timeout"
    if timeout is not None and check.number(timeout, path):
        if timeout <= 0:
            check.add(path, f"must be a positive number of seconds, got {timeout!r}")
        else:
            fields["trial_timeout"] = float(timeout)
    retries = value.get("retries")
    path = f"{_OWN}.retries"
    if retries is not None and check.number(retries, path, integer=True):
        if retries < 0:
            check.add(path, f"must be a whole number of retries, 0 or more, got {retries!r}")
        else:
            fields["retries"] = int(retries)


def _cross_checks(
    check: Checker,
    data: Mapping[str, Any],
    fields: dict[str, Any],
    params: list[Param],
    typo_of: set[str | None],
) -> None:
    # a misspelt required key is reported once, as the misspelling
    if "method" not in data and "method" not in typo_of:
        check.add("method", "missing 'method'; add method: grid, random or bayes")
    if "parameters" not in data and "parameters" not in typo_of:
        check.add("parameters", "missing 'parameters'; add at least one parameter to sweep")
    if data.get("method") == "bayes" and "metric" not in data:
        check.add(
            "metric",
            "bayes search needs a metric to optimize; add metric: {name: ..., goal: minimize}",
            line_of="method",
        )
    if "early_terminate" in data and "metric" not in data:
        check.add(
            "early_terminate",
            "early termination needs a metric to compare runs by; "
            "add metric: {name: ..., goal: ...}",
        )
    if (
        fields.get("method") is Method.BAYES
        and params
        and all(isinstance(p, Constant) for p in params)
    ):
        check.add(
            "parameters",
            "bayes search needs at least one parameter to search (a 'values' list or a "
            "min/max range); every parameter here is a constant",
        )
    name_clashes(check, params)
    if fields.get("method") is Method.GRID:
        for param in params:
            problem = grid_problem(param)
            if problem is not None:
                check.add(join("parameters", ".parameters.".join(param.path)), problem)


def _metric(check: Checker, value: Any) -> Metric | None:
    if not check.mapping(value, "metric", "a metric (name, goal...)"):
        return None
    before = len(check.problems)
    check.unknown_keys(value, "metric", _METRIC_KEYS)
    out: dict[str, Any] = {}
    if "name" not in value:
        check.add("metric.name", "missing: the name of the metric to optimize", line_of="metric")
    elif check.string(value["name"], "metric.name"):
        if value["name"]:
            out["name"] = value["name"]
        else:
            check.add("metric.name", "must not be empty")
    if "goal" in value:
        goal = value["goal"]
        if isinstance(goal, str) and goal in ("minimize", "maximize"):
            out["goal"] = Goal(goal)
        else:
            check.add("metric.goal", bad_choice("goal", goal, ("minimize", "maximize")))
    if "target" in value and check.number(value["target"], "metric.target"):
        out["target"] = float(value["target"])
    if "impute" in value:
        impute = value["impute"]
        if isinstance(impute, str) and impute in _IMPUTE:
            out["impute"] = Impute(impute)
        else:
            check.add("metric.impute", bad_choice("impute", impute, _IMPUTE))
    if "impute_while_running" in value:
        impute = value["impute_while_running"]
        if impute is False:  # YAML reads a bare `false` as a boolean
            impute = "false"
        if isinstance(impute, str) and impute in (*_IMPUTE, "false"):
            out["impute_while_running"] = Impute(impute)
        else:
            check.add(
                "metric.impute_while_running",
                bad_choice("impute_while_running", impute, (*_IMPUTE, "false")),
            )
    return Metric(**out) if len(check.problems) == before else None


def _hyperband(check: Checker, value: Any) -> Hyperband | None:
    if not check.mapping(value, "early_terminate", "early termination settings (type: hyperband)"):
        return None
    before = len(check.problems)
    check.unknown_keys(value, "early_terminate", _HYPERBAND_KEYS)
    if "type" not in value:
        check.add("early_terminate.type", "missing: type: hyperband", line_of="early_terminate")
    elif value["type"] != "hyperband":
        check.add(
            "early_terminate.type", bad_choice("early_terminate type", value["type"], ["hyperband"])
        )
    out: dict[str, Any] = {}
    for key, what in (("min_iter", "the first iteration to trim at"), ("max_iter", "the last")):
        if key in value and check.number(value[key], f"early_terminate.{key}", integer=True):
            if value[key] < 1:
                check.add(f"early_terminate.{key}", f"must be >= 1 ({what}), got {value[key]!r}")
            else:
                out[key] = value[key]
    if "s" in value and check.number(value["s"], "early_terminate.s", integer=True):
        if value["s"] < 1:
            check.add("early_terminate.s", f"must be >= 1 (how many brackets), got {value['s']!r}")
        else:
            out["s"] = value["s"]
    if "eta" in value and check.number(value["eta"], "early_terminate.eta"):
        if value["eta"] <= 1:
            check.add(
                "early_terminate.eta", f"must be > 1 (the trimming factor), got {value['eta']!r}"
            )
        else:
            out["eta"] = float(value["eta"])
    if "strict" in value:
        if isinstance(value["strict"], bool):
            out["strict"] = value["strict"]
        else:
            check.add("early_terminate.strict", f"expected true or false, got {value['strict']!r}")
    if "min_iter" in out and "max_iter" in out and out["min_iter"] > out["max_iter"]:
        check.add(
            "early_terminate.min_iter",
            f"min_iter {out['min_iter']} is above max_iter {out['max_iter']}; the first "
            "iteration to trim at must be <= the last (lower min_iter or raise max_iter)",
        )
    if "min_iter" not in value:
        if "max_iter" not in value:
            check.add(
                "early_terminate",
                "hyperband needs either min_iter, or max_iter and s",
            )
        elif "s" not in value:
            check.add(
                "early_terminate.s",
                "max_iter needs s (how many brackets to trim at)",
                line_of="early_terminate.max_iter",
            )
        elif "max_iter" in out and ("eta" in out or "eta" not in value):
            eta = out.get("eta", 3.0)
            if out["max_iter"] / eta < 1:
                check.add(
                    "early_terminate.max_iter",
                    f"max_iter {out['max_iter']} with eta {eta:g} leaves no bracket "
                    "(the first is at max_iter/eta); raise max_iter or lower eta",
                )
    return Hyperband(**out) if len(check.problems) == before else None
