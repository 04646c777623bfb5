"""The dashboard's server, its JSON and its guards, `redsweep report` and `redsweep watch`,
against the suite's real redis-server; the dashboard runs as a real subprocess."""

from __future__ import annotations

import json
import math
import os
import pty
import random
import re
import select
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dashboard_helpers import NO_PROXY, csrf_of, dropout_loss, get, mixed, post, start_dashboard
from helpers import STARTUP_S, redsweep_cmd, run_cli, wait_for, wait_for_output
from sweep_seed import finish_run, seed_sweep, start_run

from redsweep.dashboard.forest import Forest
from redsweep.dashboard.importance import parameter_importance
from redsweep.shared.records import RunState, SweepState
from redsweep.shared.store import Store


@pytest.fixture
def seeded(store: Store) -> str:
    return seed_sweep(store, 16, states=mixed, loss=dropout_loss).sweep_id


def test_the_sweeps_list_and_a_sweep_page_show_what_the_store_holds(
    procs: Any, redis_url: str, store: Store, seeded: str
) -> None:
    _, base = start_dashboard(procs, redis_url)
    status, listing = get(f"{base}/api/sweeps")
    assert status == 200
    [row] = listing["sweeps"]
    info = store.sweeps.get(seeded)
    assert (row["id"], row["state"], row["method"], row["project"], row["name"]) == (
        seeded, "running", "random", "dash", "seeded"
    )  # fmt: skip
    assert (row["done"], row["running"], row["pending"], row["failed"]) == (14, 1, 1, 2)
    assert row["best"] == pytest.approx(info.best_value)

    status, page = get(f"{base}/api/sweeps/{seeded}")
    assert status == 200
    trials = {t.id: t for t in store.reads.trials(seeded)}
    assert [r["id"] for r in page["runs"]] == store.reads.trial_ids(seeded)
    for r in page["runs"]:
        assert r["state"] == trials[r["id"]].state.value
        assert r["value"] == (
            None if trials[r["id"]].best is None else pytest.approx(trials[r["id"]].best)
        )
        assert r["config"] == dict(trials[r["id"]].params)
    assert [r["error"] for r in page["runs"] if r["state"] == "failed"] == [
        "ValueError: bad batch"
    ] * 2
    # the panels: parallel coordinates over every parameter and the metric, one line a scored run
    dims = page["parallel"]["dimensions"]
    assert [d["label"] for d in dims] == ["dropout", "layers", "lr (log)", "optimizer", "loss"]
    lrs = [r["config"]["lr"] for r in page["runs"] if r["value"] is not None]
    assert dims[2]["values"] == pytest.approx([math.log10(v) for v in lrs])  # log_uniform
    assert set(dims[2]["ticktext"]) >= {"0.001", "0.01"}
    scored = [r for r in page["runs"] if r["value"] is not None]
    assert all(len(d["values"]) == len(scored) for d in dims)
    assert dims[3]["ticktext"] == ["adam", "sgd"]
    # importance (served apart: the forest takes a while on a big sweep): only dropout moves
    # the loss, so it leads, strongly and positively correlated
    assert page["importance"] is None
    # meanwhile the page shows the correlations (numpy alone, sent with the page)
    corr = {c["name"]: c for c in page["correlations"]}
    assert set(corr) == {"dropout", "layers", "lr", "optimizer"}
    assert corr["dropout"]["correlation"] > 0.9 and corr["dropout"]["importance"] is None
    status, fitted = get(f"{base}/api/sweeps/{seeded}/importance")
    assert status == 200 and fitted["mark"] == page["mark"]
    top = fitted["importance"][0]
    assert top["name"] == "dropout" and top["importance"] > 0.5
    assert top["correlation"] > 0.9
    assert {p["name"] for p in fitted["importance"]} == {"dropout", "layers", "lr", "optimizer"}
    # the scatter's best-so-far line never gets worse (minimize), and ends at the best value
    best = page["scatter"]["best"]
    assert best == sorted(best, reverse=True) and best[-1] == pytest.approx(info.best_value)
    # a curve per run that logged, as logged (10 steps each)
    assert len(page["curves"]["runs"]) == 15 and all(
        c["x"] == list(range(10)) for c in page["curves"]["runs"]
    )


def test_a_run_page_has_its_config_summary_charts_and_log_tail(
    procs: Any, redis_url: str, store: Store, seeded: str
) -> None:
    _, base = start_dashboard(procs, redis_url)
    run_id = store.reads.trial_ids(seeded)[0]
    status, page = get(f"{base}/api/sweeps/{seeded}/runs/{run_id}")
    assert status == 200
    trial = store.reads.trial(seeded, run_id)
    assert page["run"]["config"] == dict(trial.params)
    assert page["run"]["summary"]["loss"] == pytest.approx(dropout_loss(trial.params, 9, 10))
    assert [c["name"] for c in page["charts"]] == ["acc", "loss"]
    assert page["charts"][1]["x"] == list(range(10))
    assert page["log_tail"].startswith("epoch 9: loss")
    assert page["files"] == []
    status, missing = get(f"{base}/api/sweeps/{seeded}/runs/nope")
    assert status == 404 and "no run 'nope'" in missing["error"]


PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2213bc40000000049454e44ae426082"
)


def test_a_run_page_lists_its_files_and_serves_only_those_inside_its_folder(
    procs: Any, redis_url: str, store: Store, tmp_path: Path
) -> None:
    """The files a run recorded (``_files`` under ``_files_dir`` on its summary)."""
    seeded = seed_sweep(store, 1, states=lambda i: RunState.PENDING)
    sweep_id, run_id = seeded.sweep_id, seeded.run_ids[0]
    folder = tmp_path / "runs" / sweep_id / run_id / "files"
    (folder / "media" / "images").mkdir(parents=True)
    (folder / "media" / "images" / "plot.png").write_bytes(PNG)
    (tmp_path / "runs" / "secret.txt").write_text("not for the browser")
    files = ["media/images/plot.png", "model.pt", "../../../secret.txt"]
    token = start_run(store, sweep_id, run_id)
    finish_run(store, sweep_id, run_id, token, 0.5, {"_files": files, "_files_dir": str(folder)})
    _, base = start_dashboard(procs, redis_url)
    status, page = get(f"{base}/api/sweeps/{sweep_id}/runs/{run_id}")
    assert status == 200
    assert page["files"] == [
        {"name": "../../../secret.txt", "type": "file", "size": None, "here": False},
        {"name": "media/images/plot.png", "type": "image", "size": len(PNG), "here": True},
        {"name": "model.pt", "type": "file", "size": None, "here": False},
    ]
    assert "_files" not in page["run"]["summary"]
    url = f"{base}/api/sweeps/{sweep_id}/runs/{run_id}/files/"
    with NO_PROXY.open(url + "media/images/plot.png", timeout=60) as reply:
        assert reply.headers["Content-Type"] == "image/png" and reply.read() == PNG
    for name in ("model.pt", "..%2F..%2F..%2Fsecret.txt", "media/../../../secret.txt"):
        status, body = get(url + name)
        assert status == 404 and "not for the browser" not in json.dumps(body), name


def test_control_actions_need_the_pages_csrf_token(
    procs: Any, redis_url: str, store: Store, seeded: str
) -> None:
    _, base = start_dashboard(procs, redis_url)
    status, body = post(f"{base}/api/sweeps/{seeded}/pause")
    assert status == 403 and "CSRF" in body["error"]
    assert store.sweeps.state(seeded) is SweepState.RUNNING
    csrf = csrf_of(get(f"{base}/")[1])
    status, body = post(f"{base}/api/sweeps/{seeded}/pause", **{"X-CSRF-Token": "wrong"})
    assert status == 403 and store.sweeps.state(seeded) is SweepState.RUNNING
    status, body = post(
        f"{base}/api/sweeps/{seeded}/pause", **{"X-CSRF-Token": csrf, "Origin": "http://evil.test"}
    )
    assert status == 403 and "cross-origin" in body["error"]
    status, body = post(f"{base}/api/sweeps/{seeded}/pause", **{"X-CSRF-Token": csrf})
    assert (status, body["before"], body["after"]) == (200, "running", "paused")
    assert store.sweeps.state(seeded) is SweepState.PAUSED
    status, body = post(f"{base}/api/sweeps/{seeded}/pause", **{"X-CSRF-Token": csrf})
    assert status == 409 and body["error"] == f"sweep {seeded} is paused already"


def test_a_loopback_dashboard_refuses_other_host_names(
    procs: Any, redis_url: str, seeded: str
) -> None:
    """A page on another site that points its name at 127.0.0.1 (DNS rebinding) gets nothing."""
    _, base = start_dashboard(procs, redis_url)
    status, body = get(f"{base}/api/sweeps", Host="attacker.example")
    assert status == 403 and "loopback" in body["error"]
    assert get(f"{base}/api/sweeps", Host="localhost")[0] == 200


def test_off_loopback_every_request_needs_the_printed_token(
    procs: Any, redis_url: str, seeded: str
) -> None:
    proc, url = start_dashboard(procs, redis_url, "--host", "127.0.0.2")
    assert "token=" in url and url.startswith("http://127.0.0.2:")
    base, token = url.split("/?token=")
    status, body = get(f"{base}/api/sweeps")
    assert status == 403 and "token is required" in body["error"]
    assert get(f"{base}/api/sweeps?token=not-it")[0] == 403
    assert get(f"{base}/?token={token}")[0] == 200
    status, listing = get(f"{base}/api/sweeps?token={token}")
    assert status == 200 and listing["sweeps"][0]["id"] == seeded
    out, _ = procs.output(proc)
    assert out.count(token) == 1, "the token is printed once"


def test_the_redis_url_and_password_never_reach_the_browser(
    procs: Any, redis_url: str, store: Store, seeded: str
) -> None:
    from conftest import TEST_PASSWORD

    _, base = start_dashboard(procs, redis_url)
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    run_id = store.reads.trial_ids(seeded)[0]
    run = f"{seeded}/runs/{run_id}"
    pages = ("/", f"/sweeps/{seeded}", f"/sweeps/{run}", "/api/sweeps", "/api/sweeps/x")
    for path in (*pages, f"/api/sweeps/{seeded}", f"/api/sweeps/{run}"):
        text = json.dumps(get(base + path)[1])
        assert TEST_PASSWORD not in text and f":{port}" not in text, path
    for query in ("", f"?sweep={seeded}", "?sweep=nosuch"):  # the live stream's first event
        with NO_PROXY.open(f"{base}/api/events{query}", timeout=60) as stream:
            line = stream.readline().decode()
        assert line.startswith("data: ") and TEST_PASSWORD not in line and f":{port}" not in line


def test_the_dashboard_says_in_one_line_when_its_port_is_taken(
    procs: Any, redis_url: str, seeded: str
) -> None:
    _, base = start_dashboard(procs, redis_url)
    port = base.rsplit(":", 1)[1].rstrip("/")
    result = run_cli(redis_url, "dashboard", "--port", port)
    assert result.returncode != 0
    assert (
        result.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_report_writes_one_self_contained_html_file(
    tmp_path: Path, redis_url: str, store: Store, seeded: str
) -> None:
    """(``seeded``'s loss moves with dropout alone.)"""
    out = tmp_path / "report.html"
    result = run_cli(redis_url, "report", seeded, "-o", str(out), check=True)
    assert f"wrote {out}" in result.stdout
    html = out.read_text()
    tags = re.sub(r"<script>.*?</script>", "", html, flags=re.S)  # the inlined code aside
    assert not re.search(r"<script[^>]*\bsrc=|<link[^>]*stylesheet", tags), "all inlined"
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", tags)
    assert "Plotly" in html and html.count("<script") >= 3
    data = json.loads(re.search(r'id="page">(.*?)</script>', html).group(1))  # type: ignore[union-attr]
    assert data["report"] is True
    assert [r["id"] for r in data["data"]["runs"]] == store.reads.trial_ids(seeded)
    assert data["data"]["importance"][0]["name"] == "dropout"  # fitted, inlined

    unwritable = run_cli(redis_url, "report", seeded, "-o", str(tmp_path / "no" / "r.html"))
    assert unwritable.returncode != 0
    assert unwritable.stderr.strip() == (
        f"error: cannot write {tmp_path / 'no' / 'r.html'}: No such file or directory"
    )
    missing = run_cli(redis_url, "report", "nosuch", "-o", str(tmp_path / "x.html"))
    assert missing.returncode != 0 and missing.stderr.strip() == "error: no sweep 'nosuch'"
    assert not (tmp_path / "x.html").exists()


def test_watch_prints_plain_lines_as_runs_end_and_stops_when_the_sweep_is_over(
    procs: Any, redis_url: str, store: Store, seeded: str
) -> None:
    proc = procs.spawn(redsweep_cmd(redis_url, "watch", seeded))
    wait_for_output(
        procs, proc, f"sweep {seeded} running: 14/∞ done, 1 running", STARTUP_S, "stdout"
    )
    pending = store.reads.trial_ids(seeded)[15]
    finish_run(store, seeded, pending, start_run(store, seeded, pending), 0.01)
    wait_for_output(procs, proc, f"run {pending} finished: loss=0.01", 30, "stdout")
    wait_for_output(procs, proc, f"best loss=0.01 (run {pending})", 30, "stdout")
    running = store.reads.trial_ids(seeded)[14]
    store.sweeps.set_state(seeded, SweepState.FINISHED, allowed_from=(SweepState.RUNNING,))
    store.trials.kill(seeded, running, RunState.KILLED, reason="test")
    assert proc.wait(timeout=30) == 0
    out, err = procs.output(proc)
    assert f"run {running} killed" in out and "\x1b[" not in out and not err


def test_watch_on_a_terminal_draws_the_live_view_and_q_quits(
    redis_url: str, store: Store, seeded: str
) -> None:
    """Under a pseudo-terminal (as over SSH): the rich view, then ``q`` ends it at once."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        redsweep_cmd(redis_url, "watch", seeded),
        stdin=follower, stdout=follower, stderr=follower, start_new_session=True,
        env={**os.environ, "COLUMNS": "120", "LINES": "40", "TERM": "xterm-256color"},
    )  # fmt: skip
    os.close(follower)
    seen = bytearray()

    def shown(text: str) -> bool:
        while select.select([leader], [], [], 0.1)[0]:
            try:
                seen.extend(os.read(leader, 65536))
            except OSError:
                break
        return text in seen.decode(errors="replace")

    try:
        wait_for(lambda: shown("q or Ctrl+C quits"), STARTUP_S, "the live view")
        screen = seen.decode(errors="replace")
        assert "14/∞ done" in screen and "last finishes" in screen and "running" in screen
        assert "ValueError: bad batch" in screen
        os.write(leader, b"q")
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        os.close(leader)


def test_import_redsweep_stays_light() -> None:
    """A training script's ``import redsweep`` loads none of the dashboard's libraries."""
    code = (
        "import sys, redsweep; redsweep.init; "
        "print(sorted(m for m in ('starlette', 'uvicorn', 'sklearn', 'plotly', 'rich') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_list_is_empty_without_sweeps(procs: Any, redis_url: str, store: Store) -> None:
    _, base = start_dashboard(procs, redis_url)
    assert get(f"{base}/api/sweeps")[1]["sweeps"] == []
    wait_for(lambda: get(f"{base}/")[0] == 200, 10, "the page")


def test_redis_is_taken_after_the_subcommand_too(
    procs: Any, redis_url: str, seeded: str, tmp_path: Path
) -> None:
    """``redsweep dashboard --redis URL`` (the issue's spelling) wins over the global one."""
    wrong = "redis://127.0.0.1:1/0"
    proc = procs.spawn(redsweep_cmd(wrong, "dashboard", "--port", "0", "--redis", redis_url))
    out = wait_for_output(procs, proc, "redsweep dashboard: http", STARTUP_S * 2, "stdout")
    base = re.search(r"http://\S+", out).group(0).rstrip("/")  # type: ignore[union-attr]
    assert [s["id"] for s in get(f"{base}/api/sweeps")[1]["sweeps"]] == [seeded]
    out_file = tmp_path / "r.html"
    run_cli(wrong, "report", seeded, "--redis", redis_url, "-o", str(out_file), check=True)
    assert out_file.exists()
    missing = run_cli(wrong, "watch", "nosuch", "--redis", redis_url)
    assert missing.returncode != 0 and missing.stderr.strip() == "error: no sweep 'nosuch'"


def test_the_forest_fits_in_its_own_process_and_in_the_dashboards_once_that_is_gone() -> None:
    rng = random.Random(5)
    configs = [{"x": rng.uniform(0, 1), "noise": rng.uniform(0, 1)} for _ in range(60)]
    values = [3 * c["x"] + 0.01 * rng.random() for c in configs]
    expected = parameter_importance(configs, values)
    assert expected[0]["name"] == "x"
    forest = Forest()
    try:
        pid = forest.pid
        assert pid is not None and forest.fit(configs, values) == expected
        os.kill(pid, signal.SIGKILL)
        assert forest.fit(configs, values) == expected  # in this process
        assert forest.pid is None
    finally:
        forest.close()
