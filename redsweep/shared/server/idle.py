"""The idle watcher of a local server: stops the server once no client used it for a while.

Started beside the embedded server (``python -m redsweep.shared.server.idle DIR SOCKET IDLE_S``,
in its own session) unless the server is kept (``redsweep server start --keep``). Every few
seconds it asks the server, over the unix socket, how many clients are connected and how many
connections it has taken so far; a client connected, or a connection since the last look
(other than its own), is activity. After ``IDLE_S`` seconds without any it shuts the server
down (the append-only file is flushed: the data stays) and removes it from the registry. It
exits, leaving the server alone, when the server is kept (the ``keep`` file in DIR appears) or
is gone.
"""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

from redsweep.errors import RedsweepError
from redsweep.shared.server import registry
from redsweep.shared.server.resp import encode_command, read_reply

KEEP_NAME = "keep"
#: how often the watcher looks, at most (s); a short idle time looks more often
LOOK_EVERY_S = 5.0


def _counts(path: str) -> tuple[int, int]:
    """(connected clients, connections received so far), over one connection of ours."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(5.0)
        sock.connect(path)
        with sock.makefile("rb") as reader:
            sock.sendall(encode_command(b"INFO", b"clients") + encode_command(b"INFO", b"stats"))
            text = f"{read_reply(reader)}\n{read_reply(reader)}"
    fields = dict(
        line.split(":", 1) for line in text.splitlines() if ":" in line and not line.startswith("#")
    )
    return int(fields["connected_clients"]), int(fields["total_connections_received"])


def watch(server_dir: Path, path: str, idle_s: float) -> str:
    """Watch until the server is stopped, kept or gone; returns which."""
    every = min(LOOK_EVERY_S, max(0.05, idle_s / 10))
    idle_since = time.monotonic()
    seen: int | None = None
    while True:
        if (server_dir / KEEP_NAME).exists():
            return "kept"
        try:
            connected, received = _counts(path)
        except (OSError, RedsweepError, KeyError, ValueError):
            registry.unregister(server_dir)
            return "gone"
        others_came = seen is not None and received - seen > 1  # one is our own look
        seen = received
        now = time.monotonic()
        if connected > 1 or others_came:
            idle_since = now
        elif now - idle_since >= idle_s:
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(30.0)
                    sock.connect(path)
                    sock.sendall(encode_command(b"SHUTDOWN"))
                    sock.recv(1)  # the server closes the connection once it has saved
            except OSError:
                pass
            registry.unregister(server_dir)
            return "stopped"
        time.sleep(every)


def main(argv: list[str]) -> int:
    server_dir, path, idle_s = Path(argv[0]), argv[1], float(argv[2])
    what = watch(server_dir, path, idle_s)
    print(f"redsweep idle watcher: the server {what}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
