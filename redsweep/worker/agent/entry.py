"""W&B's ``wandb.agent()``: an agent session on the resolved Redis (``redsweep.agent``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redsweep.connect import resolve_url
from redsweep.worker.agent.result import AgentResult
from redsweep.worker.agent.session import AgentSession


def run_agent(
    sweep_id: str,
    function: Callable[[], Any] | None = None,
    entity: str | None = None,
    project: str | None = None,
    count: int | None = None,
    *,
    redis: str | None = None,
    isolate: bool = False,
    **options: Any,
) -> AgentResult:
    """W&B's ``wandb.agent(sweep_id, function=None, entity=None, project=None, count=None)``:
    run an agent session on ``redis`` (else ``REDSWEEP_REDIS_URL``, else the embedded local
    server). ``sweep_id`` may be W&B's ``entity/project/id`` path; only the id is used.
    ``options`` go to :class:`AgentSession` (agent_dir, lease_ms, grace_s, history_cap, out,
    and trial_timeout: seconds a trial may run before it is stopped and failed, overriding
    the config's ``redsweep: {trial_timeout: S}``)."""
    sweep_id = sweep_id.rstrip("/").rsplit("/", 1)[-1]
    session = AgentSession(
        resolve_url(redis), sweep_id, function=function, count=count, isolate=isolate, **options
    )
    return session.run()
