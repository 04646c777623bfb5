"""Running the dashboard: bind the address, print the URL once (with the token when one is
needed), serve with uvicorn until interrupted."""

from __future__ import annotations

import socket
import webbrowser
from collections.abc import Callable
from datetime import datetime, timezone

from redsweep.connect import resolve_url
from redsweep.dashboard.security import Guard
from redsweep.errors import RedsweepError
from redsweep.results import Api


class ListenError(RedsweepError):
    """The dashboard could not listen on the address asked for."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    return sock


def url_of(host: str, port: int, token: str | None) -> str:
    name = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{name}:{port}/" + (f"?token={token}" if token else "")


def serve(
    redis_url: str | None,
    host: str = "127.0.0.1",
    port: int = 8080,
    *,
    open_browser: bool = False,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve the dashboard on ``host:port`` (0: any free port) until SIGINT or SIGTERM."""
    import uvicorn

    from redsweep.dashboard.app import create_app
    from redsweep.dashboard.forest import Forest

    url = resolve_url(redis_url)
    api = Api(url)
    api.sweeps()  # fail now, in one line, when the store cannot be read
    guard = Guard.for_host(host)
    sock = _bind(host, port)
    # scikit-learn takes seconds to import: in a process of its own, from now on
    forest = Forest()
    link = url_of(host, sock.getsockname()[1], guard.token)
    echo(f"redsweep dashboard: {link}")
    if guard.token:
        echo("  (not a loopback address: the token in this URL is required; keep it private)")
    if open_browser:
        webbrowser.open(link)
    config = uvicorn.Config(
        create_app(api, url, guard, forest.fit),
        log_level="warning",
        timeout_graceful_shutdown=2,
        lifespan="off",
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
        forest.close()
        api.close()


def report_html(redis_url: str | None, sweep_id: str) -> str:
    """The sweep as one self-contained HTML page (:func:`redsweep.dashboard.page.report`)."""
    from redsweep.dashboard import page
    from redsweep.dashboard.views import ImportanceCache, sweep_view

    with Api(redis_url) as api:
        data = sweep_view(api, sweep_id, importance=ImportanceCache())
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return page.report(data, made)
