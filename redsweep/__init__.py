"""redsweep: hyperparameter sweeps on your own machines, W&B-sweep compatible, on Redis.

The W&B quickstart runs with one changed line, ``import redsweep as wandb``::

    sweep_id = wandb.sweep(sweep=config, project="my-first-sweep")
    wandb.agent(sweep_id, function=main, count=10)

The names are loaded on first use, so that ``import redsweep`` inside a training script (which
needs only ``init``/``config``/``log``) does not pay for numpy and scipy.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading

from redsweep.errors import ConfigError, RedsweepError

# typing is for the type checker only: ``import redsweep`` in each command trial would pay
# ~10 ms for it and the ``re`` it imports (docs/architecture.md)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXTRAS = "redsweep.worker.api.extras"
_MEDIA = "redsweep.worker.api.media"

# public name -> (module, attribute); attribute None means the module itself
_LAZY: dict[str, tuple[str, str | None]] = {
    "engine": ("redsweep.engine", None),
    "sweep": ("redsweep.api", "sweep"),
    "controller": ("redsweep.api", "controller"),
    "Api": ("redsweep.results", "Api"),
    "agent": ("redsweep.worker.agent.entry", "run_agent"),
    "Run": ("redsweep.worker.api.functions", "Run"),
    "StopTrial": ("redsweep.worker.api.functions", "StopTrial"),
    "config": ("redsweep.worker.api.functions", "config"),
    "init": ("redsweep.worker.api.functions", "init"),
    "log": ("redsweep.worker.api.functions", "log"),
    "finish": ("redsweep.worker.api.functions", "finish"),
    "login": ("redsweep.worker.api.functions", "login"),
    # the rest of W&B's in-trial API (README: "Every W&B call, and what it does here")
    "summary": (_EXTRAS, "summary"),
    "define_metric": (_EXTRAS, "define_metric"),
    "join": (_EXTRAS, "join"),
    "watch": (_EXTRAS, "watch"),
    "unwatch": (_EXTRAS, "unwatch"),
    "save": (_EXTRAS, "save"),
    "restore": (_EXTRAS, "restore"),
    "alert": (_EXTRAS, "alert"),
    "AlertLevel": (_EXTRAS, "AlertLevel"),
    "log_artifact": (_EXTRAS, "log_artifact"),
    "use_artifact": (_EXTRAS, "use_artifact"),
    "link_artifact": (_EXTRAS, "link_artifact"),
    "log_model": (_EXTRAS, "log_model"),
    "use_model": (_EXTRAS, "use_model"),
    "log_code": (_EXTRAS, "log_code"),
    "mark_preempting": (_EXTRAS, "mark_preempting"),
    "setup": (_EXTRAS, "setup"),
    "teardown": (_EXTRAS, "teardown"),
    "termlog": (_EXTRAS, "termlog"),
    "termwarn": (_EXTRAS, "termwarn"),
    "termerror": (_EXTRAS, "termerror"),
    "Settings": (_EXTRAS, "Settings"),
    "Error": (_EXTRAS, "Error"),
    "util": ("redsweep.worker.api.util", None),
    "Artifact": ("redsweep.worker.api.artifacts", "Artifact"),
    "Table": (_MEDIA, "Table"),
    "Image": (_MEDIA, "Image"),
    "Histogram": (_MEDIA, "Histogram"),
    "Audio": (_MEDIA, "Audio"),
    "Video": (_MEDIA, "Video"),
    "Html": (_MEDIA, "Html"),
    "Object3D": (_MEDIA, "Object3D"),
    "Molecule": (_MEDIA, "Molecule"),
    "Plotly": (_MEDIA, "Plotly"),
    "plot": ("redsweep.worker.api.media.plot", None),
    "integration": ("redsweep.integration", None),
    "keras": ("redsweep.integration.keras", None),
    "xgboost": ("redsweep.integration.xgboost", None),
    "lightgbm": ("redsweep.integration.lightgbm", None),
    "fastai": ("redsweep.integration.fastai", None),
    "sklearn": ("redsweep.integration.sklearn", None),
}
#: names whose value changes (``wandb.run`` is None before init, the run after)
_LIVE = {"run": ("redsweep.worker.api.functions", "current_run")}

__all__ = ["ConfigError", "RedsweepError", "__version__", *_LAZY, *_LIVE]


#: functions whose call connects to Redis, the embedded server unless given ``redis``: see
#: _prestart (login takes the URL as its first argument too)
_CONNECTING = {"login", "sweep", "agent", "controller"}
_prestarted = False


def _prestart() -> None:
    """Start the project's embedded server in a thread while the modules behind ``login``,
    ``sweep`` or ``agent`` import (~0.3 s), instead of after: a project that has a
    ``.redsweep/`` and no ``REDSWEEP_REDIS_URL`` uses that server (its idle stop may have
    ended it). Errors are left to the caller's own start, which says them."""
    global _prestarted
    if _prestarted or os.environ.get("REDSWEEP_REDIS_URL"):
        return
    _prestarted = True
    from redsweep.shared.server import embedded

    if not embedded.home().is_dir():  # a first run here starts it when it connects
        return

    def start() -> None:
        with contextlib.suppress(Exception):  # the caller's own ensure() says what went wrong
            embedded.ensure()

    threading.Thread(target=start, name="redsweep-server-start").start()


def _entry(name: str) -> Any:
    """``name``'s function behind a first call that, when it will use the embedded server (no
    ``redis`` given), starts that server while the function's modules import; the first call
    puts the function itself in its place."""
    module_name, attribute = _LAZY[name]

    def call(*args: Any, **kwargs: Any) -> Any:
        url = kwargs.get("redis") or (args[0] if name == "login" and args else None)
        if not url:
            _prestart()
        function = getattr(importlib.import_module(module_name), attribute)
        globals()[name] = function
        return function(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"``{module_name}.{attribute}``, loaded at the first call."
    return call


def __getattr__(name: str) -> Any:
    if name in _CONNECTING:
        globals()[name] = _entry(name)
        return globals()[name]
    if name in _LIVE:
        module_name, function = _LIVE[name]
        return getattr(importlib.import_module(module_name), function)()
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
