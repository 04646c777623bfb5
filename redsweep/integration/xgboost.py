"""``wandb.xgboost``: ``WandbCallback`` (an xgboost ``TrainingCallback``) and
``wandb_callback()``: after each boosting round, the last value of every eval metric as
``<data>-<metric>`` (W&B's names) and ``epoch``; the best round in the summary when training
ends early. xgboost is imported when one is made."""

from __future__ import annotations

from typing import Any

from redsweep.integration._lazy import first_module, lazy_classes, log, plain

_cache: dict[str, Any] = {}


def _callback() -> type:
    xgb = first_module("xgboost")

    class WandbCallback(xgb.callback.TrainingCallback):
        def __init__(self, log_model: bool = False, **ignored: Any) -> None:
            super().__init__()

        def after_iteration(self, model: Any, epoch: int, evals_log: dict) -> bool:
            row = {
                f"{data}-{metric}": plain(values[-1])
                for data, metrics in evals_log.items()
                for metric, values in metrics.items()
                if len(values)
            }
            log({**row, "epoch": epoch})
            return False

        def after_training(self, model: Any) -> Any:
            import redsweep

            best = getattr(model, "best_iteration", None)
            if best is not None:
                redsweep.summary["best_iteration"] = best
                redsweep.summary["best_score"] = plain(getattr(model, "best_score", None))
            return model

    return WandbCallback


def __getattr__(name: str) -> Any:
    return lazy_classes({"WandbCallback": _callback}, _cache, name)


def wandb_callback(**kwargs: Any) -> Any:
    """W&B's older name: a :class:`WandbCallback`."""
    return __getattr__("WandbCallback")(**kwargs)
