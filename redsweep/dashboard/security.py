"""Who may use the dashboard: an ASGI middleware in front of the app.

* On 127.0.0.1 (the default), localhost or ::1 only requests naming a loopback host are
  served, so a web page elsewhere cannot reach the dashboard by DNS rebinding.
* On any other address every request but the static assets must carry the token printed at
  start (``?token=...``, which the pages carry on every link and request).
* Every POST (the control buttons) must carry the page's CSRF secret in an ``X-CSRF-Token``
  header and, when the browser sends an ``Origin``, come from the dashboard's own origin: a
  form on another site can do neither.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

LOOPBACK_NAMES = ("localhost",)
#: where the dashboard needs no token (any other address, even 127.0.0.2, asks for one)
TOKENLESS = ("127.0.0.1", "localhost", "::1", "[::1]")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Guard:
    """The dashboard's secrets: ``token`` (None on loopback) and the CSRF secret."""

    host: str
    token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @classmethod
    def for_host(cls, host: str) -> Guard:
        return cls(host, None if host.lower() in TOKENLESS else secrets.token_urlsafe(24))


def _same(given: str | None, secret: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), secret.encode())


class GuardMiddleware:
    """Refuses (403, a JSON ``error``) what :class:`Guard` does not allow."""

    def __init__(self, app: Any, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        problem = self._problem(scope)
        if problem is None:
            return await self.app(scope, receive, send)
        body = json.dumps({"error": problem}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-store"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    def _problem(self, scope: dict) -> str | None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.guard.token is None and not is_loopback(name):
            return f"this dashboard serves only loopback hosts, not {name!r}"
        path: str = scope["path"]
        if self.guard.token is not None and not path.startswith("/static/"):
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            if not _same((query.get("token") or [None])[0], self.guard.token):
                return "a token is required: open the URL the dashboard printed when it started"
        if scope["method"] not in ("GET", "HEAD"):
            if not _same(headers.get("x-csrf-token"), self.guard.csrf):
                return "missing or wrong CSRF token: use the page's buttons"
            origin = headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1] != host:
                return f"cross-origin request from {origin} refused"
        return None
