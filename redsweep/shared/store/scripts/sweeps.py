"""Calls about sweeps and their controller lease: create, change state, replace the config,
set fields; acquire, renew and release the lease with its fencing epoch, ask for a handover;
make the controller's events group.

Part of :mod:`redsweep.shared.store.scripts`; the allowed state changes are
:data:`redsweep.shared.store.keys.SWEEP_TRANSITIONS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redsweep.errors import NotFoundError, SweepStateError
from redsweep.shared.protocol import pack_value
from redsweep.shared.records import SweepState
from redsweep.shared.store import keys
from redsweep.shared.store.connection import new_id
from redsweep.shared.store.scripts import EVENTS_MAXLEN, Script, optional

# What a refused change is called in "sweep X is finished; cannot pause".
_VERBS = {
    SweepState.PENDING: "reset",
    SweepState.RUNNING: "run",
    SweepState.PAUSED: "pause",
    SweepState.FINISHED: "finish",
    SweepState.CANCELED: "cancel",
}


class CreateSweep(Script):
    """create_sweep.lua: a new sweep (state pending) under a new id, ``sweep_id``. Parses to
    False when the id is taken (make another call)."""

    script = "create_sweep"

    def __init__(
        self,
        config_raw: Mapping[str, Any],
        *,
        project: str | None = None,
        name: str | None = None,
        grid_size: int | None = None,
        run_cap: int | None = None,
    ) -> None:
        self.sweep_id = sweep_id = new_id()
        self.keys = [keys.sweep(sweep_id), keys.sweeps_index()]
        self.args = [
            sweep_id,
            pack_value(dict(config_raw)),
            optional(project),
            optional(name),
            optional(grid_size),
            optional(run_cap),
        ]

    def parse(self, reply: list[Any]) -> bool:
        return reply[0] == b"ok"


#: The states that are over, as set_sweep_state.lua looks them up.
_OVER = " " + " ".join(s.value for s in SweepState if s.is_over) + " "


class SetSweepState(Script):
    """set_sweep_state.lua: the sweep's state becomes ``new`` if it is now in ``allowed_from``
    (and the change is in :data:`keys.SWEEP_TRANSITIONS`); ``reason`` is kept as
    ``done_reason``; with ``idle``, only while no trial is pending or running. Parses to the
    state it had, None when not ``idle``; NotFoundError, or SweepStateError ("sweep X is
    finished; cannot pause")."""

    script = "set_sweep_state"

    def __init__(
        self,
        sweep_id: str,
        new: SweepState | str,
        *,
        allowed_from: Iterable[SweepState | str],
        reason: str | None = None,
        idle: bool = False,
    ) -> None:
        self.sweep_id = sweep_id
        self.new = new = SweepState(new)
        allowed = [
            s.value for s in map(SweepState, allowed_from) if new in keys.SWEEP_TRANSITIONS[s]
        ]
        self.keys = [keys.sweep(sweep_id)]
        over = "1" if new.is_over else "0"
        self.args = [new.value, optional(reason), over, _OVER, "1" if idle else "0", *allowed]

    def parse(self, reply: list[Any]) -> SweepState | None:
        answer = reply[0]
        if answer == b"missing":
            raise NotFoundError(f"no sweep {self.sweep_id!r}")
        if answer == b"busy":
            return None
        current = reply[1].decode()
        if answer == b"refused":
            raise SweepStateError(
                f"sweep {self.sweep_id} is {current}; cannot {_VERBS[self.new]}",
                self.sweep_id,
                current,
            )
        return SweepState(current)


class UpdateConfig(Script):
    """update_config.lua: replace the sweep's config while none of its trials has started,
    removing the pending ones; ``trial_ids`` are the sweep's trials as just read. Parses to
    how many were removed, or None when trials were added meanwhile (read them again);
    NotFoundError, or SweepStateError once a trial has started."""

    script = "update_config"

    def __init__(
        self,
        sweep_id: str,
        packed_config: bytes,
        trial_ids: Sequence[str],
        *,
        grid_size: int | None = None,
        run_cap: int | None = None,
    ) -> None:
        self.sweep_id = sweep_id
        self.keys = [
            keys.sweep(sweep_id),
            keys.trials(sweep_id),
            keys.queue(sweep_id),
            *(keys.trial(sweep_id, t) for t in trial_ids),
        ]
        self.args = [
            packed_config,
            optional(grid_size),
            optional(run_cap),
            len(trial_ids),
            *trial_ids,
        ]

    def parse(self, reply: list[Any]) -> int | None:
        answer = reply[0]
        if answer == b"ok":
            return int(reply[1])
        if answer == b"missing":
            raise NotFoundError(f"no sweep {self.sweep_id!r}")
        if answer == b"started":
            trial_id, state, current = (r.decode() for r in reply[1:4])
            raise SweepStateError(
                f"sweep {self.sweep_id} cannot be updated: its run {trial_id} has started "
                f"(it is {state}); create a new sweep instead",
                self.sweep_id,
                current,
            )
        return None  # changed meanwhile


class AcquireController(Script):
    """acquire_controller.lua: take the sweep's controller lease for ``ttl_ms``. Parses to the
    new fencing epoch (the same one when ``holder`` has it already), None when another holder
    has it; NotFoundError."""

    script = "acquire_controller"

    def __init__(self, sweep_id: str, holder: str, ttl_ms: int) -> None:
        self.sweep_id = sweep_id
        self.keys = [keys.controller(sweep_id), keys.sweep(sweep_id)]
        self.args = [holder, int(ttl_ms)]

    def parse(self, reply: list[Any]) -> int | None:
        if reply[0] == b"missing":
            raise NotFoundError(f"no sweep {self.sweep_id!r}")
        if reply[0] == b"held":
            return None
        return int(reply[1])


class RenewController(Script):
    """renew_controller.lua: extend the lease for ``ttl_ms``. Parses to False when this
    holder was fenced (another took over)."""

    script = "renew_controller"

    def __init__(self, sweep_id: str, holder: str, epoch: int, ttl_ms: int) -> None:
        self.keys = [keys.controller(sweep_id), keys.sweep(sweep_id)]
        self.args = [holder, int(epoch), int(ttl_ms)]

    def parse(self, reply: int) -> bool:
        return bool(reply)


class ReleaseController(Script):
    """release_controller.lua: give the lease up so another controller may start at once
    (with ``wake``, a blocking read of the sweep's events returns). Parses to False when not
    held by this holder at this epoch."""

    script = "release_controller"

    def __init__(self, sweep_id: str, holder: str, epoch: int, *, wake: bool = False) -> None:
        self.keys = [keys.controller(sweep_id), keys.sweep(sweep_id), keys.events(sweep_id)]
        self.args = [holder, int(epoch), "1" if wake else "", EVENTS_MAXLEN]

    def parse(self, reply: int) -> bool:
        return bool(reply)


class SetSweepFields(Script):
    """set_sweep_fields.lua: set ``fields`` of the sweep hash while the sweep exists; parses
    to None, NotFoundError when it does not (nothing written)."""

    script = "set_sweep_fields"

    def __init__(self, sweep_id: str, fields: Mapping[str, Any]) -> None:
        self.sweep_id = sweep_id
        self.keys = [keys.sweep(sweep_id)]
        self.args = [x for name, value in fields.items() for x in (name, value)]

    def parse(self, reply: int) -> None:
        if not reply:
            raise NotFoundError(f"no sweep {self.sweep_id!r}")


class RequestHandover(Script):
    """request_handover.lua: ask a background controller to yield the lease to ``holder``
    (the request lasts ``ttl_ms``); NotFoundError when the sweep does not exist."""

    script = "request_handover"

    def __init__(self, sweep_id: str, holder: str, ttl_ms: int) -> None:
        self.sweep_id = sweep_id
        self.keys = [keys.handover(sweep_id), keys.sweep(sweep_id)]
        self.args = [holder, int(ttl_ms)]

    def parse(self, reply: int) -> None:
        if not reply:
            raise NotFoundError(f"no sweep {self.sweep_id!r}")


class EnsureEventsGroup(Script):
    """ensure_events_group.lua: the controller's consumer group on the sweep's events stream
    (made with the stream when missing); NotFoundError when the sweep does not exist."""

    script = "ensure_events_group"

    def __init__(self, sweep_id: str) -> None:
        self.sweep_id = sweep_id
        self.keys = [keys.events(sweep_id), keys.sweep(sweep_id)]
        self.args = [keys.EVENTS_GROUP]

    def parse(self, reply: int) -> None:
        if int(reply) < 0:
            raise NotFoundError(f"no sweep {self.sweep_id!r}")
