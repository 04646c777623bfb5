"""One command to a local server on its unix socket, without a Redis client library.

Used to ping and shut down the embedded server: only the store imports redis, and these two
commands need no more than a few lines of RESP.
"""

from __future__ import annotations

import socket
from typing import BinaryIO

from redsweep.errors import RedsweepError


def unix_command(path: str, *args: bytes, timeout: float = 1.0) -> str | int | None:
    """Send one command to the server on unix socket ``path`` and return its reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        with sock.makefile("rb") as reader:
            sock.sendall(encode_command(*args))
            return read_reply(reader)


def encode_command(*args: bytes) -> bytes:
    """A command as RESP bytes."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
    return b"".join(out)


def read_reply(reader: BinaryIO) -> str | int | None:
    """Read one RESP reply of a simple kind; an error reply raises RedsweepError."""
    line = reader.readline()
    if not line:
        return None  # connection closed (SHUTDOWN)
    if not line.endswith(b"\r\n"):
        raise RedsweepError(f"malformed reply from the server: {line!r}")
    kind, body = line[:1], line[1:-2].decode("utf-8", "replace")
    if kind == b"+":
        return body
    if kind == b"-":
        raise RedsweepError(f"server replied: {body}")
    if kind == b":":
        return int(body)
    if kind == b"$":
        size = int(body)
        if size < 0:
            return None
        data = reader.read(size + 2)
        return data[:-2].decode("utf-8", "replace")
    raise RedsweepError(f"unexpected reply from the server: {line!r}")
