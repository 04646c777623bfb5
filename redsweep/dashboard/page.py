"""The HTML around the pages: a shell that loads the assets (served by the dashboard), or,
for ``redsweep report``, one file with every asset and the data inlined.

The assets, all in ``static/`` of this package: ``app.js``, ``app.css`` and plotly.js's basic
bundle (``plotly-basic.min.js``: scatter, bar and pie, 1.2 MB, npm's ``plotly.js-basic-dist-min``
of the version the ``plotly`` wheel ships, MIT, its licence beside it), which a browser compiles
in a quarter of the time of the full 4.8 MB bundle the wheel ships: the pages draw nothing else
with plotly. Nothing is fetched from the network, by the server or by the page.
"""

from __future__ import annotations

import html
from importlib import resources
from pathlib import Path
from typing import Any

from redsweep.dashboard.security import Guard
from redsweep.dashboard.views import to_json

TITLES = {"sweeps": "Sweeps", "sweep": "Sweep {sweep}", "run": "Run {run}"}
SHELL = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · redsweep</title>
<link rel="icon" href="data:,">
{style}
</head>
<body>
<header class="top"><a class="brand" id="home" href="#">redsweep</a><nav id="crumbs"></nav>
<span id="live" class="live"></span></header>
<main id="main"><p class="muted">Loading…</p></main>
<script type="application/json" id="page">{page}</script>
{scripts}
</body>
</html>
"""


PLOTLY = "plotly-basic.min.js"


def _plotly() -> Path:
    return _own(PLOTLY)


def _own(name: str) -> Path:
    return Path(str(resources.files("redsweep.dashboard") / "static" / name))


def asset(name: str) -> Path | None:
    """The file of a static asset the pages load, None for any other name."""
    if name in ("app.js", "app.css", PLOTLY):
        return _own(name)
    return None


def _script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element."""
    text = to_json(data)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def shell(kind: str, *, guard: Guard, sweep: str | None = None, run: str | None = None) -> str:
    """The page ``kind`` (sweeps, sweep, run) as the dashboard serves it."""
    page = {"kind": kind, "sweep": sweep, "run": run, "token": guard.token, "csrf": guard.csrf}
    return SHELL.format(
        title=html.escape(TITLES[kind].format(sweep=sweep, run=run)),
        style='<link rel="stylesheet" href="/static/app.css">',
        page=_script_json(page),
        scripts=(
            f'<script id="plotly-js" src="/static/{PLOTLY}" async></script>\n'
            if kind != "sweeps"
            else ""
        )
        + '<script src="/static/app.js"></script>',
    )


def _inline_script(path: Path) -> str:
    return "<script>" + path.read_text("utf-8").replace("</script", "<\\/script") + "</script>"


def report(data: dict[str, Any], generated: str) -> str:
    """One self-contained HTML file showing the sweep page's ``data`` as it stands."""
    sweep = data["sweep"]
    page = {
        "kind": "sweep",
        "sweep": sweep["id"],
        "report": True,
        "generated": generated,
        "data": data,
    }
    return SHELL.format(
        title=html.escape(f"Sweep {sweep.get('name') or sweep['id']} (report)"),
        style="<style>" + _own("app.css").read_text("utf-8") + "</style>",
        page=_script_json(page),
        scripts=_inline_script(_plotly()) + "\n" + _inline_script(_own("app.js")),
    )
