"""Which Redis to use: ``--redis URL``, ``REDSWEEP_REDIS_URL``, else the embedded default."""

from __future__ import annotations

import os

from redsweep.shared.server import embedded
from redsweep.shared.store import Store

ENV_URL = "REDSWEEP_REDIS_URL"


def resolve_url(url: str | None = None) -> str:
    """The Redis URL to use, starting the embedded server when none is configured."""
    return url or os.environ.get(ENV_URL) or embedded.ensure()


def connect(url: str | None = None, **kwargs: object) -> Store:
    """A :class:`Store` on the resolved URL (see :func:`resolve_url`)."""
    return Store.from_url(resolve_url(url), **kwargs)
