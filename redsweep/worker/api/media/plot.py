"""``redsweep.plot`` (W&B's ``wandb.plot``): charts logged as a JSON file of the run holding
the chart's kind, its field mapping, its title and its data table
(``media/charts/<key>_<step>.chart.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from redsweep.worker.api.media.base import Media
from redsweep.worker.api.media.table import Table

__all__ = [
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "plot_table",
    "pr_curve",
    "roc_curve",
    "scatter",
]


class Chart(Media):
    """A chart: ``kind`` (line, scatter, ...), ``fields`` (which column is x, y, ...), data."""

    kind = "chart-file"
    folder = "charts"

    def __init__(self, chart: str, table: Table, fields: dict[str, Any], title: str | None):
        self.chart = chart
        self.table = table
        self.fields = fields
        self.title = title

    def extension(self) -> str:
        return "chart.json"

    def write(self, files: Any, name: str) -> None:
        from redsweep.worker.api.values import storable

        body = {
            "chart": self.chart,
            "title": self.title,
            "fields": self.fields,
            "columns": self.table.columns,
            "data": storable(self.table.data),
        }
        files.path(name).write_text(json.dumps(body), "utf-8")

    def describe(self) -> dict[str, Any]:
        return {"chart": self.chart, "nrows": len(self.table.data)}


def line(table: Table, x: str, y: str, stroke: str | None = None, title: str = "", **kw: Any):
    return Chart("line", table, {"x": x, "y": y, "stroke": stroke}, title)


def scatter(table: Table, x: str, y: str, title: str = "", **kw: Any) -> Chart:
    return Chart("scatter", table, {"x": x, "y": y}, title)


def bar(table: Table, label: str, value: str, title: str = "", **kw: Any) -> Chart:
    return Chart("bar", table, {"label": label, "value": value}, title)


def histogram(table: Table, value: str, title: str = "", **kw: Any) -> Chart:
    return Chart("histogram", table, {"value": value}, title)


def plot_table(vega_spec_name: str, data_table: Table, fields: dict, string_fields=None, **kw):
    """A custom chart: the spec's name is kept, nothing is drawn."""
    return Chart(str(vega_spec_name), data_table, dict(fields), (string_fields or {}).get("title"))


def line_series(
    xs: Sequence[Any],
    ys: Sequence[Sequence[Any]],
    keys: Sequence[str] | None = None,
    title: str = "",
    xname: str = "x",
    **kw: Any,
) -> Chart:
    """Several lines, one per ``ys`` entry (``xs`` one list for all, or one per line)."""
    table = Table(columns=["lineKey", "lineVal", "step"])
    shared = not (len(xs) and hasattr(xs[0], "__len__"))  # one list of x for every line
    for i, series in enumerate(ys):
        key = keys[i] if keys is not None and i < len(keys) else f"key_{i}"
        x_values = xs if shared else xs[i]
        for x, y in zip(x_values, series, strict=False):
            table.add_data(key, y, x)
    return Chart(
        "line_series",
        table,
        {"step": "step", "lineKey": "lineKey", "lineVal": "lineVal", "xname": xname},
        title,
    )


def confusion_matrix(
    probs: Any = None,
    y_true: Any = None,
    preds: Any = None,
    class_names: Sequence[str] | None = None,
    title: str = "Confusion Matrix",
    **kw: Any,
) -> Chart:
    """Counts of (actual, predicted) pairs; ``probs`` (N x classes) gives the predictions by
    argmax when ``preds`` is not given."""
    import numpy as np

    if preds is None:
        if probs is None:
            raise ValueError("confusion_matrix(): give preds or probs")
        preds = np.argmax(np.asarray(probs), axis=1)
    actual = np.asarray(y_true).ravel().astype(int)
    predicted = np.asarray(preds).ravel().astype(int)
    n = int(max(actual.max(initial=0), predicted.max(initial=0))) + 1
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    counts = np.zeros((len(names), len(names)), dtype=int)
    for a, p in zip(actual, predicted, strict=False):
        counts[a, p] += 1
    table = Table(columns=["Actual", "Predicted", "nPredictions"])
    for a, name_a in enumerate(names):
        for p, name_p in enumerate(names):
            table.add_data(name_a, name_p, int(counts[a, p]))
    return Chart(
        "confusion_matrix",
        table,
        {"Actual": "Actual", "Predicted": "Predicted", "nPredictions": "nPredictions"},
        title,
    )


def _curves(y_true: Any, y_probas: Any, labels: Any, classes_to_plot: Any, kind: str):
    import numpy as np

    truth = np.asarray(y_true).ravel()
    probas = np.asarray(y_probas, dtype="float64")
    if probas.ndim == 1:
        probas = np.stack([1 - probas, probas], axis=1)
    classes = list(range(probas.shape[1]))
    if classes_to_plot is not None:
        classes = [c for c in classes if c in set(classes_to_plot)]
    rows = []
    for c in classes:
        name = labels[c] if labels is not None and c < len(labels) else str(c)
        positive = truth == c
        scores = probas[:, c]
        for t in np.unique(np.concatenate([[np.inf], scores])):
            chosen = scores >= t
            tp = int(np.sum(chosen & positive))
            fp = int(np.sum(chosen & ~positive))
            fn = int(np.sum(~chosen & positive))
            tn = int(np.sum(~chosen & ~positive))
            if kind == "roc":
                rows.append([name, fp / max(1, fp + tn), tp / max(1, tp + fn)])
            else:
                rows.append([name, tp / max(1, tp + fn), tp / max(1, tp + fp) if tp + fp else 1.0])
    return rows


def pr_curve(
    y_true: Any,
    y_probas: Any,
    labels: Any = None,
    classes_to_plot: Any = None,
    title: str = "Precision-Recall Curve",
    **kw: Any,
) -> Chart:
    table = Table(
        columns=["class", "recall", "precision"],
        data=_curves(y_true, y_probas, labels, classes_to_plot, "pr"),
    )
    return Chart("pr_curve", table, {"x": "recall", "y": "precision", "class": "class"}, title)


def roc_curve(
    y_true: Any,
    y_probas: Any,
    labels: Any = None,
    classes_to_plot: Any = None,
    title: str = "ROC",
    **kw: Any,
) -> Chart:
    table = Table(
        columns=["class", "fpr", "tpr"],
        data=_curves(y_true, y_probas, labels, classes_to_plot, "roc"),
    )
    return Chart("roc_curve", table, {"x": "fpr", "y": "tpr", "class": "class"}, title)
