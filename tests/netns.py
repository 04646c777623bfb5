"""Several hosts on one machine: Linux network namespaces joined by veth pairs make a Redis
host and two worker hosts, each with its own address (10.231.1.0/24 and 10.231.2.0/24, which
exist nowhere else). The ``hosts`` fixture (conftest.py) builds them and removes them again in
every path. Needs root (or CAP_NET_ADMIN and CAP_SYS_ADMIN); skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from redsweep.shared.server.local import find_server_binary


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=20)


def skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "creating network namespaces needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN)"
    probe = f"rsprobe{os.getpid()}"
    result = _ip("netns", "add", probe, check=False)
    if result.returncode != 0:
        return f"cannot create a network namespace here: {result.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


class Hosts:
    """A Redis host and two worker hosts; each worker host has a veth link to the Redis host."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:6]
        self.redis_ns = f"rs{tag}r"
        self.worker_ns = {"w1": f"rs{tag}1", "w2": f"rs{tag}2"}
        # worker host -> (its veth end, its address, the Redis host's address on that link)
        self.links = {
            "w1": (f"v{tag}1w", "10.231.1.2", "10.231.1.1"),
            "w2": (f"v{tag}2w", "10.231.2.2", "10.231.2.1"),
        }
        self._peers = {"w1": f"v{tag}1r", "w2": f"v{tag}2r"}
        self.created: list[str] = []

    def build(self) -> None:
        for ns in (self.redis_ns, *self.worker_ns.values()):
            _ip("netns", "add", ns)
            self.created.append(ns)
            _ip("-n", ns, "link", "set", "lo", "up")
        for host, (veth, address, redis_address) in self.links.items():
            ns, peer = self.worker_ns[host], self._peers[host]
            # created inside the worker namespace, so nothing ever appears in the host's
            _ip("-n", ns, "link", "add", veth, "type", "veth", "peer", "name", peer)
            _ip("-n", ns, "link", "set", peer, "netns", self.redis_ns)
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", veth)
            _ip("-n", self.redis_ns, "addr", "add", f"{redis_address}/24", "dev", peer)
            _ip("-n", ns, "link", "set", veth, "up")
            _ip("-n", self.redis_ns, "link", "set", peer, "up")

    def cut(self, host: str) -> None:
        """Pull the worker host's cable: its link goes down, nothing reaches Redis."""
        _ip("-n", self.worker_ns[host], "link", "set", self.links[host][0], "down")

    def heal(self, host: str) -> None:
        """Plug the worker host's cable back in."""
        _ip("-n", self.worker_ns[host], "link", "set", self.links[host][0], "up")

    def redis_argv(self, data_dir: Path, password: str) -> tuple[list[str], str]:
        """The argv of a redis-server on the Redis host (listening on its link addresses and
        on a unix socket in ``data_dir``, with ``password``) and the socket's URL, through
        which the test itself (outside the namespaces) reaches it."""
        sock = data_dir / "redis.sock"
        conf = data_dir / "redis.conf"
        addresses = " ".join(link[2] for link in self.links.values())
        conf.write_text(
            f'bind {addresses}\nport 6379\nprotected-mode no\nsave ""\nappendonly no\n'
            f"unixsocket {sock}\nunixsocketperm 700\nrequirepass {password}\ndir {data_dir}\n"
        )
        conf.chmod(0o600)
        argv = self.exec_argv(self.redis_ns, [find_server_binary(), str(conf)])
        return argv, f"unix://:{password}@{sock}?db=0"

    def url(self, host: str, password: str) -> str:
        """The Redis URL as seen from worker host ``host``."""
        return f"redis://:{password}@{self.links[host][2]}:6379/0"

    def exec_argv(self, ns: str, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def destroy(self) -> None:
        """Kill every process left in the namespaces, then delete them (and so the links)."""
        for ns in self.created:
            pids = _ip("netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
        deadline = time.monotonic() + 10
        for ns in self.created:
            while _ip("netns", "pids", ns, check=False).stdout.split():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            _ip("netns", "del", ns, check=False)
        self.created.clear()

    def left(self) -> set[str]:
        """This harness's namespaces that still exist (none, after ``destroy``)."""
        listed = set(_ip("netns", "list", check=False).stdout.split())
        return listed & {self.redis_ns, *self.worker_ns.values()}
