"""Reading trials back: one trial, all of them, their histories and summaries, engine runs.

Part of :mod:`redsweep.shared.store`; reads only, every multi-key read pipelined.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from redsweep.errors import NotFoundError
from redsweep.shared.protocol import unpack_rows, unpack_value
from redsweep.shared.records import RunRecord, RunState
from redsweep.shared.store import keys
from redsweep.shared.store.connection import Connection, guarded, opt_float, opt_int, text
from redsweep.shared.store.replies import TrialInfo


def trial_info(sweep_id: str, raw: Mapping[bytes, bytes], trial_id: str = "") -> TrialInfo:
    """A TrialInfo of trial ``trial_id`` from its hash as HGETALL returns it (the hash holds
    no id: the key has it)."""
    get = raw.get  # (bytes keys, written out: this runs once per run of a 10,000-run page)
    params = keys.unchunked(raw, "params")
    reason = get(b"stop_reason")
    return TrialInfo(
        id=trial_id or text(get(b"id")) or "",
        sweep_id=sweep_id,
        seq=opt_int(get(b"seq")) or 0,
        state=RunState(text(get(b"state"))),
        attempt=opt_int(get(b"attempt")) or 1,
        params=unpack_value(params) if params else {},
        retry_of=text(get(b"retry_of")),
        worker=text(get(b"worker")),
        created_ms=opt_int(get(b"created_ms")) or 0,
        claimed_ms=opt_int(get(b"claimed_ms")),
        finished_ms=opt_int(get(b"finished_ms")),
        error=text(get(b"error")),
        log_tail=text(get(b"log_tail")),
        best=opt_float(get(b"best")),
        last_step=opt_int(get(b"last_step")),
        stop_requested=get(b"stop_requested") == b"1",
        stop_reason=unpack_value(reason) if reason else None,
        lease_until_ms=opt_int(get(b"lease_until")),
        history_rows=opt_int(get(b"history_rows")) or 0,
        warning=text(get(b"warning")),
        log_host=text(get(b"log_host")),
        log_path=text(keys.unchunked(raw, "log_path")),
    )


class Reads:
    """Trials read back: records, histories, summaries, the engines' run records."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._r = conn.client
        self.url = conn.url

    @guarded
    def trial(self, sweep_id: str, trial_id: str) -> TrialInfo:
        """The trial; NotFoundError when there is none."""
        raw = self._r.hgetall(keys.trial(sweep_id, trial_id))
        if not raw:
            raise NotFoundError(f"no trial {trial_id!r} in sweep {sweep_id!r}")
        return trial_info(sweep_id, raw, trial_id)

    @guarded
    def trial_ids(self, sweep_id: str) -> list[str]:
        """Every trial id of the sweep, in the order they were added."""
        return [t.decode() for t in self._r.zrange(keys.trials(sweep_id), 0, -1)]

    @guarded
    def trials(self, sweep_id: str, trial_ids: Iterable[str] | None = None) -> list[TrialInfo]:
        """Every trial of the sweep (or those of ``trial_ids`` that exist), in the order they
        were added (or given), in one pipelined round trip."""
        ids = self.trial_ids(sweep_id) if trial_ids is None else list(trial_ids)
        pipe = self._r.pipeline(transaction=False)
        for trial_id in ids:
            pipe.hgetall(keys.trial(sweep_id, trial_id))
        replies = pipe.execute()
        return [trial_info(sweep_id, raw, t) for t, raw in zip(ids, replies, strict=True) if raw]

    @guarded
    def history(self, sweep_id: str, trial_id: str) -> list[dict[str, Any]]:
        """The trial's logged rows, oldest first, each with its ``_step`` (past the history
        cap, the rows report.lua kept: the first, every k-th and the latest)."""
        pipe = self._r.pipeline(transaction=False)
        pipe.get(keys.trial_history(sweep_id, trial_id))
        pipe.hgetall(keys.trial_latest(sweep_id, trial_id))
        return _rows(*pipe.execute())

    @guarded
    def histories(self, sweep_id: str, trial_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """The logged rows of each of ``trial_ids`` (as :meth:`history`), in one pipelined
        round trip: trial id -> rows."""
        ids = list(trial_ids)
        pipe = self._r.pipeline(transaction=False)
        for trial_id in ids:
            pipe.get(keys.trial_history(sweep_id, trial_id))
            pipe.hgetall(keys.trial_latest(sweep_id, trial_id))
        replies = iter(pipe.execute())
        return {trial_id: _rows(next(replies), next(replies)) for trial_id in ids}

    @guarded
    def mark(self, sweep_id: str) -> str:
        """A short text that changes whenever the sweep does: its state or counts change, or a
        trial starts, reports, finishes or crashes (the id of the sweep's last event). For
        watchers that poll: compare it, and read the sweep again only when it changed."""
        pipe = self._r.pipeline(transaction=False)
        pipe.hmget(keys.sweep(sweep_id), "state", "updated_ms", "issued", "best_value")
        pipe.xrevrange(keys.events(sweep_id), count=1)
        fields, last = pipe.execute()
        if fields[0] is None:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        head = "/".join((v or b"").decode() for v in fields)
        return f"{head}/{last[0][0].decode() if last else ''}"

    @guarded
    def warning(self, sweep_id: str, trial_id: str) -> str | None:
        """What the trial's log() dropped (its one warning), if anything."""
        return text(self._r.hget(keys.trial(sweep_id, trial_id), "warning"))

    @guarded
    def summary(self, sweep_id: str, trial_id: str) -> dict[str, Any]:
        """The trial's summary: each metric's last logged (or final) value."""
        return _summary(self._r.hgetall(keys.trial_summary(sweep_id, trial_id)))

    @guarded
    def runs(
        self,
        sweep_id: str,
        trial_ids: Iterable[str] | None = None,
        *,
        history: bool = True,
        summary: bool = True,
    ) -> list[tuple[TrialInfo, RunRecord]]:
        """Each trial's record and its engine :class:`~redsweep.shared.records.RunRecord` (with
        ``summary`` its summary, else an empty one; with ``history`` every logged row), in one
        pipelined round trip; trials that do not exist are left out."""
        ids = self.trial_ids(sweep_id) if trial_ids is None else list(trial_ids)
        pipe = self._r.pipeline(transaction=False)
        for trial_id in ids:
            pipe.hgetall(keys.trial(sweep_id, trial_id))
            if summary:
                pipe.hgetall(keys.trial_summary(sweep_id, trial_id))
            if history:
                pipe.get(keys.trial_history(sweep_id, trial_id))
                pipe.hgetall(keys.trial_latest(sweep_id, trial_id))
        replies = iter(pipe.execute())
        out = []
        for trial_id in ids:
            raw = next(replies)
            summed = next(replies) if summary else {}
            rows = _rows(next(replies), next(replies)) if history else []
            if not raw:
                continue
            trial = trial_info(sweep_id, raw, trial_id)
            run = RunRecord(
                id=trial_id,
                state=trial.state,
                params=trial.params,
                history=tuple(rows),
                summary=_summary(summed),
            )
            out.append((trial, run))
        return out


def _rows(
    packed: bytes | None, latest: Mapping[bytes, bytes] | None = None
) -> list[dict[str, Any]]:
    """The stored rows, then the latest row when they lack it."""
    rows = [{**row, "_step": step} for step, row in unpack_rows(packed or b"")]
    if latest:
        row = dict(unpack_value(latest[b"row"]))
        row["_step"] = int(latest[b"step"])
        rows.append(row)
    return rows


def _summary(raw: Mapping[bytes, bytes]) -> dict[str, Any]:
    return {name.decode(): unpack_value(value) for name, value in raw.items()}
