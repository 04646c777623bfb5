"""``wandb.sklearn``'s plot helpers: the ones that draw a classifier's or a regressor's
results log ``redsweep.plot`` charts and summary metrics; the rest say once that they draw
nothing here. scikit-learn itself is not needed (numpy is)."""

from __future__ import annotations

from typing import Any

from redsweep.integration._lazy import log
from redsweep.worker.api import notices


def plot_confusion_matrix(y_true: Any, y_pred: Any, labels: Any = None, **ignored: Any) -> None:
    from redsweep.worker.api.media import plot

    log(
        {"confusion_matrix": plot.confusion_matrix(y_true=y_true, preds=y_pred, class_names=labels)}
    )


def plot_roc(y_true: Any, y_probas: Any, labels: Any = None, **ignored: Any) -> None:
    from redsweep.worker.api.media import plot

    log({"roc": plot.roc_curve(y_true, y_probas, labels)})


def plot_precision_recall(y_true: Any, y_probas: Any, labels: Any = None, **ignored: Any) -> None:
    from redsweep.worker.api.media import plot

    log({"precision_recall": plot.pr_curve(y_true, y_probas, labels)})


def plot_feature_importances(model: Any, feature_names: Any = None, **ignored: Any) -> None:
    import redsweep

    values = getattr(model, "feature_importances_", None)
    if values is None:
        values = getattr(model, "coef_", None)
    if values is None:
        notices.once("sklearn-fi", "plot_feature_importances(): the model has no importances")
        return
    values = [float(v) for v in list(getattr(values, "ravel", lambda: values)())]
    names = (
        list(feature_names) if feature_names is not None else [str(i) for i in range(len(values))]
    )
    table = redsweep.Table(
        columns=["feature", "importance"], data=[list(p) for p in zip(names, values, strict=False)]
    )
    log({"feature_importances": table})


def plot_summary_metrics(
    model: Any = None,
    X: Any = None,
    y: Any = None,
    X_test: Any = None,
    y_test: Any = None,
    **ignored: Any,
) -> None:
    """Accuracy (a classifier) or MSE, MAE and R² (a regressor) on the test data, in the
    summary."""
    import numpy as np

    import redsweep

    if model is None or X_test is None or y_test is None:
        return
    predicted = np.asarray(model.predict(X_test))
    actual = np.asarray(y_test)
    if getattr(model, "_estimator_type", "") == "classifier":
        redsweep.summary["accuracy"] = float(np.mean(predicted == actual))
        return
    error = predicted.astype(float) - actual.astype(float)
    redsweep.summary["mse"] = float(np.mean(error**2))
    redsweep.summary["mae"] = float(np.mean(np.abs(error)))
    variance = float(np.var(actual.astype(float)))
    redsweep.summary["r2"] = 1 - float(np.mean(error**2)) / variance if variance else 0.0


def plot_classifier(
    model: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    y_pred: Any,
    y_probas: Any,
    labels: Any = None,
    **ignored: Any,
) -> None:
    plot_summary_metrics(model, X_train, y_train, X_test, y_test)
    plot_confusion_matrix(y_test, y_pred, labels)
    if y_probas is not None:
        plot_roc(y_test, y_probas, labels)
        plot_precision_recall(y_test, y_probas, labels)
    plot_feature_importances(model)


def plot_regressor(
    model: Any, X_train: Any, X_test: Any, y_train: Any, y_test: Any, **ignored: Any
) -> None:
    plot_summary_metrics(model, X_train, y_train, X_test, y_test)


def _nothing(name: str):
    def helper(*args: Any, **kwargs: Any) -> None:
        notices.noop(f"wandb.sklearn.{name}()", "this chart is not drawn offline")

    helper.__name__ = name
    return helper


plot_learning_curve = _nothing("plot_learning_curve")
plot_class_proportions = _nothing("plot_class_proportions")
plot_calibration_curve = _nothing("plot_calibration_curve")
plot_elbow_curve = _nothing("plot_elbow_curve")
plot_silhouette = _nothing("plot_silhouette")
plot_clusterer = _nothing("plot_clusterer")
plot_residuals = _nothing("plot_residuals")
plot_outlier_candidates = _nothing("plot_outlier_candidates")
