"""redsweep: hyperparameter sweeps on your own machines, W&B-sweep compatible, on Redis.

The W&B quickstart runs with one changed line, ``import redsweep as wandb``::

    sweep_id = wandb.sweep(sweep=config, project="my-first-sweep")
    wandb.agent(sweep_id, function=main, count=10)

The names are loaded on first use, so that ``import redsweep`` inside a training script (which
needs only ``init``/``config``/``log``) does not pay for numpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import Any

from redsweep.errors import ConfigError, RedsweepError

__version__ = "0.1.0"

# public name -> (module, attribute); attribute None means the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "engine": ("redsweep.engine", None),
    "sweep": ("redsweep.api", "sweep"),
    "controller": ("redsweep.api", "controller"),
    "Api": ("redsweep.results", "Api"),
    "agent": ("redsweep.worker.agent.session", "run_agent"),
    "Run": ("redsweep.worker.api.functions", "Run"),
    "StopTrial": ("redsweep.worker.api.functions", "StopTrial"),
    "config": ("redsweep.worker.api.functions", "config"),
    "init": ("redsweep.worker.api.functions", "init"),
    "log": ("redsweep.worker.api.functions", "log"),
    "finish": ("redsweep.worker.api.functions", "finish"),
    "login": ("redsweep.worker.api.functions", "login"),
}

__all__ = ["ConfigError", "RedsweepError", "__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'redsweep' has no attribute {name!r}") from None
    module = importlib.import_module(module_name)
    value = module if attribute is None else getattr(module, attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
