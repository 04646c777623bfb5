"""Read a sweep config file's text into plain data, remembering where each key was written.

YAML goes through a :class:`yaml.SafeLoader` subclass (:mod:`.yaml_loader`, imported only
when a YAML file is read) that records the line of every key path (``parameters.lr.min`` -> 7)
and reports duplicate keys, which plain YAML silently collapses to
the last one. JSON goes through :mod:`json`, whose duplicate keys are caught with an
``object_pairs_hook``. Syntax errors become one problem with the line. Pure: text in, data out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from redsweep.errors import ConfigProblem


@dataclass
class Loaded:
    """What a file held: ``data`` (``None`` after a syntax error), the line of each key path,
    and the problems found while reading (a syntax error, duplicate keys)."""

    data: Any
    lines: dict[str, int] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)


def join(path: str, key: Any) -> str:
    """The key path of ``key`` inside ``path``: ``join('parameters', 'lr') == 'parameters.lr'``."""
    return f"{path}.{key}" if path else str(key)


def load_yaml(text: str) -> Loaded:
    """Parse YAML text; a syntax error is one problem carrying its line."""
    # PyYAML is imported only when a YAML file is read (a config given as a dict needs none)
    from redsweep.shared.engine.yaml_loader import load_yaml as load

    return load(text)


class _Pairs(dict):
    """A JSON object that remembers the keys it saw more than once."""

    duplicates: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> _Pairs:
    out = _Pairs()
    out.duplicates = []
    for key, value in pairs:
        if key in out:
            out.duplicates.append(key)
        out[key] = value
    return out


def load_json(text: str) -> Loaded:
    """Parse JSON text; a syntax error is one problem with its line, duplicate keys are
    problems too (JSON has no key lines here, so those carry the key path only)."""
    try:
        data = json.loads(text, object_pairs_hook=_pairs_hook)
    except json.JSONDecodeError as exc:
        return Loaded(None, problems=[ConfigProblem("", f"not valid JSON: {exc.msg}", exc.lineno)])
    problems: list[ConfigProblem] = []
    return Loaded(_plain_json(data, "", problems), problems=problems)


def _plain_json(value: Any, path: str, problems: list[ConfigProblem]) -> Any:
    if isinstance(value, _Pairs):
        for key in dict.fromkeys(value.duplicates):
            problems.append(
                ConfigProblem(
                    join(path, key),
                    f"duplicate key {key!r}; JSON would silently keep only the last one, "
                    "so remove one of them",
                )
            )
        return {k: _plain_json(v, join(path, k), problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_json(v, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    return value
