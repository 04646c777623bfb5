"""How long the dashboard takes to open a sweep page with 1,000 and 10,000 runs.

For each size: a private redis-server (TCP on 127.0.0.1, a password; started here, stopped at
the end, nothing touches port 6379) gets a sweep of N finished runs of 10 logged rows each,
written through the store's own calls (``tests/sweep_seed.py``); ``redsweep dashboard --port 0``
runs against it as a subprocess. Measured, median of ``--repeats``:

- ``Api() read``: the reference: reading the sweep's runs through ``redsweep.Api()``
  (``api.sweep(id).runs``) in this process, what any page must at least do;
- ``JSON``: ``GET /api/sweeps/ID``, the page's data as the server aggregates it (runs table,
  parallel coordinates, importance, best-so-far, downsampled curves);
- ``table``: headless Chromium (Debian's ``chromium``, driven by Playwright) from the start
  of the navigation until the header, the importances and the runs table are in the page
  (the page's own clock: ``body[data-shown]``);
- ``page``: until every plot is drawn too (``body[data-loaded]``). Headless Chromium here
  has no GPU: plotly's WebGL parallel coordinates run on software GL, which costs seconds a
  desktop browser does not pay.

The first JSON and page of each size are cold (the importance forest is fitted once per set
of scored runs); later ones reuse it, as a live page's refreshes do. Run by hand::

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
MARKS = "() => [document.body.dataset.shown, document.body.dataset.loaded]"
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


def measure(runs: int, repeats: int, browser: object) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"seed": [], "api": [], "json": [], "table": [], "page": []}
    with tempfile.TemporaryDirectory() as tmp:
        server = LocalServer().start(Path(tmp), port=free_port(), password="bench-pw")
        proc = None
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
            proc, base = _start_dashboard(url, Path(tmp) / "dashboard.log")
            for _ in range(repeats):
                start = time.perf_counter()
                data = json.load(NO_PROXY.open(f"{base}/api/sweeps/{sweep_id}"))
                times["json"].append(time.perf_counter() - start)
                assert len(data["runs"]) == runs
            draws: list[dict] = []
            page = browser.new_page(viewport={"width": 1400, "height": 1000})  # type: ignore[attr-defined]
            for _ in range(repeats):
                page.goto(f"{base}/sweeps/{sweep_id}")
                page.wait_for_selector("body[data-loaded] #parallel .main-svg", timeout=120_000)
                # the page's own clock, from the start of the navigation
                marks = page.evaluate(MARKS)
                times["table"].append(int(marks[0]) / 1000)
                times["page"].append(int(marks[1]) / 1000)
                draws.append(page.evaluate("() => window.redsweepDrawMs"))
            page.close()
            print(f"{runs:>6} runs, ms per plot: {draws}", file=sys.stderr, flush=True)
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=30)
            server.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", default="1000,10000", help="sweep sizes, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for n in (int(x) for x in args.runs.split(",")):
            t = measure(n, args.repeats, browser)
            rows.append((n, t))
            print(f"{n:>6} runs seeded in {t['seed'][0]:.1f} s", file=sys.stderr, flush=True)
        browser.close()
    heads = ("Api() read", "JSON cold", "JSON warm", "table cold", "table warm", "page cold",
             "page warm")  # fmt: skip
    print(f"{'runs':>6}  " + "  ".join(f"{h:>10}" for h in heads))
    for n, t in rows:
        cells = [statistics.median(t["api"])]
        for key in ("json", "table", "page"):
            cells += [t[key][0], statistics.median(t[key][1:] or t[key])]
        print(f"{n:>6}  " + "  ".join(f"{c:>10.2f}" for c in cells))
    print("seconds; cold: the first open of the sweep, warm: the median of the others")


if __name__ == "__main__":
    main()
