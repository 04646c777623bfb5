"""``wandb.fastai``: ``WandbCallback``, a fastai ``Callback`` that logs each epoch's recorded
values (train loss, valid loss, metrics) with ``epoch``. fastai is imported when it is made."""

from __future__ import annotations

from typing import Any

from redsweep.integration._lazy import first_module, lazy_classes, log, plain

_cache: dict[str, Any] = {}


def _callback() -> type:
    core = first_module("fastai.callback.core")

    class WandbCallback(core.Callback):
        order = 90  # after the Recorder

        def __init__(self, log: str | None = None, **ignored: Any) -> None:
            super().__init__()

        def after_epoch(self) -> None:
            recorder = self.learn.recorder
            names = [str(n) for n in recorder.metric_names[1:]]  # [0] is "epoch"
            values = list(recorder.log[1:])
            row = {
                n: plain(v)
                for n, v in zip(names, values, strict=False)
                if n != "time" and v is not None
            }
            log({**row, "epoch": self.epoch})

    return WandbCallback


def __getattr__(name: str) -> Any:
    return lazy_classes({"WandbCallback": _callback}, _cache, name)
