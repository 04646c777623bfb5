"""A command trial's end of the channel to its agent: the in-trial API's calls go there, not
to Redis.

The agent starts a command trial with one end of a socket pair, its number in
``REDSWEEP_AGENT_FD``. Each call is a frame (:func:`~redsweep.shared.protocol.pack_frame`)
``[id, kind, args...]``, answered by a frame ``[id, status, value]``: ``hello`` (the trial,
its params and sweep metric), ``report`` (rows and the trial's one warning; the answer is
what the store said, a stop request among it), ``summary`` (keys the script set) and
``renew``. The agent makes the store calls with its own token on its own connection, so the
trial's process holds no Redis URL, no password and no token, and never imports redis.

End of file on the channel means the agent is gone (the kernel closes a dead process's
sockets however it died): the trial stops itself at once, as the agent's launcher stops its group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
import time
from collections.abc import Mapping, Sequence

from redsweep.errors import ProtocolError, RedsweepError, StoreError, UnreachableError
from redsweep.shared.protocol import FrameReader, pack_frame
from redsweep.worker.api.link import TrialLink

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from redsweep.shared.records import RunState

#: The number of the trial's end of the channel (set by its agent).
ENV_AGENT_FD = "REDSWEEP_AGENT_FD"

#: Answer statuses: the value, or the error the agent's store call raised.
OK, UNREACHABLE, REFUSED, INVALID = "ok", "unreachable", "error", "protocol"
_ERRORS: dict[str, type[RedsweepError]] = {
    UNREACHABLE: UnreachableError,
    REFUSED: StoreError,
    INVALID: ProtocolError,
}


class Answer:
    """What the store said to a report or renewal, as the agent passed it on (the fields of
    :class:`~redsweep.shared.store.Renewal`). A plain class: dataclasses cost a trial's start
    more than they give here."""

    __slots__ = ("attempt", "ok", "state", "stop_reason", "stop_requested")

    def __init__(
        self,
        ok: bool,
        stop_requested: bool = False,
        stop_reason: Mapping[str, Any] | None = None,
        state: RunState | None = None,
        attempt: int | None = None,
    ) -> None:
        self.ok = ok
        self.stop_requested = stop_requested
        self.stop_reason = stop_reason
        self.state = state
        self.attempt = attempt


def renewal_fields(renewal: Any) -> dict[str, Any]:
    """A renewal as the agent sends it on the channel."""
    state = renewal.state.value if renewal.state is not None else None
    return {
        "ok": bool(renewal.ok),
        "stop": bool(renewal.stop_requested),
        "reason": dict(renewal.stop_reason) if renewal.stop_reason else None,
        "state": state,
        "attempt": renewal.attempt,
    }


def _answer(fields: Mapping[str, Any]) -> Answer:
    state = fields.get("state")
    if state:  # only when the trial is not held any more
        from redsweep.shared.records import RunState

        state = RunState(state)
    return Answer(
        ok=bool(fields.get("ok")),
        stop_requested=bool(fields.get("stop")),
        stop_reason=fields.get("reason"),
        state=state or None,
        attempt=fields.get("attempt"),
    )


class AgentChannel:
    """Calls to the agent over the socket ``fd`` (from any thread); a reader thread takes
    the answers in and, at end of file, ends this process. Plain reads and writes on the
    descriptor: the socket module costs a trial's start more than it gives."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._send_lock = threading.Lock()
        self._cond = threading.Condition()
        self._answers: dict[int, list[Any]] = {}
        self._next = 0
        self._gone = False
        threading.Thread(target=self._read, name="redsweep-channel", daemon=True).start()

    def call(self, kind: str, *args: Any) -> Any:
        """The agent's answer to ``kind`` with ``args``; raises what its store call raised
        (UnreachableError when the agent is gone)."""
        with self._cond:
            self._next += 1
            ident = self._next
        frame = pack_frame([ident, kind, *args])  # ProtocolError: a value the wire refuses
        try:
            with self._send_lock:
                view = memoryview(frame)
                while view:
                    view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise UnreachableError(f"the agent's channel is closed: {exc}") from None
        with self._cond:
            self._cond.wait_for(lambda: ident in self._answers or self._gone)
            answer = self._answers.pop(ident, None)
        if answer is None:
            raise UnreachableError("the agent is gone")
        _, status, value = answer
        if status == OK:
            return value
        raise _ERRORS.get(status, StoreError)(str(value))

    def _read(self) -> None:
        reader = FrameReader()
        while True:
            try:
                data = os.read(self._fd, 1 << 16)
            except ConnectionResetError:
                data = b""
            except OSError:  # closed by the trial's own code: not a sign of the agent
                return
            try:
                frames = reader.feed(data) if data else None
            except ProtocolError:
                frames = None
            if frames is None:
                break
            with self._cond:
                for frame in frames:
                    if isinstance(frame, list) and len(frame) == 3:
                        self._answers[frame[0]] = frame
                self._cond.notify_all()
        with self._cond:
            self._gone = True
            self._cond.notify_all()
        _agent_gone()


def _agent_gone() -> None:
    """The agent is gone: its trial is not this process's to run any more (its lease is
    nobody's to keep). End at once, with the process group it leads, if any."""
    if os.getpgrp() == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


_channel: tuple[int, AgentChannel] | None = None  # (pid, channel): a forked child has none


def agent_channel() -> AgentChannel | None:
    """This process's channel to its agent, if its agent passed one (opened once)."""
    global _channel
    raw = os.environ.get(ENV_AGENT_FD)
    if not raw:
        return None
    if _channel is not None and _channel[0] == os.getpid():
        return _channel[1]
    try:
        if _channel is not None:
            raise OSError("forked from the trial's process, which holds it")
        fd = int(raw)
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            raise OSError(f"descriptor {fd} is not a socket")
        os.set_inheritable(fd, False)  # the script's own child processes start runs of their own
    except (ValueError, OSError) as exc:
        raise RedsweepError(
            f"{ENV_AGENT_FD}={raw!r} names no channel to an agent ({exc}): only the process the"
            " agent started joins its trial (give other processes runs of their own: clear"
            " WANDB_RUN_ID)"
        ) from None
    _channel = (os.getpid(), AgentChannel(fd))
    return _channel[1]


class ChannelLink(TrialLink):
    """The trial of a command trial's process, as its agent described it: reports, renewals
    and summaries go over ``channel`` (the agent holds the token)."""

    def __init__(self, channel: AgentChannel, info: Mapping[str, Any]) -> None:
        super().__init__(
            None,  # type: ignore[arg-type]  # no store here: the agent makes the calls
            str(info["sweep_id"]),
            str(info["trial_id"]),
            "",
            params=info.get("params") or {},
            metric_name=info.get("metric_name"),
            goal=info.get("goal") or "minimize",
            lease_ms=int(info.get("lease_ms") or 10_000),
            project=info.get("project"),
            history_cap=info.get("history_cap"),
        )
        self.channel = channel

    def renew(self) -> Answer:  # type: ignore[override]
        sent = time.monotonic()
        answer = _answer(self.channel.call("renew"))
        self._renewed(answer, sent)  # type: ignore[arg-type]
        self.note(answer)  # type: ignore[arg-type]
        return answer

    def report(  # type: ignore[override]
        self, rows: Sequence[tuple[int, Mapping[str, Any]]], note: str = ""
    ) -> Answer:
        sent = time.monotonic()
        answer = _answer(self.channel.call("report", [[s, r] for s, r in rows], note))
        self._renewed(answer, sent)  # type: ignore[arg-type]
        return answer

    def set_summary(self, row: Mapping[str, Any]) -> bool:
        return bool(self.channel.call("summary", dict(row)))


def channel_link(channel: AgentChannel) -> ChannelLink:
    """The trial the agent at the other end of ``channel`` runs this process for."""
    return ChannelLink(channel, channel.call("hello"))
