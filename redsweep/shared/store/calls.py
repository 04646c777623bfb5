"""The calls of an agent's hot path, as values to run alone or together in one round trip
(:meth:`Store.batch <redsweep.shared.store.Store.batch>`): the rows a trial logged, its
finish, and the agent's next queue move (take and claim the next trial, or just ack).

Part of :mod:`redsweep.shared.store`; the classes live in
:mod:`redsweep.shared.store.scripts` beside their Lua scripts::

    results = store.batch(
        ReportRows(sweep_id, trial_id, token, rows, metric_name="loss", goal="minimize",
                   lease_ms=10_000, final=True),  # its last rows: no event of their own
        Finish(sweep_id, trial_id, token, RunState.FINISHED, summary={"loss": 0.1}),
        Take(sweep_id, agent_id, 10_000, ack=entry),
    )
    renewal, finished, taken = results  # Renewal, bool, Taken | None
"""

from __future__ import annotations

from redsweep.shared.store.replies import Renewal, Taken
from redsweep.shared.store.scripts import Call, Command, Script
from redsweep.shared.store.scripts.holder import Finish, ReportRows
from redsweep.shared.store.scripts.queue import Ack, Take

__all__ = ["Ack", "Call", "Command", "Finish", "Renewal", "ReportRows", "Script", "Take", "Taken"]
