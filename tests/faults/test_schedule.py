"""The randomized schedule checker, short: two rounds with a fixed seed (the long run is by
hand: ``python -m tests.faults.schedule --rounds 20 --seed 12``, README "Reliability")."""

from __future__ import annotations

import io
from pathlib import Path

from faults.schedule import KINDS, Options, run


def test_two_rounds_of_random_faults_keep_every_invariant(tmp_path: Path) -> None:
    out = io.StringIO()
    # four retries: the five faults (one of each kind) never exhaust a point, so none waits
    opts = Options(
        rounds=2, seed=7, points=10, agents=3, faults=5, retries=4, workdir=tmp_path, out=out
    )
    rounds = run(opts)
    report = out.getvalue()
    assert len(rounds) == 2, report
    assert {f.kind for r in rounds for f in r.faults} == set(KINDS), report  # each kind hit
    for r in rounds:
        assert r.figures.problems == [], report
        assert r.figures.finished_once == r.figures.points == 10, report
        assert r.figures.processes_left == 0, report
    assert report.splitlines()[-1].startswith("PASS: 2/2 rounds"), report
