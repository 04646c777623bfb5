"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright's
Python package): the pages draw, the buttons act on the store, a run that ends while a page is
open shows up without a reload. Screenshots go to the test's tmp_path; the README's is written
to ``docs/dashboard.png`` when that file is missing or ``REDSWEEP_UPDATE_SCREENSHOT=1`` is set
(so that a test run leaves the checkout as it was).

They skip, saying why, only where Chromium or Playwright is missing (``.ci/run`` installs
Chromium with apt where it can).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import dropout_loss, mixed, start_dashboard
from helpers import wait_for
from sweep_seed import finish_run, seed_sweep, start_run

from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
DOCS = Path(__file__).resolve().parents[2] / "docs"
#: page loads and plotly's first draw are slow on a loaded 2-core machine with software GL
WAIT_MS = 60_000

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="Playwright is not installed (pip install '.[test]')"
)
pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does, as root)",
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"


def loaded(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-loaded]")


def test_the_sweeps_page_lists_every_sweep(
    page: Any, procs: Any, redis_url: str, store: Store, tmp_path: Path
) -> None:
    first = seed_sweep(store, 4).sweep_id
    second = seed_sweep(store, 3, states=lambda i: RunState.RUNNING).sweep_id
    _, base = start_dashboard(procs, redis_url)
    loaded(page, base + "/")
    rows = page.locator("#sweeps tbody tr")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.sweepId)")) == sorted(
        [first, second]
    )
    row = page.locator(f'tr[data-sweep-id="{second}"]')
    assert row.locator(".badge").inner_text() == "running"
    assert "3" in row.locator("td").nth(5).inner_text()  # running
    page.screenshot(path=str(tmp_path / "sweeps.png"), full_page=True)
    row.locator("a").first.click()
    page.wait_for_url(f"**/sweeps/{second}")


def test_a_sweep_page_draws_its_panels_and_its_table_matches_the_store(
    page: Any, procs: Any, redis_url: str, store: Store, tmp_path: Path
) -> None:
    sweep_id = seed_sweep(store, 16, states=mixed, loss=dropout_loss).sweep_id
    _, base = start_dashboard(procs, redis_url)
    loaded(page, f"{base}/sweeps/{sweep_id}")
    # the three panels and the curves are drawn (the parallel coordinates on a canvas, with
    # SVG axes; plotly's SVG for the others)
    for panel in ("#parallel svg.pc", "#scatter .main-svg", "#curves .main-svg"):
        page.wait_for_selector(panel)
    axes = page.locator("#parallel .pc-axis").evaluate_all("xs => xs.map(x => x.dataset.label)")
    assert axes == ["dropout", "layers", "lr (log)", "optimizer", "loss"]
    # dragging along the loss axis keeps the lines in that range alone; a click clears it
    hit = page.locator('#parallel .pc-axis[data-label="loss"] rect').last.bounding_box()
    x, top = hit["x"] + hit["width"] / 2, hit["y"]
    page.mouse.move(x, top + 8)
    page.mouse.down()
    page.mouse.move(x, top + hit["height"] / 2, steps=4)
    page.mouse.up()
    note = page.locator("#parallel-note")
    scored = sum(1 for t in store.reads.trials(sweep_id) if t.best is not None)
    kept = int(note.get_attribute("data-kept") or "0")
    assert 0 < kept < scored and f"{kept} of {scored} lines" in note.inner_text()
    page.mouse.click(x, top + 8)
    assert note.get_attribute("data-kept") == str(scored)
    page.wait_for_selector("#importance[data-fitted]")  # the correlations alone before
    names = page.locator("#importance tr[data-param]").evaluate_all(
        "rs => rs.map(r => r.dataset.param)"
    )
    assert sorted(names) == ["dropout", "layers", "lr", "optimizer"]
    assert names[0] == "dropout"  # the only parameter that moves the loss
    # the runs table: one row per run, with the store's state and value
    trials = {t.id: t for t in store.reads.trials(sweep_id)}
    rows = page.locator("#runs tbody tr")
    assert rows.count() == 16
    for i in range(16):
        row = rows.nth(i)
        trial = trials[row.get_attribute("data-run-id")]
        assert row.get_attribute("data-state") == trial.state.value
        shown = row.locator("td.value").inner_text()
        assert (shown == "") == (trial.best is None)
        if trial.best is not None:
            assert float(shown) == pytest.approx(trial.best, rel=1e-3)
    # sorting by the metric puts the best first; the filter keeps the failed runs only
    page.locator('th[data-key="value"]').click()
    best = min(t.best for t in trials.values() if t.best is not None)
    assert float(rows.first.locator("td.value").inner_text()) == pytest.approx(best, rel=1e-3)
    page.select_option("#state-filter", "failed")
    wait_for(lambda: rows.count() == 2, 30, "the failed runs alone")
    assert "ValueError: bad batch" in rows.first.inner_text()
    page.select_option("#state-filter", "")
    page.screenshot(path=str(tmp_path / "sweep.png"), full_page=True)
    # a run's page, from its link
    run_id = rows.first.get_attribute("data-run-id")
    rows.first.locator("a").click()
    page.wait_for_url(f"**/sweeps/{sweep_id}/runs/{run_id}")
    page.wait_for_selector('body[data-loaded] .chart[data-metric="loss"] .main-svg')
    assert page.locator("#log").inner_text().startswith("epoch 9: loss")
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)


def test_the_pause_button_pauses_the_sweep(
    page: Any, procs: Any, redis_url: str, store: Store
) -> None:
    sweep_id = seed_sweep(store, 3).sweep_id
    _, base = start_dashboard(procs, redis_url)
    loaded(page, f"{base}/sweeps/{sweep_id}")
    assert page.locator('button[data-verb="resume"]').is_disabled()
    page.locator('button[data-verb="pause"]').click()
    wait_for(lambda: store.sweeps.state(sweep_id) is SweepState.PAUSED, 30, "the sweep paused")
    page.wait_for_selector(".head .badge[data-state=paused]")
    assert "running → paused" in page.locator("#flash").inner_text()
    page.locator('button[data-verb="resume"]').click()
    wait_for(lambda: store.sweeps.state(sweep_id) is SweepState.RUNNING, 30, "resumed")


def test_a_run_that_finishes_while_the_page_is_open_appears_without_a_reload(
    page: Any, procs: Any, redis_url: str, store: Store, tmp_path: Path
) -> None:
    seeded = seed_sweep(
        store, 30, states=lambda i: RunState.PENDING if i == 29 else RunState.FINISHED
    )
    sweep_id, late = seeded.sweep_id, seeded.run_ids[29]
    _, base = start_dashboard(procs, redis_url)
    loaded(page, f"{base}/sweeps/{sweep_id}")
    page.wait_for_selector("#parallel svg.pc")
    row = page.locator(f'#runs tr[data-run-id="{late}"]')
    assert row.get_attribute("data-state") == "pending"
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    finish_run(store, sweep_id, late, start_run(store, sweep_id, late), 0.001)
    page.wait_for_selector(f'#runs tr[data-run-id="{late}"][data-state="finished"]')
    assert row.locator("td.value").inner_text() == "0.001"
    page.wait_for_function("() => document.querySelector('.head .fact .v') !== null")
    assert navigations == [], "the page was not reloaded"
    page.wait_for_selector("body[data-loaded] #parallel svg.pc")
    page.wait_for_selector("#importance[data-fitted]")
    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=False)
    readme = DOCS / "dashboard.png"
    if os.environ.get("REDSWEEP_UPDATE_SCREENSHOT") == "1" or not readme.exists():
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(shot, readme)
