"""Read a sweep config file's text into plain data, remembering where each key was written.

YAML goes through a :class:`yaml.SafeLoader` subclass that records the line of every key path
(``parameters.lr.min`` -> 7) and reports duplicate keys, which plain YAML silently collapses to
the last one. JSON goes through :mod:`json`, whose duplicate keys are caught with an
``object_pairs_hook``. Syntax errors become one problem with the line. Pure: text in, data out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from redsweep.errors import ConfigProblem

_MERGE_TAG = "tag:yaml.org,2002:merge"


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


class LineLoader(yaml.SafeLoader):
    """A SafeLoader that records the line of every key path and refuses duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[str, int] = {}
        self.problems: list[ConfigProblem] = []

    def load_document(self) -> Any:
        """Compose the single document, walk its nodes for lines and duplicates, construct it."""
        node = self.get_single_node()
        if node is None:
            return None
        self._walk(node, "", set())
        return self.construct_document(node)

    def _walk(self, node: Node, path: str, active: set[int]) -> None:
        if id(node) in active:  # a recursive alias; construction deals with it
            return
        active = active | {id(node)}
        if isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                self.lines[f"{path}[{i}]"] = item.start_mark.line + 1
                self._walk(item, f"{path}[{i}]", active)
            return
        if not isinstance(node, MappingNode):
            return
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG or not isinstance(key_node, ScalarNode):
                continue  # `<<: *base` may be overridden on purpose; complex keys are rare
            key = self.construct_object(key_node)
            line = key_node.start_mark.line + 1
            key_path = join(path, key)
            try:
                seen = first.get(key)
            except TypeError:  # unhashable key; the constructor reports it
                continue
            if seen is not None:
                self.problems.append(
                    ConfigProblem(
                        key_path,
                        f"duplicate key {key!r} (first at line {seen}); "
                        "YAML would silently keep only the last one, so remove one of them",
                        line,
                    )
                )
            else:
                first[key] = line
            # YAML keeps the last of duplicate keys, so the last one's lines win
            self.lines[key_path] = line
            self._walk(value_node, key_path, active)


def load_yaml(text: str) -> Loaded:
    """Parse YAML text; a syntax error is one problem carrying its line."""
    loader = LineLoader(text)
    try:
        data = loader.load_document()
    except yaml.YAMLError as exc:
        return Loaded(None, problems=[_yaml_syntax_problem(exc)])
    finally:
        loader.dispose()
    return Loaded(data, loader.lines, loader.problems)


def _yaml_syntax_problem(exc: yaml.YAMLError) -> ConfigProblem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark is not None else None
    what = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    detail = f"{context}, {what}" if context else what
    return ConfigProblem("", f"not valid YAML: {detail}", line)


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
