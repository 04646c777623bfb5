"""Sweeps: their config, state and counters. Part of :mod:`redsweep.shared.store`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redsweep.errors import NotFoundError, StoreError, SweepLostError
from redsweep.shared.protocol import pack_value, unpack_value
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded, opt_float, opt_int, text
from redsweep.shared.store.replies import SweepInfo
from redsweep.shared.store.scripts.sweeps import (
    CreateSweep,
    SetSweepFields,
    SetSweepState,
    UpdateConfig,
)

_COUNTS = tuple(f"n_{s.value}" for s in RunState)


def sweep_info(raw: Mapping[bytes, bytes]) -> SweepInfo:
    """A SweepInfo from the sweep hash as HGETALL returns it."""

    def get(name: str) -> bytes | None:
        return raw.get(name.encode())

    counts = {}
    for field in _COUNTS:
        n = opt_int(get(field))
        if n:
            counts[field[2:]] = n
    config = get("config")
    return SweepInfo(
        id=text(get("id")) or "",
        state=SweepState(text(get("state"))),
        config=unpack_value(config) if config else {},
        project=text(get("project")),
        name=text(get("name")),
        created_ms=opt_int(get("created_ms")) or 0,
        updated_ms=opt_int(get("updated_ms")) or 0,
        finished_ms=opt_int(get("finished_ms")),
        grid_size=opt_int(get("grid_size")),
        run_cap=opt_int(get("run_cap")),
        issued=opt_int(get("issued")) or 0,
        seq=opt_int(get("seq")) or 0,
        epoch=opt_int(get("epoch")) or 0,
        controller=text(get("controller")),
        best_value=opt_float(get("best_value")),
        best_trial=text(get("best_trial")),
        done_reason=text(get("done_reason")),
        counts=counts,
        crashes_handled=opt_int(get("crashes_handled")) or 0,
    )


class Sweeps:
    """Sweeps: their config, state and counters."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    def create(
        self,
        config_raw: Mapping[str, Any],
        *,
        project: str | None = None,
        name: str | None = None,
        grid_size: int | None = None,
        run_cap: int | None = None,
    ) -> str:
        """Store a new sweep (state pending) and return its id (8 lowercase base-36 chars)."""
        for _ in range(20):
            call = CreateSweep(
                config_raw, project=project, name=name, grid_size=grid_size, run_cap=run_cap
            )
            if self._conn.call(call):
                return call.sweep_id
        raise StoreError("could not find a free sweep id after 20 tries")

    @guarded
    def set_prior_runs(self, sweep_id: str, refs: list[tuple[str, str]]) -> None:
        """Give a new sweep W&B's prior runs: ``(sweep_id, run_id)`` of runs of earlier sweeps
        its engine counts as its own (bayes learns from them, grid skips their points)."""
        text = ",".join(f"{s}/{r}" for s, r in refs)
        self._r.hset(keys.sweep(sweep_id), "prior_runs", text)

    @guarded
    def prior_runs(self, sweep_id: str) -> list[tuple[str, str]]:
        """The sweep's prior runs, as :meth:`set_prior_runs` stored them (none: [])."""
        raw = self._r.hget(keys.sweep(sweep_id), "prior_runs")
        refs = raw.decode().split(",") if raw else []
        return [tuple(ref.split("/", 1)) for ref in refs if "/" in ref]  # type: ignore[misc]

    @guarded
    def get(self, sweep_id: str) -> SweepInfo:
        """The sweep ``sweep_id``; NotFoundError when there is none."""
        raw = self._r.hgetall(keys.sweep(sweep_id))
        if not raw:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        return sweep_info(raw)

    @guarded
    def lost(self, sweep_id: str) -> SweepLostError | None:
        """For a sweep this process has served: SweepLostError (to raise) when Redis no longer
        holds it (it lost its data), None while it does."""
        if self._r.exists(keys.sweep(sweep_id)):
            return None
        return SweepLostError(self.url, sweep_id)

    @guarded
    def list(self, project: str | None = None) -> list[SweepInfo]:
        """Every sweep, oldest first; only those of ``project`` when given."""
        ids = [i.decode() for i in self._r.zrange(keys.sweeps_index(), 0, -1)]
        pipe = self._r.pipeline(transaction=False)
        for sweep_id in ids:
            pipe.hgetall(keys.sweep(sweep_id))
        infos = [sweep_info(raw) for raw in pipe.execute() if raw]
        if project is not None:
            infos = [info for info in infos if info.project == project]
        return infos

    def set_state(
        self,
        sweep_id: str,
        new: SweepState | str,
        *,
        allowed_from: Iterable[SweepState | str],
        reason: str | None = None,
    ) -> SweepInfo:
        """Change the sweep's state if it is now in ``allowed_from`` (and the change is in
        :data:`keys.SWEEP_TRANSITIONS`); else SweepStateError ("sweep X is finished; cannot
        pause"). ``reason`` is kept as ``done_reason``. Returns the sweep as it is then."""
        self._conn.call(SetSweepState(sweep_id, new, allowed_from=allowed_from, reason=reason))
        return self.get(sweep_id)

    def finish(self, sweep_id: str, reason: str) -> bool:
        """A running sweep -> finished with ``reason``, only while none of its trials is
        pending or running (a controller ending it: a retry added meanwhile keeps it running);
        False when one is."""
        running = [SweepState.RUNNING]
        call = SetSweepState(
            sweep_id, SweepState.FINISHED, allowed_from=running, reason=reason, idle=True
        )
        return self._conn.call(call) is not None

    @guarded
    def state(self, sweep_id: str) -> SweepState:
        """The sweep's state alone (one HGET); NotFoundError when there is no such sweep."""
        raw = self._r.hget(keys.sweep(sweep_id), "state")
        if raw is None:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        return SweepState(raw.decode())

    @guarded
    def update_config(
        self,
        sweep_id: str,
        config_raw: Mapping[str, Any],
        *,
        grid_size: int | None = None,
        run_cap: int | None = None,
    ) -> int:
        """Replace the sweep's config while none of its trials has started; trials still
        pending (suggested from the old config) are removed. Returns how many were removed.
        SweepStateError once a trial has started (W&B refuses the same)."""
        packed = pack_value(dict(config_raw))
        for _ in range(20):
            ids = [t.decode() for t in self._r.zrange(keys.trials(sweep_id), 0, -1)]
            call = UpdateConfig(sweep_id, packed, ids, grid_size=grid_size, run_cap=run_cap)
            removed = self._conn.call(call)
            if removed is not None:
                return removed
        raise StoreError(f"sweep {sweep_id} kept changing; could not update its config")

    @guarded
    def set_done_reason(self, sweep_id: str, reason: str) -> None:
        """Record why no more trials will be issued (run_cap, target, grid_exhausted) while
        the last trials may still run; agents leave once nothing is left for them."""
        self._conn.call(SetSweepFields(sweep_id, {"done_reason": reason}))

    @guarded
    def set_tell_claims(self, sweep_id: str, tell: bool) -> None:
        """Whether a trial's claim adds an event for the controller: only a controller that
        follows running trials (hyperband, bayes, a target) reads them; for the rest each
        claim's event cost Redis and the controller work for nothing."""
        self._conn.call(SetSweepFields(sweep_id, {"tell_claims": "1" if tell else "0"}))

    @guarded
    def set_crashes_handled(self, sweep_id: str, n: int) -> None:
        """Record that the controller has handled ``n`` crashed trials (retried them, or they
        are out of retries): agents of a done sweep wait while more than that have crashed."""
        self._conn.call(SetSweepFields(sweep_id, {"crashes_handled": int(n)}))
