"""A run's summary, W&B style: each key's last logged value, what the script set itself
(``run.summary["best"] = ...``), and what ``define_metric`` asked for (``summary="min"``:
``{"loss": {"min": 0.1}}``; ``step_metric``: the row gets that metric's last value too)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping, MutableMapping

from redsweep.errors import RedsweepError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: What ``define_metric(summary=...)`` may name (comma-separated).
SUMMARY_OPS = ("min", "max", "mean", "last", "first", "best", "copy", "none")
GOALS = {"minimize": "minimize", "maximize": "maximize", "min": "minimize", "max": "maximize"}


class Summary(MutableMapping[str, "Any"]):  # quoted: no typing at run time
    """The run's summary as a dict; keys set here (not by ``log``) are sent to the store when
    the run ends (:meth:`overrides`)."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}
        self._set: set[str] = set()
        self._lock = threading.Lock()

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._set.add(key)

    def __delitem__(self, key: str) -> None:
        with self._lock:
            del self._data[key]
            self._set.discard(key)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"summary has no key {name!r}") from None

    def logged(self, row: Mapping[str, Any]) -> None:
        """Take in a logged row (not an override)."""
        with self._lock:
            self._data.update(row)

    def overrides(self) -> dict[str, Any]:
        """The keys set by the script or by define_metric, with their values."""
        with self._lock:
            return {k: self._data[k] for k in self._set if k in self._data}

    def as_dict(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data)

    def __repr__(self) -> str:
        return f"Summary({self._data!r})"


class MetricDef:
    """One ``define_metric`` call (``name`` may end in ``*``). (Plain classes here: the
    dataclasses module costs a command trial's start.)"""

    def __init__(
        self,
        name: str,
        step_metric: str | None = None,
        ops: tuple[str, ...] = (),
        goal: str | None = None,
        hidden: bool = False,
        step_sync: bool = True,
    ) -> None:
        self.name = name
        self.step_metric = step_metric
        self.ops = ops
        self.goal = goal
        self.hidden = hidden
        self.step_sync = step_sync

    def __repr__(self) -> str:
        return f"MetricDef({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MetricDef) and vars(self) == vars(other)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was


class _Agg:
    __slots__ = ("count", "first", "high", "low", "total")

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.low = math.inf
        self.high = -math.inf
        self.first: float | None = None


class Metrics:
    """The run's ``define_metric`` definitions, applied to each logged row."""

    def __init__(self) -> None:
        self._defs: dict[str, MetricDef] = {}
        self._aggs: dict[str, _Agg] = {}
        self._last: dict[str, Any] = {}  # each key's last logged value (for step metrics)
        self._lock = threading.Lock()

    def define(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> MetricDef:
        if not isinstance(name, str) or not name:
            raise RedsweepError(f"define_metric() needs a metric name, got {name!r}")
        ops: tuple[str, ...] = ()
        if summary:
            ops = tuple(op.strip().lower() for op in summary.split(",") if op.strip())
            bad = [op for op in ops if op not in SUMMARY_OPS]
            if bad:
                raise RedsweepError(
                    f"define_metric({name!r}, summary={summary!r}): unknown {bad[0]!r}; "
                    f"use {', '.join(SUMMARY_OPS)}"
                )
        if goal is not None and goal not in GOALS:
            raise RedsweepError(
                f"define_metric({name!r}, goal={goal!r}): use 'minimize' or 'maximize'"
            )
        if "best" in ops and goal is None:
            raise RedsweepError(f"define_metric({name!r}, summary='best') needs a goal")
        definition = MetricDef(
            name,
            step_metric=step_metric,
            ops=ops,
            goal=GOALS.get(goal or ""),
            hidden=bool(hidden),
            step_sync=True if step_sync is None else bool(step_sync),
        )
        with self._lock:
            old = self._defs.get(name)
            if old is not None and overwrite is False:
                return old
            self._defs[name] = definition
        return definition

    def _find(self, key: str) -> MetricDef | None:
        found = self._defs.get(key)
        if found is not None:
            return found
        for pattern, definition in self._defs.items():
            if "*" in pattern:
                from fnmatch import fnmatchcase  # not at import: it imports re

                if fnmatchcase(key, pattern):
                    return definition
        return None

    def apply(self, row: dict[str, Any], summary: Summary) -> None:
        """Add step metrics to ``row`` where asked, take the row into ``summary`` (each key's
        last value), then what the definitions ask for in place of the last value."""
        if not self._defs:
            summary.logged(row)
            return
        with self._lock:
            extra = {}
            for key in row:
                definition = self._find(key)
                if definition is None or not definition.step_metric:
                    continue
                step_key = definition.step_metric
                if definition.step_sync and step_key not in row and step_key in self._last:
                    extra[step_key] = self._last[step_key]
            row.update(extra)
            self._last.update(row)
            summary.logged(row)
            for key, value in row.items():
                definition = self._find(key)
                if definition is not None:
                    self._summarize(key, value, definition, summary)

    def _summarize(self, key: str, value: Any, definition: MetricDef, summary: Summary) -> None:
        if definition.hidden or "none" in definition.ops:
            if key in summary:
                del summary[key]
            return
        if not definition.ops:
            return
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        agg = self._aggs.setdefault(key, _Agg())
        if number and math.isfinite(value):
            agg.count += 1
            agg.total += value
            agg.low = min(agg.low, value)
            agg.high = max(agg.high, value)
            if agg.first is None:
                agg.first = value
        out: dict[str, Any] = {}
        for op in definition.ops:
            if op in ("last", "copy"):
                out["last"] = value
            elif not agg.count:
                continue
            elif op == "min":
                out["min"] = agg.low
            elif op == "max":
                out["max"] = agg.high
            elif op == "mean":
                out["mean"] = agg.total / agg.count
            elif op == "first":
                out["first"] = agg.first
            elif op == "best":
                out["best"] = agg.high if definition.goal == "maximize" else agg.low
        if definition.ops == ("last",) or definition.ops == ("copy",):
            summary[key] = value
        elif out:
            summary[key] = out
