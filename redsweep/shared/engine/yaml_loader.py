"""The YAML half of :mod:`redsweep.shared.engine.yaml_lines`: a SafeLoader that records the
line of every key path and refuses duplicate keys (PyYAML is imported only when a YAML file is
read)."""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from redsweep.errors import ConfigProblem
from redsweep.shared.engine.yaml_lines import Loaded, join

_MERGE_TAG = "tag:yaml.org,2002:merge"


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
