"""Suggestion time of redsweep's engine beside W&B's open-source ``sweeps`` package.

Same configs, same prior runs, same process. Run by hand (the ``bench`` extra installs
``sweeps``)::

    pip install '.[bench]'
    python benchmarks/engine.py            # --repeats 5 --runs 0,100,1000

BLAS libraries are pinned to one thread for both engines (see below).

Prints one table: median milliseconds per suggestion for each method and number of prior runs,
and the ratio sweeps / redsweep (higher is better for redsweep). The engines take turns within
each repeat (paired), and each ratio is the median of the repeats' own ratios, so a busy spell
of a shared machine weighs on both sides of a ratio alike. For bayes, two rows: a call
that fits the GP from scratch (``bayes``), and the controller's steady state, where each call
starts from the last fit's kernel hyperparameters (``bayes+memo``, :func:`engine.fit_memo`);
beside them Optuna's TPE sampler asking for the same space with the same prior trials, when
``optuna`` is installed (its ratio: TPE / redsweep).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from typing import Any

# Both engines multiply small matrices (a GP over at most a few hundred points): BLAS threads
# only add overhead there, and on a shared machine they make timings erratic. Pin both engines
# to one thread (set the variables yourself to measure otherwise).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402  (after the BLAS settings above)

from redsweep import engine  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    "grid": {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "a": {"values": list(range(20))},
            "b": {"min": 1, "max": 20},
            "c": {"values": [0.1 * i for i in range(20)]},
        },
    },
    "random": {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1},
            "batch": {"values": [16, 32, 64, 128]},
            "dropout": {"min": 0.0, "max": 0.5},
            "layers": {"min": 1, "max": 8},
        },
    },
    "bayes": {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"min": -2.0, "max": 2.0},
            "y": {"min": -2.0, "max": 2.0},
            "z": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
        },
    },
}


def loss(params: dict[str, Any]) -> float:
    """A smooth synthetic objective over any of the configs' parameters."""
    total = 0.0
    for key, value in sorted(params.items()):
        if isinstance(value, (int, float)):
            total += (float(value) - 0.3) ** 2 / (1 + len(key))
    return total


def prior_runs(method: str, k: int) -> list[engine.RunRecord]:
    config = engine.load_config(CONFIGS[method])
    if method == "grid":
        points = engine.suggest(config, [], n=k)
    else:
        rng = np.random.default_rng(1)
        points = [
            engine.suggest(config, [], n=1, seed=int(rng.integers(1 << 30)))[0] for _ in range(k)
        ]
    return [
        engine.RunRecord(
            f"r{i}", "finished", p, history=({"loss": loss(p)},), summary={"loss": loss(p)}
        )
        for i, p in enumerate(points)
    ]


def to_sweeps_runs(runs: list[engine.RunRecord]) -> list[Any]:
    from sweeps import SweepRun  # the reference, installed by the `bench` extra

    return [
        SweepRun(
            name=r.id,
            state="finished",
            config={k: {"value": v} for k, v in r.params.items()},
            history=list(r.history),
            summary_metrics=dict(r.summary),
        )
        for r in runs
    ]


def optuna_ask(raw: dict[str, Any], runs: list[engine.RunRecord]) -> Callable[[], Any] | None:
    """One TPE ask over the bayes config's space with ``runs`` as completed trials; None
    without optuna."""
    try:
        import optuna
    except ImportError:
        return None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dists = {
        "x": optuna.distributions.FloatDistribution(-2.0, 2.0),
        "y": optuna.distributions.FloatDistribution(-2.0, 2.0),
        "z": optuna.distributions.FloatDistribution(1e-4, 1.0, log=True),
    }
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials(
        [
            optuna.trial.create_trial(
                params=dict(r.params), distributions=dists, value=loss(r.params)
            )
            for r in runs
        ]
    )

    def ask() -> None:
        trial = study.ask()
        for name, dist in dists.items():
            trial._suggest(name, dist)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)  # not a result: keep k fixed

    return ask


def paired_ms(fns: dict[str, Callable[[], Any] | None], repeats: int) -> dict[str, list[float]]:
    """Milliseconds of each call in ``fns`` (None: skipped), taking turns within each repeat."""
    times: dict[str, list[float]] = {name: [] for name, fn in fns.items() if fn is not None}
    for _ in range(repeats):
        for name, fn in fns.items():
            if fn is None:
                continue
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return times


def ratio(slow: list[float], fast: list[float]) -> float:
    """The median of the repeats' own ratios slow / fast."""
    return statistics.median(a / b for a, b in zip(slow, fast, strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", default="0,100,1000")
    args = parser.parse_args()
    try:
        import sweeps
    except ImportError:
        print(
            "benchmarks/engine.py needs W&B's `sweeps` package: pip install '.[bench]'",
            file=sys.stderr,
        )
        return 2

    counts = [int(x) for x in args.runs.split(",")]
    print(f"suggestion time, median of {args.repeats} (ms); sweeps {sweeps.__version__}")
    header = (
        f"{'method':<10} {'prior runs':>10} {'redsweep':>10} {'sweeps':>10} {'ratio':>8}"
        f" {'TPE':>8} {'ratio':>7}"
    )
    print(header)
    print("-" * len(header))
    for method, raw in CONFIGS.items():
        config = engine.load_config(raw)
        for k in counts:
            runs = prior_runs(method, k)
            wb_runs = to_sweeps_runs(runs)
            fns: dict[str, Callable[[], Any] | None] = {
                "ours": partial(engine.suggest, config, runs, 1, 0),
                "sweeps": partial(sweeps.next_run, raw, wb_runs),
            }
            if method == "bayes":
                memo = engine.fit_memo()
                engine.suggest(config, runs, 1, 0, memo=memo)  # the controller's first call
                fns["memo"] = partial(engine.suggest, config, runs, 1, 1, memo)
                fns["tpe"] = optuna_ask(raw, runs)
            t = paired_ms(fns, args.repeats)
            med = {name: statistics.median(v) for name, v in t.items()}
            print(
                f"{method:<10} {k:>10} {med['ours']:>10.2f} {med['sweeps']:>10.2f} "
                f"{ratio(t['sweeps'], t['ours']):>7.1f}x"
            )
            if method != "bayes":
                continue
            tpe_text = ""
            if "tpe" in t:
                tpe_text = f"{med['tpe']:>8.2f} {ratio(t['tpe'], t['memo']):>6.1f}x"
            print(
                f"{'bayes+memo':<10} {k:>10} {med['memo']:>10.2f} {med['sweeps']:>10.2f} "
                f"{ratio(t['sweeps'], t['memo']):>7.1f}x {tpe_text}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
