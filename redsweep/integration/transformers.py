"""Hugging Face ``transformers``: ``RedsweepCallback``, a ``TrainerCallback`` that logs what
W&B's does (``train/<name>``, ``eval/<name>``, ``train/global_step``)::

    from redsweep.integration.transformers import RedsweepCallback
    args = TrainingArguments(..., report_to="none")
    trainer = Trainer(..., args=args, callbacks=[RedsweepCallback()])

``transformers`` is imported when the callback is made."""

from __future__ import annotations

from typing import Any

from redsweep.integration._lazy import first_module, lazy_classes, log, plain

_cache: dict[str, Any] = {}


def rewrite_logs(logs: dict[str, Any]) -> dict[str, Any]:
    """W&B's names: ``eval_loss`` -> ``eval/loss``, ``test_x`` -> ``test/x``, else ``train/``."""
    out = {}
    for key, value in logs.items():
        for prefix in ("eval_", "test_"):
            if key.startswith(prefix):
                out[f"{prefix[:-1]}/{key[len(prefix) :]}"] = plain(value)
                break
        else:
            out[f"train/{key}"] = plain(value)
    return out


def _callback() -> type:
    transformers = first_module("transformers")

    class RedsweepCallback(transformers.TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            import redsweep

            if redsweep.run is None:
                redsweep.init()
            values = args.to_dict() if hasattr(args, "to_dict") else {}
            config = redsweep.config
            config.update({k: v for k, v in values.items() if k not in config})

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any):
            if state.is_world_process_zero and logs:
                log({**rewrite_logs(logs), "train/global_step": state.global_step})

    return RedsweepCallback


def __getattr__(name: str) -> Any:
    return lazy_classes({"RedsweepCallback": _callback}, _cache, name)
