"""``init(mode="disabled")`` (or ``WANDB_MODE=disabled``): a run on which every call is a
no-op, as W&B's disabled mode; the config still holds what the script gave."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from redsweep.worker.api.config import Config
from redsweep.worker.api.summary import MetricDef, Summary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class DisabledRun:
    """Looks like a :class:`~redsweep.worker.api.run.Run`; records nothing anywhere."""

    mode = "disabled"
    disabled = True
    offline = True
    resumed = False
    sweep_id = None
    entity = group = job_type = notes = None
    tags: tuple[str, ...] = ()
    url = path = dir = ""
    start_time = 0.0

    def __init__(
        self,
        config: Mapping[str, Any],
        project: str | None,
        name: str | None,
        on_end: Callable[[DisabledRun], None] | None = None,
    ) -> None:
        self.id = "disabled"
        self.name = name or "disabled"
        self.project = project
        self.config = Config(dict(config))
        self.summary = Summary()
        self.step = 0
        self.finished = False
        self._on_end = on_end

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: Any = None) -> None:
        pass

    def define_metric(self, name: str, *args: Any, **kwargs: Any) -> MetricDef:
        return MetricDef(name)

    def finish(self, exit_code: int | None = None, quiet: Any = None) -> None:
        self.finished = True
        if self._on_end is not None:
            self._on_end(self)

    join = finish

    def get_url(self) -> None:
        return None

    get_sweep_url = get_project_url = get_url

    def restore(self, *args: Any, **kwargs: Any) -> None:
        return None

    def use_artifact(self, artifact_or_name: Any, *args: Any, **kwargs: Any) -> Any:
        from redsweep.worker.api.artifacts import Artifact

        if isinstance(artifact_or_name, Artifact):
            return artifact_or_name
        return Artifact(str(artifact_or_name).split(":")[0], type="disabled")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _nothing  # save, watch, alert, log_artifact, ...: accepted, nothing done

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def __repr__(self) -> str:
        return "<Run disabled>"


def _nothing(*args: Any, **kwargs: Any) -> None:
    return None
