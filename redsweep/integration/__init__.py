"""W&B's framework integrations, reached as ``wandb.keras``, ``wandb.integration.keras``,
``wandb.xgboost``, ``wandb.lightgbm``, ``wandb.fastai``, ``wandb.sklearn``; and redsweep's
own for PyTorch Lightning (:mod:`.lightning`) and Hugging Face ``transformers``
(:mod:`.transformers`), whose W&B loggers import ``wandb`` by name.

Each logs what W&B's logs (epoch metrics, eval results) through ``redsweep.log`` and imports
its framework only when one of its callbacks is made.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_MODULES = ("keras", "xgboost", "lightgbm", "fastai", "sklearn", "lightning", "transformers")


def __getattr__(name: str) -> ModuleType:
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return importlib.import_module(f"{__name__}.{name}")
