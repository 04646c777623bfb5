"""Sweeps and the controller lease. Part of :mod:`redsweep.shared.store`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redsweep.errors import NotFoundError, StoreError, SweepStateError
from redsweep.shared.store import keys
from redsweep.shared.protocol import pack_value, unpack_value
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store.connection import StoreBase, guarded, new_id, opt_float, opt_int, text
from redsweep.shared.store.replies import SweepInfo

# What a refused change is called in "sweep X is finished; cannot pause".
_VERBS = {
    SweepState.PENDING: "reset",
    SweepState.RUNNING: "run",
    SweepState.PAUSED: "pause",
    SweepState.FINISHED: "finish",
    SweepState.CANCELED: "cancel",
}
_FINAL = frozenset({SweepState.FINISHED, SweepState.CANCELED})
_COUNTS = tuple(f"n_{s.value}" for s in RunState)


def _arg(value: Any) -> str:
    return "" if value is None else str(value)


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


class SweepsMixin(StoreBase):
    """Sweeps (config, state, counters) and the one-controller-per-sweep lease."""

    @guarded
    def create_sweep(
        self,
        config_raw: Mapping[str, Any],
        *,
        project: str | None = None,
        name: str | None = None,
        grid_size: int | None = None,
        run_cap: int | None = None,
    ) -> str:
        """Store a new sweep (state pending) and return its id (8 lowercase base-36 chars)."""
        packed = pack_value(dict(config_raw))
        for _ in range(20):
            sweep_id = new_id()
            reply = self._run(
                "create_sweep",
                [keys.sweep(sweep_id), keys.sweeps_index()],
                [sweep_id, packed, _arg(project), _arg(name), _arg(grid_size), _arg(run_cap)],
            )
            if reply[0] == b"ok":
                return sweep_id
        raise StoreError("could not find a free sweep id after 20 tries")

    @guarded
    def get_sweep(self, sweep_id: str) -> SweepInfo:
        """The sweep ``sweep_id``; NotFoundError when there is none."""
        raw = self._r.hgetall(keys.sweep(sweep_id))
        if not raw:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        return sweep_info(raw)

    @guarded
    def sweep_exists(self, sweep_id: str) -> bool:
        if not keys.valid_id(sweep_id):
            return False
        return bool(self._r.exists(keys.sweep(sweep_id)))

    @guarded
    def list_sweeps(self, project: str | None = None) -> list[SweepInfo]:
        """Every sweep, oldest first; only those of ``project`` when given."""
        ids = [i.decode() for i in self._r.zrange(keys.sweeps_index(), 0, -1)]
        pipe = self._r.pipeline(transaction=False)
        for sweep_id in ids:
            pipe.hgetall(keys.sweep(sweep_id))
        infos = [sweep_info(raw) for raw in pipe.execute() if raw]
        if project is not None:
            infos = [info for info in infos if info.project == project]
        return infos

    @guarded
    def set_sweep_state(
        self,
        sweep_id: str,
        new: SweepState | str,
        *,
        allowed_from: Iterable[SweepState | str],
        reason: str | None = None,
    ) -> SweepInfo:
        """Change the sweep's state if it is now in ``allowed_from`` (and the change is in
        :data:`keys.SWEEP_TRANSITIONS`); else SweepStateError ("sweep X is finished; cannot
        pause"). ``reason`` is kept as ``done_reason``."""
        new = SweepState(new)
        allowed = [
            s.value for s in map(SweepState, allowed_from) if new in keys.SWEEP_TRANSITIONS[s]
        ]
        reply = self._run(
            "set_sweep_state",
            [keys.sweep(sweep_id)],
            [new.value, _arg(reason), "1" if new in _FINAL else "0", *allowed],
        )
        status = reply[0]
        if status == b"missing":
            raise NotFoundError(f"no sweep {sweep_id!r}")
        if status == b"refused":
            current = reply[1].decode()
            raise SweepStateError(
                f"sweep {sweep_id} is {current}; cannot {_VERBS[new]}", sweep_id, current
            )
        return self.get_sweep(sweep_id)

    @guarded
    def sweep_state(self, sweep_id: str) -> SweepState:
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
            reply = self._run(
                "update_config",
                [
                    keys.sweep(sweep_id),
                    keys.trials(sweep_id),
                    keys.queue(sweep_id),
                    *(keys.trial(sweep_id, t) for t in ids),
                ],
                [packed, _arg(grid_size), _arg(run_cap), len(ids), *ids],
            )
            status = reply[0]
            if status == b"ok":
                return int(reply[1])
            if status == b"missing":
                raise NotFoundError(f"no sweep {sweep_id!r}")
            if status == b"started":
                trial_id, state = reply[1].decode(), reply[2].decode()
                current = self.sweep_state(sweep_id).value
                raise SweepStateError(
                    f"sweep {sweep_id} cannot be updated: its run {trial_id} has started "
                    f"(it is {state}); create a new sweep instead",
                    sweep_id,
                    current,
                )
        raise StoreError(f"sweep {sweep_id} kept changing; could not update its config")

    # ---- the controller lease -----------------------------------------------------------------

    @guarded
    def acquire_controller(self, sweep_id: str, holder: str, ttl_ms: int) -> int | None:
        """Take the sweep's controller lease for ``ttl_ms``; return the new fencing epoch, or
        None when another holder has it. Asking again as the same holder keeps the epoch."""
        reply = self._run(
            "acquire_controller",
            [keys.controller(sweep_id), keys.sweep(sweep_id)],
            [holder, int(ttl_ms)],
        )
        if reply[0] == b"missing":
            raise NotFoundError(f"no sweep {sweep_id!r}")
        if reply[0] == b"held":
            return None
        return int(reply[1])

    @guarded
    def controller_holder(self, sweep_id: str) -> str | None:
        """Who holds the sweep's controller lease now (None when nobody)."""
        return text(self._r.get(keys.controller(sweep_id)))

    @guarded
    def controller_lease(self, sweep_id: str) -> tuple[str | None, int]:
        """Who holds the sweep's controller lease and for how many more ms (server time);
        (None, 0) when nobody does. A holder that is alive renews it every third of it."""
        pipe = self._r.pipeline(transaction=False)
        pipe.get(keys.controller(sweep_id))
        pipe.pttl(keys.controller(sweep_id))
        holder, ttl = pipe.execute()
        return text(holder), max(0, int(ttl))

    @guarded
    def controller_epoch(self, sweep_id: str) -> int:
        """The sweep's current fencing epoch (0 before any controller ran)."""
        return opt_int(self._r.hget(keys.sweep(sweep_id), "epoch")) or 0

    @guarded
    def renew_controller(self, sweep_id: str, holder: str, epoch: int, ttl_ms: int) -> bool:
        """Extend the lease; False when this holder was fenced (another took over)."""
        reply = self._run(
            "renew_controller",
            [keys.controller(sweep_id), keys.sweep(sweep_id)],
            [holder, int(epoch), int(ttl_ms)],
        )
        return bool(reply)

    @guarded
    def release_controller(self, sweep_id: str, holder: str, epoch: int) -> bool:
        """Give the lease up so another controller may start at once."""
        reply = self._run(
            "release_controller",
            [keys.controller(sweep_id), keys.sweep(sweep_id)],
            [holder, int(epoch)],
        )
        return bool(reply)

    @guarded
    def set_done_reason(self, sweep_id: str, reason: str) -> None:
        """Record why no more trials will be issued (run_cap, target, grid_exhausted) while
        the last trials may still run; agents leave once nothing is left for them."""
        self._r.hset(keys.sweep(sweep_id), "done_reason", reason)

    @guarded
    def set_crashes_handled(self, sweep_id: str, n: int) -> None:
        """Record that the controller has handled ``n`` crashed trials (retried them, or they
        are out of retries): agents of a done sweep wait while more than that have crashed."""
        self._r.hset(keys.sweep(sweep_id), "crashes_handled", int(n))

    @guarded
    def request_handover(self, sweep_id: str, holder: str, ttl_ms: int) -> None:
        """Ask a background controller (run by an agent) to give the lease to ``holder``."""
        self._r.set(keys.handover(sweep_id), holder, px=int(ttl_ms))

    @guarded
    def handover_requested(self, sweep_id: str) -> str | None:
        """Who asked for the lease, when a dedicated controller is waiting for it."""
        return text(self._r.get(keys.handover(sweep_id)))
