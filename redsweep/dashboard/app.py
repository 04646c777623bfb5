"""The dashboard as a Starlette app: three pages, their JSON, a live-update stream, controls.

Pages (one HTML shell each, drawn by ``static/app.js`` with plotly.js):

* ``/``                           every sweep, with its control buttons
* ``/sweeps/SWEEP_ID``            the sweep's panels, curves, runs table and buttons (its
                                  importances from ``/api/sweeps/ID/importance``)
* ``/sweeps/SWEEP_ID/runs/RUN_ID`` one run: config, summary, charts, log tail, files

Their data: ``GET /api/sweeps``, ``/api/sweeps/ID``, ``/api/sweeps/ID/runs/RUN``. Live updates:
``GET /api/events[?sweep=ID]`` is a server-sent event stream that sends the sweep's (or the
list's) mark whenever it changes, checked every ``POLL_S``; the page then fetches its JSON
again. Controls: ``POST /api/sweeps/ID/VERB`` (pause, resume, stop, cancel), through
:mod:`redsweep.control`. Redis is reached only here, on the server: error messages sent to the
browser never name it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
import threading
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from redsweep.control import VERBS, control
from redsweep.dashboard import page
from redsweep.dashboard.files import file_path, media_type
from redsweep.dashboard.security import Guard, GuardMiddleware
from redsweep.dashboard.views import (
    ImportanceCache,
    run_view,
    sweep_view,
    sweeps_view,
    to_json,
)
from redsweep.errors import NotFoundError, RedsweepError, StoreError, SweepStateError
from redsweep.results import Api

#: how often the event stream looks for changes (a change shows within this and one fetch)
POLL_S = 0.5
#: a comment line this often keeps proxies from closing a quiet stream
KEEPALIVE_S = 15.0
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline' "
    "'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _error(exc: RedsweepError) -> JSONResponse:
    if isinstance(exc, SweepStateError):
        return JSONResponse({"error": str(exc)}, 409)
    if isinstance(exc, NotFoundError):
        return JSONResponse({"error": str(exc)}, 404)
    if isinstance(exc, StoreError):  # its text names the Redis URL: keep it on the server
        print(f"redsweep dashboard: {exc}", file=sys.stderr, flush=True)
        return JSONResponse({"error": "the store cannot be reached right now"}, 503)
    return JSONResponse({"error": str(exc)}, 400)


def _dumps(data: Any) -> bytes:
    return to_json(data).encode()


async def _json(read: Callable[[], bytes]) -> Response:
    try:
        body = await run_in_threadpool(read)
    except RedsweepError as exc:
        return _error(exc)
    return Response(body, media_type="application/json", headers=HEADERS)


def list_mark(data: Any) -> str:
    """The sweeps list's mark: a digest of what it shows."""
    return hashlib.sha1(_dumps(data)).hexdigest()


class Views:
    """The pages' JSON, each with the ``mark`` of what it shows. A sweep's page is computed
    once per mark (a reload, a second tab, a refresh after an unrelated event: served from
    memory); its importances apart, from the same rows, as the forest takes a while."""

    def __init__(self, api: Api, fit: Callable[..., list] | None = None) -> None:
        self.api = api
        self._importance = ImportanceCache(fit) if fit else ImportanceCache()
        self._lock = threading.Lock()
        self._sweeps: dict[str, tuple[str, dict[str, Any], bytes]] = {}
        #: one computation of a sweep's page at a time: a second caller waits and reuses it
        self._computing: dict[str, threading.Lock] = {}

    def sweeps(self) -> bytes:
        data = sweeps_view(self.api)
        return _dumps({**data, "mark": list_mark(data)})

    def _sweep(self, sweep_id: str) -> tuple[str, dict[str, Any], bytes]:
        mark = self.api.mark(sweep_id)
        with self._lock:
            hit = self._sweeps.get(sweep_id)
            computing = self._computing.setdefault(sweep_id, threading.Lock())
        if hit is not None and hit[0] == mark:
            return hit
        with computing:
            with self._lock:
                hit = self._sweeps.get(sweep_id)
            if hit is not None and hit[0] == mark:  # computed while this call waited
                return hit
            data = sweep_view(self.api, sweep_id)
            entry = (mark, data, _dumps({**data, "mark": mark}))
            with self._lock:
                self._sweeps[sweep_id] = entry
        return entry

    def prepare(self, sweep_id: str) -> None:
        """Compute the sweep's page now (as its HTML goes out, while the browser loads the
        scripts), so that its JSON request finds it ready; errors wait for that request."""
        with contextlib.suppress(RedsweepError):
            self._sweep(sweep_id)

    def sweep(self, sweep_id: str) -> bytes:
        return self._sweep(sweep_id)[2]

    def importance(self, sweep_id: str) -> bytes:
        mark, data, _ = self._sweep(sweep_id)
        rows, params = data["runs"], data["params"]
        found = self._importance.get(sweep_id, rows, params) if data["sweep"]["metric"] else []
        return _dumps({"importance": found, "mark": mark})

    def run(self, sweep_id: str, run_id: str) -> bytes:
        mark = self.api.mark(sweep_id)
        return _dumps({**run_view(self.api, sweep_id, run_id), "mark": mark})


def create_app(
    api: Api, redis_url: str, guard: Guard, fit: Callable[..., list] | None = None
) -> Starlette:
    """The app, reading through ``api`` and controlling sweeps on ``redis_url``; importances
    fitted by ``fit`` (a :class:`~redsweep.dashboard.forest.Forest`'s), else in-process."""
    views = Views(api, fit)

    def shell(kind: str) -> Callable[[Request], Any]:
        async def handler(request: Request) -> HTMLResponse:
            ids = request.path_params
            if kind == "sweep":  # (the guard let this request through)
                threading.Thread(target=views.prepare, args=(ids["sweep_id"],), daemon=True).start()
            html = page.shell(kind, guard=guard, sweep=ids.get("sweep_id"), run=ids.get("run_id"))
            return HTMLResponse(html, headers=HEADERS)

        return handler

    async def sweeps(request: Request) -> Response:
        return await _json(views.sweeps)

    async def sweep(request: Request) -> Response:
        sid = request.path_params["sweep_id"]
        return await _json(partial(views.sweep, sid))

    async def importance(request: Request) -> Response:
        return await _json(partial(views.importance, request.path_params["sweep_id"]))

    async def run(request: Request) -> Response:
        p = request.path_params
        return await _json(partial(views.run, p["sweep_id"], p["run_id"]))

    async def file(request: Request) -> Response:
        p = request.path_params
        try:
            run = await run_in_threadpool(api.run, f"{p['sweep_id']}/{p['run_id']}")
        except RedsweepError as exc:
            return _error(exc)
        path = file_path(run, p["name"])
        if path is None:
            return JSONResponse({"error": f"run {run.id} has no file {p['name']!r} here"}, 404)
        kind = media_type(path)
        inline = "inline" if kind.startswith("image/") else "attachment"
        return FileResponse(path, media_type=kind, headers=HEADERS, content_disposition_type=inline)

    async def act(request: Request) -> Response:
        verb, sid = request.path_params["verb"], request.path_params["sweep_id"]
        if verb not in VERBS:
            return JSONResponse({"error": f"unknown action {verb!r}"}, 404)
        try:
            done = await run_in_threadpool(control, verb, sid, redis=redis_url)
        except RedsweepError as exc:
            return _error(exc)
        return JSONResponse(
            {
                "sweep": done.sweep_id,
                "before": done.before.value,
                "after": done.after.value,
                "killed": list(done.killed),
            }
        )

    async def events(request: Request) -> Response:
        sid = request.query_params.get("sweep")
        mark = partial(api.mark, sid) if sid else (lambda: list_mark(sweeps_view(api)))

        async def stream() -> AsyncIterator[str]:
            last, quiet = None, 0.0
            while not await request.is_disconnected():
                try:
                    now = await run_in_threadpool(mark)
                except RedsweepError as exc:
                    now = f"error: {_error(exc).body.decode()}"
                if now != last:
                    yield f"data: {json.dumps(now)}\n\n"
                    last, quiet = now, 0.0
                elif quiet >= KEEPALIVE_S:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                await asyncio.sleep(POLL_S)
                quiet += POLL_S

        return StreamingResponse(stream(), media_type="text/event-stream", headers=HEADERS)

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = page.asset(name)
        if path is None:
            return JSONResponse({"error": f"no asset {name!r}"}, 404)
        return FileResponse(path, headers={"Cache-Control": "max-age=3600"})

    routes = [
        Route("/", shell("sweeps")),
        Route("/sweeps/{sweep_id}", shell("sweep")),
        Route("/sweeps/{sweep_id}/runs/{run_id}", shell("run")),
        Route("/api/sweeps", sweeps),
        Route("/api/sweeps/{sweep_id}", sweep),
        Route("/api/sweeps/{sweep_id}/importance", importance),
        Route("/api/sweeps/{sweep_id}/runs/{run_id}", run),
        Route("/api/sweeps/{sweep_id}/runs/{run_id}/files/{name:path}", file),
        Route("/api/sweeps/{sweep_id}/{verb}", act, methods=["POST"]),
        Route("/api/events", events),
        Route("/static/{name}", static),
    ]
    app = Starlette(routes=routes)
    return GuardMiddleware(app, guard)  # type: ignore[return-value]
