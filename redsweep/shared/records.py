"""Frozen records passed between redsweep's parts. A leaf module: it imports nothing of ours.

Configs are validated once at the boundary (:mod:`redsweep.shared.engine.config`) into these
records;
everything after that trusts them.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the classes live in params.py; records stays a leaf at run time
    from redsweep.shared.engine.params import Param


class Method(str, enum.Enum):
    GRID = "grid"
    RANDOM = "random"
    BAYES = "bayes"


class Goal(str, enum.Enum):
    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Impute(str, enum.Enum):
    LATEST = "latest"
    BEST = "best"
    WORST = "worst"
    FALSE = "false"  # only for impute_while_running: running runs are not imputed


class RunState(str, enum.Enum):
    """The state of a run (a trial). ``pending`` is a run suggested but not yet claimed."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"
    KILLED = "killed"
    STOPPED = "stopped"
    PREEMPTING = "preempting"
    PREEMPTED = "preempted"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def is_alive(self) -> bool:
        """Running or about to run: counts against a grid and a run cap, has no result yet."""
        return self in (RunState.PENDING, RunState.RUNNING, RunState.PREEMPTING)


TERMINAL_STATES = frozenset(
    {RunState.FINISHED, RunState.FAILED, RunState.CRASHED, RunState.KILLED, RunState.STOPPED}
)

# The store's trial states are the run states; "queued" on the wire is RunState.PENDING.


class SweepState(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    CANCELED = "canceled"

    @property
    def is_over(self) -> bool:
        """Finished or canceled: no trial of the sweep starts (until it is resumed)."""
        return self in (SweepState.FINISHED, SweepState.CANCELED)


@dataclass(frozen=True)
class Metric:
    """``metric:`` of a sweep config, defaults filled in."""

    name: str
    goal: Goal = Goal.MINIMIZE
    target: float | None = None
    impute: Impute = Impute.WORST
    impute_while_running: Impute = Impute.FALSE

    def better(self, a: float, b: float) -> bool:
        """True when value ``a`` is strictly better than ``b`` for this goal."""
        return a < b if self.goal is Goal.MINIMIZE else a > b

    def reached_target(self, value: float) -> bool:
        if self.target is None:
            return False
        return value <= self.target if self.goal is Goal.MINIMIZE else value >= self.target

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "goal": self.goal.value}
        if self.target is not None:
            out["target"] = self.target
        out["impute"] = self.impute.value
        out["impute_while_running"] = self.impute_while_running.value
        return out


@dataclass(frozen=True)
class Hyperband:
    """``early_terminate:`` with ``type: hyperband``, defaults filled in."""

    min_iter: int | None = None
    max_iter: int | None = None
    s: float | None = None
    eta: float = 3.0
    strict: bool = True

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "hyperband"}
        for key in ("min_iter", "max_iter", "s"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        out["eta"] = self.eta
        out["strict"] = self.strict
        return out


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep config.

    ``params`` holds one :class:`~redsweep.shared.engine.params.Param` per leaf parameter, flattened
    and in sorted path order (the grid's order). ``raw`` is the config as the user wrote it, for
    storing and showing; ``warnings`` lists deprecations found while loading.
    ``trial_timeout`` (seconds) and ``retries`` (how often a crashed trial runs again; None:
    the controller's default) are redsweep's own keys, ``redsweep: {trial_timeout: S,
    retries: N}``.
    """

    method: Method
    params: tuple[Param, ...]
    metric: Metric | None = None
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    command: tuple[str, ...] | None = None
    program: str | None = None
    name: str | None = None
    description: str | None = None
    project: str | None = None
    trial_timeout: float | None = None
    retries: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    warnings: tuple[str, ...] = ()

    @property
    def parameters(self) -> dict[str, Any]:
        """Every parameter with its distribution and defaults filled in, nested as written."""
        out: dict[str, Any] = {}
        for param in self.params:
            node = out
            for part in param.path[:-1]:
                node = node.setdefault(part, {"parameters": {}})["parameters"]
            node[param.path[-1]] = param.to_dict()
        return out

    def to_dict(self) -> dict[str, Any]:
        """The filled-in config as a plain dict (what ``redsweep validate`` shows)."""
        out: dict[str, Any] = {"method": self.method.value}
        if self.metric is not None:
            out["metric"] = self.metric.to_dict()
        if self.early_terminate is not None:
            out["early_terminate"] = self.early_terminate.to_dict()
        for key in ("run_cap", "program", "name", "description", "project"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.command is not None:
            out["command"] = list(self.command)
        own = {"trial_timeout": self.trial_timeout, "retries": self.retries}
        own = {k: v for k, v in own.items() if v is not None}
        if own:
            out["redsweep"] = own
        out["parameters"] = self.parameters
        return out


def _as_state(value: RunState | str) -> RunState:
    try:
        return RunState(value)
    except ValueError:
        allowed = ", ".join(s.value for s in RunState)
        raise ValueError(f"run state {value!r} is not one of: {allowed}") from None


@dataclass(frozen=True)
class RunRecord:
    """A run as the engines see it: params as plain (nested) values, its metric history and
    summary. ``history`` is a sequence of logged rows (dicts), oldest first."""

    id: str
    state: RunState | str
    params: Mapping[str, Any]
    history: tuple[Mapping[str, Any], ...] = ()
    summary: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "state", _as_state(self.state))
        object.__setattr__(self, "history", tuple(self.history))

    def metric_values(self, name: str) -> list[float]:
        """The finite numeric values of metric ``name`` in the history, in order."""
        # the engines call this for every run at every suggestion: plain rows take a fast path
        out: list[float] = []
        isfinite = math.isfinite
        for row in self.history:
            if type(row) is dict:
                value = row.get(name)
            else:
                value = row.get(name) if isinstance(row, Mapping) else None
            kind = type(value)
            if kind is float:
                if isfinite(value):
                    out.append(value)
            elif value is not None and kind is not str and is_finite_number(value):
                out.append(float(value))
        return out


def is_finite_number(value: Any) -> bool:
    """A real number that is finite: not a bool, not NaN or infinite (what counts as a metric
    value)."""
    kind = type(value)
    if kind is float:
        return math.isfinite(value)
    if kind is int:
        return True
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---- wire records (encoded by redsweep.shared.protocol) ------------------------------------


@dataclass(frozen=True)
class TrialMessage:
    """A trial queue entry: which trial of which sweep, at which attempt."""

    sweep_id: str
    trial_id: str
    attempt: int
