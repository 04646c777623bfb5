"""The agent's end of a command trial's channel (:mod:`redsweep.worker.api.channel` is the
trial's): a thread answers the trial's calls with the agent's own store calls, made with the
trial's token on the agent's lease connection, so the trial needs no Redis of its own.

What the store answers a report is taken in by the agent's link too: a stop request or a lost
lease reaches the agent's supervision of the trial at once, not at its next renewal.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Any

from redsweep.errors import ProtocolError, RedsweepError, UnreachableError
from redsweep.shared.protocol import FrameReader, pack_frame
from redsweep.worker.api.channel import INVALID, OK, REFUSED, UNREACHABLE, renewal_fields
from redsweep.worker.api.link import TrialLink


class TrialChannel:
    """A socket pair for the command trial of ``link``: :attr:`theirs` goes to the trial
    (inheritable: pass its number), :meth:`start` serves the calls on ours once the trial
    runs, :meth:`close` ends it (after the trial's process group is gone)."""

    def __init__(self, link: TrialLink) -> None:
        self.link = link
        self._ours, self.theirs = socket.socketpair()
        self.theirs.set_inheritable(True)
        self._thread: threading.Thread | None = None

    @property
    def fd(self) -> int:
        """The number of the trial's end (before :meth:`start`)."""
        return self.theirs.fileno()

    def start(self) -> None:
        """Close our copy of the trial's end and serve its calls from a thread."""
        self.theirs.close()
        self._thread = threading.Thread(
            target=self._serve, name=f"redsweep-channel-{self.link.trial_id}", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Cut the channel (the trial is gone) and let the thread end."""
        self.theirs.close()
        with contextlib.suppress(OSError):
            self._ours.shutdown(socket.SHUT_RDWR)
        self._ours.close()
        if self._thread is not None:
            self._thread.join(5.0)

    def _serve(self) -> None:
        reader = FrameReader()
        while True:
            try:
                data = self._ours.recv(1 << 16)
                frames = reader.feed(data) if data else None
            except (OSError, ProtocolError):  # closed, or not our trial's API talking
                return
            if frames is None:
                return
            for frame in frames:
                try:
                    self._ours.sendall(pack_frame(self._answer(frame)))
                except (OSError, ProtocolError):
                    return

    def _answer(self, frame: Any) -> list[Any]:
        if not isinstance(frame, list) or len(frame) < 2:
            return [None, INVALID, "not a call"]
        ident, kind, args = frame[0], frame[1], frame[2:]
        try:
            return [ident, OK, self._call(kind, args)]
        except UnreachableError as exc:
            return [ident, UNREACHABLE, str(exc)]
        except ProtocolError as exc:
            return [ident, INVALID, str(exc)]
        except (RedsweepError, TypeError, ValueError, KeyError) as exc:
            return [ident, REFUSED, str(exc) or type(exc).__name__]

    def _call(self, kind: str, args: list[Any]) -> Any:
        link = self.link
        if kind == "hello":
            return {
                "sweep_id": link.sweep_id,
                "trial_id": link.trial_id,
                "params": link.params,
                "metric_name": link.metric_name,
                "goal": link.goal,
                "lease_ms": link.lease_ms,
                "project": link.project,
                "history_cap": link.history_cap,
            }
        if kind == "report":
            rows, note = args
            renewal = link.report([(int(step), row) for step, row in rows], str(note))
            link.note(renewal)
            return renewal_fields(renewal)
        if kind == "renew":
            return renewal_fields(link.renew())
        if kind == "summary":
            [row] = args
            return link.set_summary(row)
        raise ValueError(f"unknown call {kind!r}")
