"""``wandb.keras`` / ``wandb.integration.keras``: ``WandbCallback`` (each epoch's logs, and the
best value of ``monitor`` in the summary), ``WandbMetricsLogger`` (``epoch/<name>``, and
``batch/<name>`` every ``log_freq`` batches), ``WandbModelCheckpoint`` (Keras's own
``ModelCheckpoint``). Keras (or ``tensorflow.keras``) is imported when one is made."""

from __future__ import annotations

import math
from typing import Any

from redsweep.integration._lazy import first_module, lazy_classes, log, plain

_cache: dict[str, Any] = {}


def _keras() -> Any:
    return first_module("keras", "tensorflow.keras")


def _wandb_callback() -> type:
    keras = _keras()

    class WandbCallback(keras.callbacks.Callback):
        """Logs each epoch's logs (``epoch`` too); keeps ``best_<monitor>`` and ``best_epoch``
        in the summary. W&B's image, gradient and model-saving options are accepted."""

        def __init__(self, monitor: str = "val_loss", mode: str = "auto", **ignored: Any):
            super().__init__()
            self.monitor = monitor
            maximize = mode == "max" or (mode == "auto" and "acc" in monitor)
            self._better = (lambda a, b: a > b) if maximize else (lambda a, b: a < b)
            self.best = -math.inf if maximize else math.inf

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            import redsweep

            row = {k: plain(v) for k, v in (logs or {}).items()}
            log({**row, "epoch": epoch})
            value = row.get(self.monitor)
            if isinstance(value, (int, float)) and self._better(value, self.best):
                self.best = value
                redsweep.summary[f"best_{self.monitor}"] = value
                redsweep.summary["best_epoch"] = epoch

    return WandbCallback


def _metrics_logger() -> type:
    keras = _keras()

    class WandbMetricsLogger(keras.callbacks.Callback):
        """``epoch/<name>`` each epoch; ``batch/<name>`` every ``log_freq`` batches when
        ``log_freq`` is a number (W&B's default ``"epoch"``: none)."""

        def __init__(self, log_freq: Any = "epoch", initial_global_step: int = 0, **ignored):
            super().__init__()
            self.log_freq = log_freq if isinstance(log_freq, int) else None
            self.global_step = initial_global_step

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            row = {f"epoch/{k}": plain(v) for k, v in (logs or {}).items()}
            log({**row, "epoch/epoch": epoch})

        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.global_step += 1
            if self.log_freq and batch % self.log_freq == 0:
                row = {f"batch/{k}": plain(v) for k, v in (logs or {}).items()}
                log({**row, "batch/batch_step": self.global_step})

        on_train_batch_end = on_batch_end

    return WandbMetricsLogger


def _checkpoint() -> type:
    keras = _keras()

    class WandbModelCheckpoint(keras.callbacks.ModelCheckpoint):
        """Keras's ``ModelCheckpoint``: the files stay where ``filepath`` says."""

    return WandbModelCheckpoint


_BUILDERS = {
    "WandbCallback": _wandb_callback,
    "WandbMetricsLogger": _metrics_logger,
    "WandbModelCheckpoint": _checkpoint,
    "WandbEvalCallback": _wandb_callback,
}


def __getattr__(name: str) -> Any:
    return lazy_classes(_BUILDERS, _cache, name)
