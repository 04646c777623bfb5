"""Helpers of the dashboard's tests: start it, ask it, and the sweeps they seed."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any

from helpers import STARTUP_S, redsweep_cmd, wait_for_output

from redsweep.shared.records import RunState

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def dropout_loss(params: Any, step: int, steps: int) -> float:
    """A loss that only ``dropout`` moves (and the step)."""
    return 4 * params["dropout"] + 1.0 / (1 + step)


def mixed(i: int) -> RunState:
    """Runs 0-11 finished, 12 and 13 failed, 14 running, 15 pending."""
    return {12: RunState.FAILED, 13: RunState.FAILED, 14: RunState.RUNNING}.get(
        i, RunState.PENDING if i == 15 else RunState.FINISHED
    )


def start_dashboard(procs: Any, redis_url: str, *args: str) -> tuple[Any, str]:
    """``redsweep dashboard --port 0 ARGS`` running; its process and the URL it printed."""
    proc = procs.spawn(redsweep_cmd(redis_url, "dashboard", "--port", "0", *args))
    out = wait_for_output(procs, proc, "redsweep dashboard: http", STARTUP_S * 2, "stdout")
    url = re.search(r"http://\S+", out).group(0)  # type: ignore[union-attr]
    return proc, url if "?" in url else url.rstrip("/")


def get(url: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with NO_PROXY.open(request, timeout=60) as reply:
            body = reply.read()
            status = reply.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def post(url: str, **headers: str) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=b"", method="POST", headers=headers)
    try:
        with NO_PROXY.open(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def csrf_of(page_html: str) -> str:
    data = re.search(r'<script type="application/json" id="page">(.*?)</script>', page_html)
    assert data, page_html[:500]
    return json.loads(data.group(1))["csrf"]
