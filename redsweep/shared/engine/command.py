"""W&B's command macros: a sweep's ``command:`` list and a trial's params -> an argv list.

Expansion follows W&B's agent (``wandb/wandb_agent.py`` and ``create_sweep_command_args``):

* ``${envvar:NAME}`` is replaced anywhere inside an element first (``NAME`` is upper-case
  letters, digits and ``_``); an unset variable leaves the bare ``NAME``, as in W&B, with a
  warning in the plan.
* Then an element that starts with ``${`` and ends with ``}`` is a macro and is replaced by zero
  or more argv elements; an unknown macro expands to nothing, as in W&B (see
  :func:`unknown_macros` to warn about them).
* ``${interpreter}`` is the agent's own Python (W&B runs plain ``python``).

Values render as ``f"{value}"``, like W&B: ``True``, ``1e-05``, ``{'lr': 0.1}`` for a nested
parameter (passed under its top-level name), ``None``. The result is an argv list for
``subprocess`` without a shell, so a value with spaces or quotes stays one element.

:func:`render_command` is pure; :func:`command_argv` also writes the ``${args_json_file}`` file.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from redsweep.errors import ConfigError, ConfigProblem
from redsweep.shared.records import SweepConfig

DEFAULT_COMMAND: tuple[str, ...] = ("${env}", "${interpreter}", "${program}", "${args}")

MACROS = frozenset(
    {
        "env",
        "interpreter",
        "program",
        "args",
        "args_no_hyphens",
        "args_no_boolean_flags",
        "args_no_equals",
        "args_json",
        "args_json_file",
        "args_append_hydra",
        "args_override_hydra",
    }
)

_ENVVAR = re.compile(r"\$\{envvar:([A-Z0-9_]*)\}")


@dataclass(frozen=True)
class CommandPlan:
    """What to run for one trial: ``argv``, and ``files`` (path -> text) to write first."""

    argv: tuple[str, ...]
    files: Mapping[str, str] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


def args_json_path(agent_dir: str | os.PathLike[str], sweep_id: str, run_id: str) -> str:
    """Where ``${args_json_file}`` lives: ``<agent_dir>/sweep-<sweep>/config-<run>.json``.

    The layout mirrors W&B's ``wandb/sweep-<sweep>/config-<run>.json``.
    """
    return os.path.join(os.fspath(agent_dir), f"sweep-{sweep_id}", f"config-{run_id}.json")


def _macro_name(element: str) -> str | None:
    return element[2:-1] if element.startswith("${") and element.endswith("}") else None


def unknown_macros(command: Sequence[Any]) -> list[str]:
    """The ``${...}`` elements of ``command`` that are no macro (W&B drops them silently)."""
    out = []
    for element in command:
        text = str(element)
        name = _macro_name(text)
        if name is not None and name not in MACROS and not _ENVVAR.fullmatch(text):
            out.append(text)
    return out


def unset_envvars(command: Sequence[Any], env: Mapping[str, str]) -> list[str]:
    """Warnings for each ``${envvar:NAME}`` in ``command`` that ``env`` does not set."""
    out = []
    for index, element in enumerate(command):
        for name in _ENVVAR.findall(str(element)):
            if name not in env:
                out.append(
                    f"command[{index}]: environment variable {name} is not set; the argument "
                    f"gets the bare name {name!r} (as on W&B)"
                )
    return out


def _substitute_envvars(element: str, env: Mapping[str, str]) -> str:
    return _ENVVAR.sub(lambda m: env.get(m.group(1), m.group(1)), element)


def _arg_lists(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """Every params-derived list macro, one entry per top-level parameter."""
    lists: dict[str, list[str]] = {
        "args": [],
        "args_no_hyphens": [],
        "args_no_boolean_flags": [],
        "args_no_equals": [],
        "args_append_hydra": [],
        "args_override_hydra": [],
    }
    for name, value in params.items():
        flag = f"{name}={value}"
        lists["args"].append(f"--{flag}")
        lists["args_no_hyphens"].append(flag)
        lists["args_append_hydra"].append(f"+{flag}")
        lists["args_override_hydra"].append(f"++{flag}")
        lists["args_no_equals"] += [f"--{name}", str(value)]
        if isinstance(value, bool):
            if value:  # a false boolean flag is left out
                lists["args_no_boolean_flags"].append(f"--{name}")
        else:
            lists["args_no_boolean_flags"].append(f"--{flag}")
    return lists


def render_command(
    config: SweepConfig,
    params: Mapping[str, Any],
    *,
    sweep_id: str,
    run_id: str,
    agent_dir: str | os.PathLike[str],
    env: Mapping[str, str],
    interpreter: str,
) -> CommandPlan:
    """The argv for a command-mode trial with ``params`` (top-level names, nested as dicts).

    Pure: reads nothing, writes nothing; the plan's ``files`` say what to write before running.
    Raises :class:`~redsweep.errors.ConfigError` for ``${program}`` without ``program``.
    """
    command = [str(c) for c in config.command] if config.command else list(DEFAULT_COMMAND)
    unset = unset_envvars(command, env)
    command = [_substitute_envvars(c, env) for c in command]

    values = _arg_lists(params)
    values["env"] = [] if os.name == "nt" else ["/usr/bin/env"]
    values["interpreter"] = [interpreter]
    files: dict[str, str] = {}
    if "${args_json}" in command or "${args_json_file}" in command:
        # json.dumps defaults, as W&B: '{"lr": 1e-05, "deep": {"a": true}}'
        values["args_json"] = [json.dumps(dict(params))]
    if "${args_json_file}" in command:
        path = args_json_path(agent_dir, sweep_id, run_id)
        files[path] = values["args_json"][0]
        values["args_json_file"] = [path]
    if "${program}" in command:
        if config.program is None:
            raise ConfigError(
                [ConfigProblem("program", "the command uses ${program} but no program is set")]
            )
        values["program"] = [config.program]

    argv: list[str] = []
    for element in command:
        name = _macro_name(element)
        if name is None:
            argv.append(element)
        else:
            argv += values.get(name, [])
    return CommandPlan(tuple(argv), MappingProxyType(files), tuple(unset))


def command_argv(
    config: SweepConfig,
    params: Mapping[str, Any],
    *,
    sweep_id: str,
    run_id: str,
    agent_dir: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    interpreter: str | None = None,
) -> list[str]:
    """:func:`render_command`, then write its files (creating directories) and its warnings
    (to stderr, the agent's terminal); returns the argv.

    ``env`` defaults to ``os.environ``, ``interpreter`` to this process's Python.
    """
    plan = render_command(
        config,
        params,
        sweep_id=sweep_id,
        run_id=run_id,
        agent_dir=agent_dir,
        env=os.environ if env is None else env,
        interpreter=sys.executable if interpreter is None else interpreter,
    )
    for warning in plan.warnings:
        print(f"redsweep: warning: {warning}", file=sys.stderr, flush=True)
    os.makedirs(agent_dir, exist_ok=True)
    for path, text in plan.files.items():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return list(plan.argv)
