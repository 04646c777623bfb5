"""Validation of a sweep config's ``parameters:`` block.

:func:`check_parameters` turns a
``parameters:`` mapping into :mod:`~redsweep.shared.engine.params` objects, inferring
distributions as
W&B does when ``distribution`` is absent and filling in every default.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from redsweep.shared.engine import params as P
from redsweep.shared.engine.config_checker import (
    Checker,
    bad_choice,
    did_you_mean,
    unknown_key,
    yaml11_string,
)
from redsweep.shared.engine.yaml_lines import join

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

#: keys a distribution cannot do without
_REQUIRED: dict[str, tuple[str, ...]] = {
    "constant": ("value",),
    "categorical": ("values",),
    "categorical_w_probabilities": ("values", "probabilities"),
    **{
        name: ("min", "max")
        for name in (
            "int_uniform", "uniform", "q_uniform", "log_uniform", "log_uniform_values",
            "q_log_uniform", "q_log_uniform_values", "inv_log_uniform", "inv_log_uniform_values",
        )
    },
}  # fmt: skip
_POSITIVE = {
    "sigma": "a standard deviation",
    "a": "a beta shape",
    "b": "a beta shape",
    "q": "the quantization step",
}


@functools.cache
def _all_keys() -> frozenset[str]:
    """Every key some distribution takes (for error messages only: it loads them all)."""
    return frozenset(k for cls in P.DISTRIBUTIONS.values() for k in P.param_keys(cls))


_GRID_OK = "grid search needs values, int_uniform, q_uniform or a constant value"


def check_parameters(
    check: Checker, block: Any, path: str, prefix: tuple[str, ...], warnings: list[str]
) -> list[P.Param]:
    """Validate a ``parameters:`` mapping at key path ``path``; return its leaf parameters."""
    if not check.mapping(block, path, "a mapping of parameter names to their settings"):
        return []
    if not block:
        check.add(path, "needs at least one parameter, e.g. lr: {min: 0.0001, max: 0.1}")
        return []
    out: list[P.Param] = []
    for name, spec in block.items():
        where = join(path, name)
        if not isinstance(name, str) or not NAME_RE.match(name):
            check.add(
                where,
                f"parameter name {name!r} must start with a letter or '_' and hold only "
                "letters, digits, '_', '.' and '-'",
            )
            continue
        if not check.mapping(spec, where, "a parameter's settings (value, values, min/max...)"):
            continue
        if "parameters" in spec:
            for key in spec:
                if key != "parameters":
                    check.add(
                        join(where, key),
                        f"a nested parameter block takes only 'parameters'; move {key!r} "
                        "into one of its parameters or remove it",
                    )
            out += check_parameters(
                check, spec["parameters"], join(where, "parameters"), (*prefix, name), warnings
            )
            continue
        param = _check_param(check, spec, where, (*prefix, name), warnings)
        if param is not None:
            out.append(param)
    return out


def _infer(check: Checker, spec: Mapping[str, Any], where: str) -> type[P.Param] | None:
    """The distribution W&B infers when ``distribution`` is absent."""
    if "value" in spec:
        return P.Constant
    if "values" in spec:
        return P.CategoricalProb if "probabilities" in spec else P.Categorical
    if "min" in spec or "max" in spec:
        bounds = [spec.get("min"), spec.get("max")]
        ints = all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
        return P.IntUniform if ints else P.Uniform
    unknown = [k for k in spec if k not in _all_keys() and k != "distribution"]
    for key in unknown:
        check.add(join(where, key), unknown_key(key, ["value", "values", "min", "max"]))
    if not unknown:
        check.add(
            where,
            "cannot tell the distribution: give 'value', 'values', 'min' and 'max', "
            "or a 'distribution'",
        )
    return None


def _check_param(
    check: Checker,
    spec: Mapping[str, Any],
    where: str,
    path: tuple[str, ...],
    warnings: list[str],
) -> P.Param | None:
    before = len(check.problems)
    if "distribution" in spec:
        name = spec["distribution"]
        cls = P.DISTRIBUTIONS.get(name) if isinstance(name, str) else None
        if cls is None:
            check.add(
                join(where, "distribution"), bad_choice("distribution", name, P.DISTRIBUTIONS)
            )
            return None
    else:
        cls = _infer(check, spec, where)
        if cls is None:
            return None
    dist = cls.distribution
    allowed = ("distribution", *P.param_keys(cls))
    for key in spec:
        if key in allowed:
            continue
        close = did_you_mean(key, allowed)
        if close is None and key in _all_keys():
            message = (
                f"{key!r} does not apply to a {dist} parameter (it takes: {', '.join(allowed)})"
            )
        else:
            message = unknown_key(key, allowed)
        check.add(join(where, key), message)
    for key in _REQUIRED.get(dist, ()):
        if key not in spec:
            check.add(join(where, key), f"a {dist} parameter needs {key!r}", line_of=where)
    kwargs = {k: v for k, v in spec.items() if k in allowed and k != "distribution"}
    _check_numbers(check, cls, kwargs, where)
    if "value" in kwargs:
        check.finite_values(kwargs["value"], join(where, "value"))
    if "probabilities" in kwargs:
        kwargs["probabilities"] = _check_probabilities(check, kwargs, where)
    if "values" in kwargs:
        kwargs["values"], slots = _check_values(
            check, kwargs["values"], join(where, "values"), warnings
        )
        if kwargs.get("probabilities") and len(kwargs["probabilities"]) == len(slots):
            merged = [0.0] * len(kwargs["values"])  # a dropped duplicate's chance goes to its twin
            for slot, p in zip(slots, kwargs["probabilities"], strict=True):
                merged[slot] += p
            kwargs["probabilities"] = tuple(merged)
    if len(check.problems) > before:
        return None
    if cls.replaced_by is not None:
        warnings.append(_deprecation(cls, kwargs, where))
    return cls(path=path, **kwargs)


def _check_numbers(check: Checker, cls: type[P.Param], kwargs: dict[str, Any], where: str) -> None:
    dist = cls.distribution
    ok: dict[str, bool] = {}
    for key in ("min", "max", "mu", "sigma", "a", "b", "q"):
        if key not in kwargs:
            continue
        value = kwargs[key]
        if cls is P.IntUniform and isinstance(value, float) and math.isfinite(value):
            check.add(
                join(where, key),
                f"int_uniform needs integer bounds, got {value!r}; write an integer "
                "or use distribution: uniform",
            )
            ok[key] = False
            continue
        ok[key] = check.number(value, join(where, key), integer=cls is P.IntUniform)
        if ok[key] and key in _POSITIVE and value <= 0:
            check.add(join(where, key), f"must be > 0 ({_POSITIVE[key]}), got {value!r}")
    lo, hi = kwargs.get("min"), kwargs.get("max")
    if ok.get("min") and ok.get("max") and lo >= hi:
        check.add(join(where, "min"), f"min {lo!r} must be less than max {hi!r}")
    if dist.endswith("_values"):
        for key in ("min", "max"):
            if ok.get(key) and kwargs[key] <= 0:
                check.add(
                    join(where, key),
                    f"{dist} takes the values themselves, which must be > 0; got {key} "
                    f"{kwargs[key]!r}",
                )


def _check_values(
    check: Checker, values: Any, where: str, warnings: list[str]
) -> tuple[tuple[Any, ...], list[int]]:
    """The values, each once (W&B's engine collapses duplicates; a warning says which go),
    and for each value given, the position of the one kept for it."""
    if not isinstance(values, list):
        check.add(where, f"expected a list of values, got {values!r}")
        return (), []
    if not values:
        check.add(where, "needs at least one value; use 'value' for a constant")
        return (), []
    first: dict[Any, int] = {}
    kept: list[Any] = []
    slots: list[int] = []
    strings: list[str] = []
    for i, value in enumerate(values):
        check.finite_values(value, f"{where}[{i}]")
        key = P.canonical(value)
        if key not in first and yaml11_string(value) is not None:
            strings.append(value)
        if key in first:
            j = first[key]
            slots.append(slots[j])
            warnings.append(
                f"{where}[{i}]: duplicate value {value!r} (same as {values[j]!r} at position "
                f"{j}) is dropped; each value is tried once"
            )
        else:
            first[key] = i
            slots.append(len(kept))
            kept.append(value)
    if strings:
        fixed = ", ".join(str(yaml11_string(v)) for v in strings)
        warnings.append(
            f"{where}: {', '.join(strings)} {'are strings' if len(strings) > 1 else 'is a string'}"
            f": YAML 1.1 reads a number with no dot before the exponent as text, so trials get "
            f"the string; write {fixed} for numbers"
        )
    return tuple(kept), slots


def _check_probabilities(check: Checker, kwargs: dict[str, Any], where: str) -> tuple[float, ...]:
    probs = kwargs["probabilities"]
    where = join(where, "probabilities")
    if not isinstance(probs, list):
        check.add(where, f"expected a list of probabilities, got {probs!r}")
        return ()
    before = len(check.problems)
    for i, p in enumerate(probs):
        if check.number(p, f"{where}[{i}]") and p < 0:
            check.add(f"{where}[{i}]", f"probabilities must be >= 0, got {p!r}")
    if len(check.problems) > before:
        return ()
    values = kwargs.get("values")
    if isinstance(values, (list, tuple)) and values and len(probs) != len(values):
        check.add(
            where,
            f"must have the same length as `values`: {len(probs)} probabilities for "
            f"{len(values)} values",
        )
    elif abs(sum(probs) - 1.0) > 1e-6:
        check.add(where, f"probabilities must sum to 1, but {probs!r} sum to {sum(probs):.6g}")
    return tuple(float(p) for p in probs)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def _deprecation(cls: type[P.Param], kwargs: Mapping[str, Any], where: str) -> str:
    lo, hi = kwargs["min"], kwargs["max"]
    if cls.distribution.startswith("inv"):
        low, high = _exp(-hi), _exp(-lo)
    else:
        low, high = _exp(lo), _exp(hi)
    return (
        f"{where}: {cls.distribution!r} takes natural-log exponents as min/max and is "
        f"deprecated; use {cls.replaced_by!r} with min/max as the values themselves "
        f"(these bounds give values from {low:.4g} to {high:.4g})"
    )


def name_clashes(check: Checker, params: Iterable[P.Param]) -> None:
    """A problem for each parameter whose dotted name is also a nested parameter's
    (``a.b`` beside ``a: {parameters: {b: ...}}``): a trial would get both."""
    seen: dict[str, P.Param] = {}
    for param in sorted(params, key=lambda p: len(p.path)):
        first = seen.setdefault(param.name, param)
        if first is not param:
            here, there = (_key_path(p) for p in (param, first))
            top = param.path[0]
            check.add(
                here,
                f"parameter {param.name!r} is given twice, as {there} and as {here}; a trial "
                f"would get both --{first.path[0]}=... and --{top}={{...}}; rename or remove one",
            )


def _key_path(param: P.Param) -> str:
    return join("parameters", ".parameters.".join(param.path))


def grid_problem(param: P.Param) -> str | None:
    """Why grid search cannot walk ``param``, or ``None`` when it can."""
    if isinstance(param, P.CategoricalProb):
        return (
            f"grid search cannot walk {param.name!r}: it is categorical_w_probabilities, and a "
            f"grid takes every value once, so probabilities do not apply; {_GRID_OK}"
        )
    if param.continuous and param.grid_values() is None:
        return (
            f"grid search cannot walk {param.name!r}: it is {param.distribution} (continuous); "
            f"{_GRID_OK}"
        )
    return None
