"""The store's connection: URLs, retries, error translation, Lua scripts, server time.

Part of :mod:`redsweep.shared.store` (the store modules are the only redis imports).
"""

from __future__ import annotations

import functools
import random
import re
import threading
from collections.abc import Callable, Sequence
from importlib import resources
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.exceptions import AuthenticationError, NoScriptError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from redsweep.errors import StoreError
from redsweep.shared.store.keys import NO_START_STATES

F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound="StoreBase")

_ID_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"
_SCHEMES = ("redis", "rediss", "unix")

#: Bounds for the streams that nobody trims otherwise (approximate, MAXLEN ~).
EVENTS_MAXLEN = 100_000
DEAD_LETTERS_MAXLEN = 10_000
#: Sweep states in which no trial may start (claim.lua refuses: the entry goes back).
NO_START = tuple(sorted(s.value for s in NO_START_STATES))
#: Error and log text kept on a trial (the tail end is kept).
MAX_TEXT_CHARS = 64 * 1024


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


def guarded(fn: F) -> F:
    """Turn redis-py's connection and server errors into StoreError naming the masked URL."""

    @functools.wraps(fn)
    def wrapper(self: StoreBase, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(self, *args, **kwargs)
        except AuthenticationError as exc:
            raise StoreError(f"Redis at {self.url} refused the credentials: {exc}") from exc
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise StoreError(f"cannot reach Redis at {self.url}: {exc}") from exc
        except ResponseError as exc:
            raise StoreError(f"Redis at {self.url} refused a command: {exc}") from exc

    return wrapper  # type: ignore[return-value]


def text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def opt_int(raw: bytes | None) -> int | None:
    return None if raw in (None, b"") else int(raw)


def opt_float(raw: bytes | None) -> float | None:
    return None if raw in (None, b"") else float(raw)


def tail(value: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    """The last ``limit`` characters of ``value`` ('' for None)."""
    if not value:
        return ""
    return value if len(value) <= limit else value[-limit:]


_INCLUDE = re.compile(r"^-- #include (\w+)$", re.MULTILINE)


def lua_source(name: str) -> str:
    """The text of ``lua/<name>.lua``; a line ``-- #include other`` becomes the script
    ``other`` as a local function ``other(KEYS, ARGV)``, so that one script can make another's
    compare-and-set part of a bigger step without a second copy of it."""
    text = resources.files("redsweep.shared.store").joinpath(f"lua/{name}.lua").read_text("utf-8")

    def include(match: re.Match[str]) -> str:
        other = match.group(1)
        return f"local function {other}(KEYS, ARGV)\n{lua_source(other)}\nend"

    return _INCLUDE.sub(include, text)


class StoreBase:
    """A connection to one Redis (or Valkey) server, with the scripts registered on it."""

    def __init__(self, client: redis.Redis, url: str = "redis://?") -> None:
        self._r = client
        self.url = mask_url(url)
        self._scripts: dict[str, Any] = {}
        self._lock = threading.Lock()
        # (sweep id, consumer) -> where read_events continues: a pending entry id or ">"
        self._event_cursors: dict[tuple[str, str], str] = {}

    @classmethod
    def from_url(
        cls: type[S],
        url: str,
        *,
        health_check_interval: int = 30,
        socket_connect_timeout: float = 5.0,
        retries: int = 6,
        **kwargs: Any,
    ) -> S:
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

    @property
    def client(self) -> redis.Redis:
        """The underlying redis-py client (for the store modules and tests)."""
        return self._r

    def close(self) -> None:
        """Close every connection of this store."""
        self._r.close()

    def ping(self) -> bool:
        """True when the server answers; False when it cannot be reached or refuses us."""
        try:
            return bool(self._r.ping())
        except (RedisConnectionError, RedisTimeoutError, ResponseError):
            return False

    @guarded
    def server_time_ms(self) -> int:
        """The server's clock in ms since the epoch (never the host's clock)."""
        seconds, micros = self._r.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def _script(self, name: str) -> Any:
        """The registered script ``lua/<name>.lua`` (loaded from the package once)."""
        script = self._scripts.get(name)
        if script is None:
            with self._lock:
                script = self._scripts.get(name)
                if script is None:
                    script = self._r.register_script(lua_source(name))
                    self._scripts[name] = script
        return script

    def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self._script(name)(keys=list(keys), args=list(args))

    def _batch(self) -> Batch:
        """A pipeline for several calls in one round trip (see :class:`Batch`)."""
        return Batch(self)


class Batch:
    """Commands and scripts sent in one round trip, run in order (not as a transaction).

    Scripts go by their SHA alone: redis-py's own pipelined scripts ask the server whether it
    knows them first, a round trip per pipeline. A script the server does not know (it was
    restarted) is loaded and that call run again on its own: a call refused with NOSCRIPT
    changed nothing, and each script is a compare-and-set anyway.
    """

    def __init__(self, store: StoreBase) -> None:
        self._store = store
        self.pipe = store._r.pipeline(transaction=False)
        self._scripts: dict[int, tuple[str, list[str], list[Any]]] = {}

    def script(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> None:
        """Queue the script ``lua/<name>.lua``."""
        sha = self._store._script(name).sha
        self._scripts[len(self.pipe.command_stack)] = (name, list(keys), list(args))
        self.pipe.evalsha(sha, len(keys), *keys, *args)

    def execute(self) -> list[Any]:
        """Send everything; the replies in order (errors other than NOSCRIPT raise)."""
        scripts, self._scripts = self._scripts, {}
        replies = self.pipe.execute(raise_on_error=False)
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError) and i in scripts:
                replies[i] = self._store._run(*scripts[i])
            elif isinstance(reply, Exception):
                raise reply
        return replies
