"""redis-py, imported without its OpenTelemetry half (the store's first import, so every other
``import redis`` of the store finds it loaded).

redis-py 8 imports OpenTelemetry's metrics SDK whenever it is installed, for metrics it records
only once an application turns them on (``redis.observability``), which redsweep never does.
W&B installs that SDK, so in a W&B user's environment every agent, controller and CLI process
paid ~30 ms (~70 ms on a loaded machine) at start-up for nothing: a sixth of the agent's
imports. While redis imports, ``opentelemetry`` is hidden (a ``None`` entry in
``sys.modules`` makes its import raise ImportError, which redis-py catches: "not installed");
the entry is removed right after, so code that imports OpenTelemetry later gets it as usual.
What it costs: redis-py's own OpenTelemetry metrics stay off in a process whose first
``import redis`` came through redsweep. Where OpenTelemetry was imported before, nothing is
hidden.
"""

from __future__ import annotations

import sys

_HIDDEN = "opentelemetry"

if _HIDDEN in sys.modules or "redis" in sys.modules:
    import redis
else:
    sys.modules[_HIDDEN] = None  # type: ignore[assignment]
    try:
        import redis
    finally:
        if sys.modules.get(_HIDDEN, _HIDDEN) is None:
            del sys.modules[_HIDDEN]

__all__ = ["redis"]
