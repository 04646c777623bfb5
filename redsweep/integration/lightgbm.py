"""``wandb.lightgbm``: ``wandb_callback()`` logs every eval result as ``<data>_<metric>`` after
each iteration; ``log_summary(model)`` puts the best iteration and score in the summary."""

from __future__ import annotations

from typing import Any

from redsweep.integration._lazy import log, plain


def wandb_callback(log_params: bool = True, define_metric: bool = True) -> Any:
    """A LightGBM callback (``callbacks=[wandb_callback()]``)."""
    import redsweep

    def callback(env: Any) -> None:
        if log_params and env.iteration == env.begin_iteration:
            params = getattr(env, "params", None) or {}
            redsweep.config.update({k: v for k, v in params.items() if k not in redsweep.config})
        row = {
            f"{data}_{metric}": plain(value)
            for data, metric, value, *_ in env.evaluation_result_list
        }
        log({**row, "iteration": env.iteration})

    callback.order = 20  # type: ignore[attr-defined]
    return callback


def log_summary(model: Any, feature_importance: bool = True, save_model_checkpoint: bool = False):
    """The booster's best iteration and scores in the summary (and its feature importance as
    a table when asked)."""
    import redsweep

    redsweep.summary["best_iteration"] = getattr(model, "best_iteration", None)
    for data, scores in (getattr(model, "best_score", None) or {}).items():
        for metric, value in scores.items():
            redsweep.summary[f"best_score/{data}_{metric}"] = plain(value)
    if feature_importance and hasattr(model, "feature_importance"):
        names = model.feature_name()
        values = [plain(v) for v in model.feature_importance()]
        table = redsweep.Table(
            columns=["Feature", "Importance"], data=list(zip(names, values, strict=False))
        )
        log({"Feature Importance": table}, commit=False)
