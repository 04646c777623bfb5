"""How long the dashboard takes to open a sweep page with 1,000 and 10,000 runs.

For each size: a private redis-server (TCP on 127.0.0.1, a password; started here, stopped at
the end, nothing touches port 6379) gets a sweep of N finished runs of 10 logged rows each,
written through the store's own calls (``tests/sweep_seed.py``); ``redsweep dashboard --port 0``
runs against it as a subprocess. Measured, medians of ``--repeats``:

- ``Api() read``: the reference: reading the sweep's runs through ``redsweep.Api()``
  (``api.sweep(id).runs``) in this process, what any page must at least do;
- ``JSON``: ``GET /api/sweeps/ID``, the page's data as the server aggregates it (runs table,
  parallel coordinates, best-so-far, downsampled curves);
- ``table``: headless Chromium (Debian's ``chromium``, driven by Playwright) from the start
  of the navigation until the header and the runs table are in the page (the page's own
  clock: ``body[data-shown]``);
- ``OPEN``: the time to open the sweep page: until every panel is drawn too
  (``body[data-loaded]``; the importance panel with its correlations, which numpy computes
  with the page's JSON);
- ``forest``: until the random forest's importances fill that panel in (``body[data-fitted]``:
  scikit-learn imports in a process of its own as the dashboard starts, a second or two).

Cold: the first visit: each repeat starts the dashboard afresh and opens the page at once,
with an empty browser cache (plotly.js to load, scikit-learn still importing beside, the
forest to fit); warm: the next visit (a reload, a second tab). Run by hand::

    python benchmarks/dashboard.py            # --runs 1000,10000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from sweep_seed import seed_sweep

from redsweep.results import Api
from redsweep.shared.server.local import LocalServer, free_port
from redsweep.shared.store import Store

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
#: when the page had its text and its plots, by its own clock (ms from the navigation's start)
MARKS = "() => ['shown', 'loaded', 'fitted'].map((k) => document.body.dataset[k])"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def _start_dashboard(url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    out = open(log, "wb")  # noqa: SIM115 (closed with the process)
    proc = subprocess.Popen(
        [sys.executable, "-m", "redsweep", "--redis", url, "dashboard", "--port", "0"],
        stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())
        if found:
            return proc, found.group(0).rstrip("/")
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"the dashboard did not start:\n{log.read_text()}")


def _open(context: object, url: str) -> tuple[float, float, float]:
    """Open ``url`` in a fresh tab of ``context``: seconds until the text (header, table),
    until every panel was drawn, until the forest's importances came, by the page's own
    clock from the navigation's start."""
    page = context.new_page()  # type: ignore[attr-defined]
    try:
        page.goto(url)
        page.wait_for_selector("body[data-loaded][data-fitted]", timeout=120_000)
        marks = page.evaluate(MARKS)
        draws = page.evaluate("() => window.redsweepDrawMs")
    finally:
        page.close()
    print(f"    ms per plot: {draws}", file=sys.stderr, flush=True)
    return int(marks[0]) / 1000, int(marks[1]) / 1000, int(marks[2]) / 1000


def measure(runs: int, repeats: int, browser: object) -> dict[str, list[float]]:
    """Each repeat starts the dashboard afresh and opens the sweep page at once in a browser
    with an empty cache (the first visit: cold, scikit-learn still loading beside), then
    again (warm: a reload, a second tab), and times the page's JSON the same way."""
    keys = ("seed", "api", "json_cold", "json_warm", "table_cold", "page_cold", "forest_cold",
            "table_warm", "page_warm", "forest_warm")  # fmt: skip
    times: dict[str, list[float]] = {k: [] for k in keys}
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer().start(Path(tmp), port=free_port(), password="bench-pw")
        try:
            url = server.tcp_url
            assert url is not None
            with Store.from_url(url) as store:
                start = time.perf_counter()
                sweep_id = seed_sweep(store, runs).sweep_id
                times["seed"].append(time.perf_counter() - start)
            with Api(url) as api:
                for _ in range(repeats):
                    times["api"].append(_timed(lambda: api.sweep(sweep_id).runs))
            for i in range(repeats):
                for kind in ("json", "page"):
                    proc, base = _start_dashboard(url, Path(tmp) / f"dashboard-{kind}{i}.log")
                    try:
                        if kind == "json":
                            for temp in ("cold", "warm"):
                                start = time.perf_counter()
                                data = json.load(NO_PROXY.open(f"{base}/api/sweeps/{sweep_id}"))
                                times[f"json_{temp}"].append(time.perf_counter() - start)
                                assert len(data["runs"]) == runs
                            continue
                        context = browser.new_context(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
                        for temp in ("cold", "warm"):
                            table, page, fitted = _open(context, f"{base}/sweeps/{sweep_id}")
                            times[f"table_{temp}"].append(table)
                            times[f"page_{temp}"].append(page)
                            times[f"forest_{temp}"].append(fitted)
                        context.close()
                    finally:
                        os.killpg(proc.pid, signal.SIGTERM)
                        proc.wait(timeout=30)
        finally:
            server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1000,10000", help="sweep sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    load = os.getloadavg()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for n in (int(x) for x in args.runs.split(",")):
            t = measure(n, args.repeats, browser)
            rows.append((n, t))
            print(f"{n:>6} runs seeded in {t['seed'][0]:.1f} s", file=sys.stderr, flush=True)
        browser.close()
    heads = ("Api() read", "JSON cold", "JSON warm", "table cold", "OPEN cold", "forest cold",
             "table warm", "OPEN warm", "forest warm")  # fmt: skip
    keys = ("api", "json_cold", "json_warm", "table_cold", "page_cold", "forest_cold",
            "table_warm", "page_warm", "forest_warm")  # fmt: skip
    print(f"{'runs':>6}  " + "  ".join(f"{h:>10}" for h in heads))
    for n, t in rows:
        print(f"{n:>6}  " + "  ".join(f"{statistics.median(t[k]):>10.2f}" for k in keys))
    after = os.getloadavg()
    print(
        f"seconds, medians of {args.repeats}. OPEN: the time to open the sweep page (header,"
        " runs table and every panel drawn, the importance panel with its correlations);"
        " forest: until the forest's importances fill that panel in; table: until the"
        " header and runs table show."
        " cold: the first visit (a dashboard just started, an empty browser cache); warm:"
        " the next one. Api() read: the reference (reading the runs in Python)."
        f" Load average (1 min) {load[0]:.1f} before, {after[0]:.1f} after, {os.cpu_count()}"
        " cores."
    )


if __name__ == "__main__":
    main()
