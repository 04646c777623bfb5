"""The store's connection: URLs, retries, error translation, running calls, server time.

Part of :mod:`redsweep.shared.store` (the store modules are the only redis imports).
"""

from __future__ import annotations

import functools
import random
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

try:
    from redis.driver_info import DriverInfo
except ImportError:  # redis-py before 7.1 reads its version at import anyway
    DriverInfo = None

from redsweep import __version__
from redsweep.errors import StoreError, UnreachableError
from redsweep.shared.store.packer import command_packer
from redsweep.shared.store.scripts import Call, Script, lua_source

F = TypeVar("F", bound=Callable[..., Any])

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_SCHEMES = ("redis", "rediss", "unix")


def new_id(length: int = 8) -> str:
    """A random lowercase base-36 id, like W&B's run and sweep ids."""
    # random, not secrets: ids and tokens must be unique, not secret, and secrets costs a
    # system call per character; the random module reseeds itself in a forked child
    return "".join(random.choices(_ID_ALPHABET, k=length))


def new_token(nbytes: int = 12) -> str:
    """A random hex token (a trial's claim, a report's id): unique, not secret."""
    return f"{random.getrandbits(8 * nbytes):0{2 * nbytes}x}"


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (userinfo and ``?password=``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable redis URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user, sep, _password = userinfo.partition(":")
        # a bare userinfo (redis://secret@host) may well be a password too
        netloc = f"{user}:***@{host}" if sep else f"***@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*/"
        )
    # not urlunsplit: it drops the empty host of unix:///path
    out = f"{parts.scheme}://{netloc}{parts.path}"
    if query:
        out += f"?{query}"
    return out


def lease_options(lease_ms: int) -> dict[str, Any]:
    """Options for :meth:`Connection.from_url` for calls that keep a lease of ``lease_ms``
    alive: each socket wait is at most a fifteenth of the lease (at least 0.1 s) and a call
    is retried once, so no call blocks for more than about a quarter of the lease (two
    attempts, each a connect and a read) and a failed renewal is tried again well before its
    holder's deadline (:mod:`redsweep.worker.trial.fence`)."""
    timeout = max(lease_ms / 15_000, 0.1)
    return {"socket_timeout": timeout, "socket_connect_timeout": timeout, "retries": 1}


class _Refused(Exception):
    def __init__(self, error: AuthenticationError) -> None:
        self.error = error


class _Retry(Retry):
    """Retry connection errors with backoff, but not refused credentials: retrying a wrong
    password only delays the message."""

    def call_with_retry(self, do: Callable[[], Any], fail: Any, *args: Any, **kwargs: Any) -> Any:
        def once() -> Any:
            try:
                return do()
            except AuthenticationError as exc:
                raise _Refused(exc) from exc

        try:
            return super().call_with_retry(once, fail, *args, **kwargs)
        except _Refused as refused:
            raise refused.error from None


def store_error(url: str, exc: BaseException) -> BaseException:
    """redis-py's connection or server error ``exc`` as the StoreError naming the masked
    ``url`` (any other exception as it is)."""
    if isinstance(exc, AuthenticationError):
        return StoreError(f"Redis at {url} refused the credentials: {exc}")
    if isinstance(exc, (RedisConnectionError, RedisTimeoutError)):
        return UnreachableError(f"cannot reach Redis at {url}: {exc}")
    if isinstance(exc, ResponseError):
        return StoreError(f"Redis at {url} refused a command: {exc}")
    return exc


def guarded(fn: F) -> F:
    """Turn redis-py's connection and server errors into StoreError naming the masked URL."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except (AuthenticationError, RedisConnectionError, RedisTimeoutError, ResponseError) as exc:
            raise store_error(self.url, exc) from exc

    return wrapper  # type: ignore[return-value]


def text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def opt_int(raw: bytes | None) -> int | None:
    return None if raw in (None, b"") else int(raw)


def opt_float(raw: bytes | None) -> float | None:
    return None if raw in (None, b"") else float(raw)


class Connection:
    """A connection to one Redis (or Valkey) server, with the scripts registered on it.

    The store's parts (:mod:`~redsweep.shared.store`) share one and run their calls
    (:mod:`~redsweep.shared.store.scripts`) with :meth:`call` and :meth:`batch_calls`, which
    turn redis-py's errors into StoreError (:func:`guarded`, naming ``self.url``); so does each
    of their methods that sends plain commands.
    """

    def __init__(self, client: redis.Redis, url: str = "redis://?") -> None:
        self.client = client
        self.url = mask_url(url)
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        health_check_interval: int = 30,
        socket_connect_timeout: float = 5.0,
        retries: int = 6,
        **kwargs: Any,
    ) -> Connection:
        """Connect to ``redis://``, ``rediss://`` or ``unix://`` (lazily: the first command
        connects). Connection errors are retried with backoff; every change is a CAS, so a
        retried command is harmless. Blocking reads wait as long as asked (no socket timeout).
        """
        scheme = url.split("://", 1)[0].lower() if "://" in url else ""
        if scheme not in _SCHEMES:
            raise StoreError(
                f"not a Redis URL: {mask_url(url)} (use redis://, rediss:// or unix://)"
            )
        if scheme != "unix":
            kwargs.setdefault("socket_keepalive", True)
        if DriverInfo is not None:  # else redis-py looks its version up in the installed
            # packages' metadata at the first connection (2 to 3 ms of every process's start)
            kwargs.setdefault(
                "driver_info",
                DriverInfo(name="redis-py", lib_version=redis.__version__).add_upstream_driver(
                    "redsweep", __version__
                ),
            )
        packer = command_packer()
        if packer is not None:
            kwargs.setdefault("command_packer", packer)
        try:
            client = redis.Redis.from_url(
                url,
                decode_responses=False,
                health_check_interval=health_check_interval,
                socket_connect_timeout=socket_connect_timeout,
                retry=_Retry(ExponentialBackoff(cap=2.0, base=0.05), retries),
                retry_on_error=[RedisConnectionError, RedisTimeoutError],
                **kwargs,
            )
        except ValueError as exc:
            raise StoreError(f"bad Redis URL {mask_url(url)}: {exc}") from None
        return cls(client, url)

    def close(self) -> None:
        """Close every connection of this store."""
        self.client.close()

    def ping(self) -> bool:
        """True when the server answers; False when it cannot be reached or refuses us."""
        try:
            return bool(self.client.ping())
        except (RedisConnectionError, RedisTimeoutError, ResponseError):
            return False

    @guarded
    def server_time_ms(self) -> int:
        """The server's clock in ms since the epoch (never the host's clock)."""
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def script(self, name: str) -> Any:
        """The registered script ``<name>.lua`` (loaded from the package once)."""
        script = self._scripts.get(name)
        if script is None:
            with self._lock:
                script = self._scripts.get(name)
                if script is None:
                    script = self.client.register_script(lua_source(name))
                    self._scripts[name] = script
        return script

    @guarded
    def call(self, call: Call) -> Any:
        """Run one call; what its reply means (:meth:`Call.parse`)."""
        return call.parse(self._send(call))

    @guarded
    def batch_calls(self, *calls: Call) -> tuple[Any, ...]:
        """Run ``calls`` in order in one round trip (not as a transaction); what each reply
        means, each parsed by its own call, in order (the first error raises).

        Scripts go by their SHA alone: redis-py's own pipelined scripts ask the server whether
        it knows them first, a round trip per pipeline. A script the server does not know (it
        was restarted) is loaded and that call run again on its own: a call refused with
        NOSCRIPT changed nothing, and each script is a compare-and-set anyway.
        """
        if len(calls) <= 1:
            return tuple(self.call(c) for c in calls)
        commands = [self.command_of(c) for c in calls]
        return self.parse_replies(calls, self._pipeline(commands))

    @guarded
    def parse_replies(self, calls: Sequence[Call], replies: Sequence[Any]) -> tuple[Any, ...]:
        """What each of ``calls``' ``replies`` means, parsed by its own call, in order (the
        first error raises). A script the server did not know (it was restarted) is loaded
        and that call run again on its own: refused with NOSCRIPT, it changed nothing."""
        results = []
        for c, reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError) and isinstance(c, Script):
                reply = self._send(c)
            elif isinstance(reply, Exception):
                raise reply
            results.append(c.parse(reply))
        return tuple(results)

    def read_replies(self, conn: Any, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """The replies to ``commands``, sent on redis-py connection ``conn``, in order; a
        command the server refused has its error as its reply. Connection errors raise."""
        replies: list[Any] = []
        for command in commands:
            try:
                replies.append(self.client.parse_response(conn, command[0]))
            except ResponseError as exc:
                replies.append(exc)
        return replies

    def command_of(self, call: Call) -> tuple[Any, ...]:
        """The command that runs ``call`` (a script by its SHA alone)."""
        if isinstance(call, Script):
            return ("EVALSHA", self.script(call.script).sha, len(call.keys), *call.keys, *call.args)
        return call.command()

    def wrap(self, exc: BaseException) -> BaseException:
        """redis-py's error ``exc`` as redsweep's (see :func:`store_error`)."""
        return store_error(self.url, exc)

    def _pipeline(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write and read their replies in order; a reply that is an
        error comes back as the exception. What redis-py's pipeline does (a connection error
        retries the whole batch), without its per-batch bookkeeping (WATCH state, HIMPORT
        field sets, operation metrics, a command stack), which cost an agent ~7% of its
        instructions per trivial trial (callgrind: 1.29M to 1.20M)."""
        pool = self.client.connection_pool
        conn = pool.get_connection()

        def attempt() -> list[Any]:
            conn.send_packed_command(conn.pack_commands(commands))
            try:
                return self.read_replies(conn, commands)
            except BaseException:
                conn.disconnect()  # the rest of the replies are still on the socket
                raise

        try:
            return conn.retry.call_with_retry(attempt, lambda _error: conn.disconnect())
        finally:
            pool.release(conn)

    def _send(self, call: Call) -> Any:
        """The raw reply to one call (a script by its SHA, loaded when the server lacks it)."""
        if isinstance(call, Script):
            return self.script(call.script)(keys=call.keys, args=call.args)
        return self.client.execute_command(*call.command())
