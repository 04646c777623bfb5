"""The problem collector every part of a config check uses, and the wording of its problems.

:class:`Checker` collects :class:`~redsweep.errors.ConfigProblem` s (key path, message, YAML
line) and holds the typed checks shared by every section; the functions here word the usual
problems (an unknown key or choice, with a did-you-mean by edit distance; a number YAML 1.1
read as a string).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from redsweep.errors import ConfigProblem
from redsweep.shared.engine import params as P
from redsweep.shared.engine.yaml_lines import join

_SCI_RE = re.compile(r"\s*([-+]?(?:\d+\.?\d*|\.\d+))[eE]([-+]?\d+)\s*")


def edit_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) that turn ``a`` into ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


def did_you_mean(word: Any, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to ``word`` by edit distance, when close enough to be a typo
    (ties go to the one of ``word``'s length: ``valuse`` -> ``values``, not ``value``)."""
    text = str(word).lower()
    best: tuple[int, int, str] | None = None
    for choice in choices:
        distance = edit_distance(text, choice.lower())
        if distance > max(1, min(len(text), len(choice)) // 3):
            continue
        rank = (distance, abs(len(choice) - len(text)), choice)
        if best is None or rank < best:
            best = rank
    return best[2] if best else None


def unknown_key(key: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = did_you_mean(key, allowed)
    hint = f"did you mean {close!r}?" if close else f"allowed keys: {', '.join(allowed)}"
    return f"unknown key {key!r}; {hint}"


def bad_choice(what: str, value: Any, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = did_you_mean(value, allowed) if isinstance(value, str) else None
    if what == "distribution" and isinstance(value, str):
        close = _spelt_without_underscores(value) or close
    hint = f"did you mean {close!r}? " if close else ""
    return f"unknown {what} {value!r}; {hint}expected one of: {', '.join(allowed)}"


def not_a_number(value: Any, expected: str) -> str:
    if isinstance(value, bool):
        return f"expected {expected}, got the boolean {str(value).lower()}"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return f"expected {expected}, got the string {value!r}"
        if not math.isfinite(number):
            return f"expected a finite number, got {value!r}"
        m = _SCI_RE.fullmatch(value)
        if m and "." not in m.group(1):
            fixed = f"{m.group(1)}.0e{m.group(2)}"
            return (
                f"expected {expected}, got the string {value!r}: YAML 1.1 reads {value} "
                f"(no dot before the exponent) as a string; write {fixed}"
            )
        return f"expected {expected}, got the string {value!r}; write it without quotes"
    return f"expected {expected}, got {value!r} ({type(value).__name__})"


def _spelt_without_underscores(value: str) -> str | None:
    """``loguniform`` -> ``log_uniform_values``: the distribution a name means once its
    underscores are dropped, by the name W&B recommends (the values themselves as min/max)."""
    flat = value.replace("_", "").replace("-", "").lower()
    for name, cls in P.DISTRIBUTIONS.items():
        if name.replace("_", "") == flat:
            return cls.replaced_by or name
    return None


def yaml11_string(value: Any) -> str | None:
    """For a string YAML 1.1 left unread as a number (``1e-4``: no dot before the exponent),
    the number it was meant to be, written so YAML reads it (``1.0e-4``); else ``None``."""
    if not isinstance(value, str):
        return None
    m = _SCI_RE.fullmatch(value)
    if m is None or "." in m.group(1):
        return None
    return f"{m.group(1)}.0e{m.group(2)}"


class Checker:
    """Collects problems; each carries the line of its key path (or the nearest parent's)."""

    def __init__(self, lines: Mapping[str, int] | None = None) -> None:
        self.lines = dict(lines or {})
        self.problems: list[ConfigProblem] = []

    def line(self, path: str) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None

    def add(self, path: str, message: str, *, line_of: str | None = None) -> None:
        self.problems.append(ConfigProblem(path, message, self.line(line_of or path)))

    def unknown_keys(self, value: Mapping[str, Any], where: str, allowed: Iterable[str]) -> None:
        """A problem for each key of ``value`` (at ``where``) that is not in ``allowed``."""
        allowed = list(allowed)
        for key in value:
            if key not in allowed:
                self.add(join(where, key), unknown_key(key, allowed))

    def number(self, value: Any, path: str, *, integer: bool = False) -> bool:
        """True for a finite int/float (an int when ``integer``); else records why not."""
        expected = "an integer" if integer else "a number"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(path, not_a_number(value, expected))
            return False
        if not math.isfinite(value):
            self.add(path, f"expected a finite number, got {value!r}")
            return False
        if integer and not isinstance(value, int):
            self.add(path, f"expected an integer, got {value!r}")
            return False
        return True

    def string(self, value: Any, path: str) -> bool:
        if isinstance(value, str):
            return True
        self.add(path, f"expected a string, got {value!r} ({type(value).__name__})")
        return False

    def mapping(self, value: Any, path: str, what: str) -> bool:
        if isinstance(value, Mapping):
            return True
        self.add(path, f"expected {what} (a mapping of keys), got {value!r}")
        return False

    def finite_values(self, value: Any, path: str) -> None:
        """Refuse nan/inf inside a parameter value (they cannot be stored or compared)."""
        if isinstance(value, float) and not math.isfinite(value):
            self.add(path, f"non-finite number {value!r} is not allowed as a parameter value")
        elif isinstance(value, Mapping):
            for k, v in value.items():
                self.finite_values(v, join(path, k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                self.finite_values(v, f"{path}[{i}]")
