"""The rest of W&B's module-level calls for a training script: ``wandb.run``,
``wandb.summary``, ``define_metric``, ``join``, ``watch``/``unwatch``, ``save``/``restore``,
``alert``, artifacts, ``Settings``, ``termlog``..., each on the current run (see
:mod:`redsweep.worker.api.functions`). What has no meaning offline does nothing and says so
once."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from redsweep.errors import RedsweepError
from redsweep.worker.api import notices
from redsweep.worker.api.functions import _current, finish
from redsweep.worker.api.notices import termerror, termlog, termwarn

__all__ = [
    "AlertLevel",
    "Error",
    "Settings",
    "alert",
    "define_metric",
    "join",
    "link_artifact",
    "log_artifact",
    "log_code",
    "log_model",
    "mark_preempting",
    "restore",
    "save",
    "setup",
    "summary",
    "teardown",
    "termerror",
    "termlog",
    "termwarn",
    "unwatch",
    "use_artifact",
    "use_model",
    "watch",
]

Error = RedsweepError


def _run(call: str) -> Any:
    run = _current(auto=True)
    if run is None:
        raise RedsweepError(f"call redsweep.init() before redsweep.{call}()")
    return run


class _SummaryProxy(MutableMapping[str, Any]):
    """``wandb.summary``: the current run's summary."""

    def _target(self) -> MutableMapping[str, Any]:
        return _run("summary").summary

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._target(), name)

    def __repr__(self) -> str:
        run = _current(auto=False)
        return repr(run.summary) if run is not None else "Summary(no run)"


summary = _SummaryProxy()


def define_metric(name: str, *args: Any, **kwargs: Any) -> Any:
    """W&B's ``define_metric`` on the current run (see :meth:`Run.define_metric`)."""
    return _run("define_metric").define_metric(name, *args, **kwargs)


def join(exit_code: int | None = None) -> None:
    """W&B's old name for :func:`finish`."""
    finish(exit_code=exit_code)


def save(glob_str: str | None = None, base_path: str | None = None, policy: str = "live") -> Any:
    """Copy files into the current run's files folder (see :meth:`Run.save`)."""
    return _run("save").save(glob_str, base_path, policy)


def restore(
    name: str, run_path: str | None = None, replace: bool = False, root: str | None = None
) -> Any:
    """A file a run saved, copied into ``root`` and opened (see :meth:`Run.restore`)."""
    return _run("restore").restore(name, run_path, replace, root)


def watch(models: Any = None, *args: Any, **kwargs: Any) -> None:
    """Gradients and parameters are not logged here (says so once)."""
    notices.noop("watch()", "gradients and parameters are not logged")


def unwatch(models: Any = None) -> None:
    pass


class AlertLevel:
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


def alert(title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
    """Printed on stderr (no Slack or email here)."""
    _run("alert").alert(title, text, level, wait_duration)


def log_artifact(artifact_or_path: Any, *args: Any, **kwargs: Any) -> Any:
    return _run("log_artifact").log_artifact(artifact_or_path, *args, **kwargs)


def use_artifact(artifact_or_name: Any, *args: Any, **kwargs: Any) -> Any:
    return _run("use_artifact").use_artifact(artifact_or_name, *args, **kwargs)


def log_model(path: Any, name: str | None = None, aliases: Any = None) -> Any:
    return _run("log_model").log_model(path, name, aliases)


def use_model(name: str) -> str:
    return _run("use_model").use_model(name)


def link_artifact(*args: Any, **kwargs: Any) -> None:
    notices.noop("link_artifact()", "no model registry here")


def log_code(root: str | None = ".", name: str | None = None, **kwargs: Any) -> None:
    _run("log_code").log_code(root, name)


def mark_preempting() -> None:
    pass


def setup(settings: Any = None) -> None:
    pass


def teardown(exit_code: int | None = None) -> None:
    finish(exit_code=exit_code)


class Settings:
    """W&B's ``Settings``: any keyword is kept as an attribute; ``mode`` is honoured by
    ``init``, the rest changes nothing here."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return None

    def update(self, settings: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self.__dict__.update({**dict(settings or {}), **kwargs})

    def __repr__(self) -> str:
        return f"Settings({self.__dict__!r})"
