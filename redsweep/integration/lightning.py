"""PyTorch Lightning: ``RedsweepLogger``, a Lightning logger that logs through redsweep (use
it where W&B's ``WandbLogger`` was)::

    from redsweep.integration.lightning import RedsweepLogger
    trainer = Trainer(logger=RedsweepLogger())

Hyperparameters go to ``redsweep.config`` (sweep keys keep the sweep's value), metrics to
``redsweep.log`` with ``trainer/global_step``. Lightning (``lightning`` or
``pytorch_lightning``) is imported when the logger is made."""

from __future__ import annotations

from typing import Any

from redsweep.integration._lazy import first_module, lazy_classes, log, plain

_cache: dict[str, Any] = {}


def _logger() -> type:
    loggers = first_module("lightning.pytorch.loggers", "pytorch_lightning.loggers")

    class RedsweepLogger(loggers.Logger):
        def __init__(self, project: str | None = None, name: str | None = None, **init: Any):
            super().__init__()
            self._init = {"project": project, "name": name, **init}
            self._run: Any = None

        @property
        def experiment(self) -> Any:
            import redsweep

            if self._run is None:
                self._run = redsweep.run or redsweep.init(**self._init)
            return self._run

        @property
        def name(self) -> str | None:
            return self.experiment.project

        @property
        def version(self) -> str:
            return self.experiment.id

        def log_hyperparams(self, params: Any, *args: Any, **kwargs: Any) -> None:
            values = params if isinstance(params, dict) else vars(params)
            config = self.experiment.config
            config.update({k: plain(v) for k, v in values.items() if k not in config})

        def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
            self.experiment  # noqa: B018 - starts the run
            row = {k: plain(v) for k, v in metrics.items()}
            if step is not None:
                row["trainer/global_step"] = step
            log(row)

        def finalize(self, status: str) -> None:
            pass

    return RedsweepLogger


def __getattr__(name: str) -> Any:
    return lazy_classes({"RedsweepLogger": _logger}, _cache, name)
