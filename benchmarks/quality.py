"""Search quality of redsweep's bayes beside Optuna's samplers and W&B's ``sweeps`` engine.

Three test functions, each minimised: Branin (2-D, minimum 0.397887), Hartmann6 (6-D,
minimum -3.32237) and a 10-D quadratic (sum of (x_i - 1)^2 over [-10, 10]^10, minimum 0).
Each engine gets ``--trials`` sequential suggestions per seed, over ``--seeds`` seeds; the table
shows the median (and the quartiles) of the best value found, and the median milliseconds per
suggestion. Lower is better. The engines that are not installed are skipped, saying so:
Optuna's TPE (``optuna``), Optuna's GP (``optuna`` with ``torch``) and W&B's engine
(``sweeps``). Run by hand (the ``bench`` extra installs ``optuna`` and ``sweeps``)::

    pip install '.[bench]'
    python benchmarks/quality.py                 # --trials 50 --seeds 10
    python benchmarks/quality.py --engines redsweep,tpe --seeds 3
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

# small matrices: BLAS threads only add noise on a shared machine (as benchmarks/engine.py)
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from redsweep import engine  # noqa: E402

Bounds = Sequence[tuple[float, float]]

_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def branin(x: Sequence[float]) -> float:
    x1, x2 = x
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


def hartmann6(x: Sequence[float]) -> float:
    inner = (_H6_A * (np.asarray(x) - _H6_P) ** 2).sum(axis=1)
    return float(-(_H6_ALPHA * np.exp(-inner)).sum())


def quadratic10(x: Sequence[float]) -> float:
    return float(sum((v - 1.0) ** 2 for v in x))


PROBLEMS: dict[str, tuple[Callable[[Sequence[float]], float], Bounds, float]] = {
    "branin": (branin, [(-5.0, 10.0), (0.0, 15.0)], 0.397887),
    "hartmann6": (hartmann6, [(0.0, 1.0)] * 6, -3.32237),
    "quadratic10": (quadratic10, [(-10.0, 10.0)] * 10, 0.0),
}


def sweep_config(bounds: Bounds) -> dict[str, Any]:
    return {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {f"x{i}": {"min": lo, "max": hi} for i, (lo, hi) in enumerate(bounds)},
    }


def _redsweep(warm: bool) -> Callable[..., tuple[float, float]]:
    def run(fn: Callable, bounds: Bounds, trials: int, seed: int) -> tuple[float, float]:
        return run_redsweep(fn, bounds, trials, seed, warm=warm)

    return run


def run_redsweep(
    fn: Callable, bounds: Bounds, trials: int, seed: int, *, warm: bool = True
) -> tuple[float, float]:
    """As the controller asks: one suggestion at a time, with a memo of the last fit (``warm``)
    or fitting from scratch each time."""
    config = engine.load_config(sweep_config(bounds))
    memo = engine.fit_memo() if warm else None
    runs: list[engine.RunRecord] = []
    best, spent = math.inf, 0.0
    for i in range(trials):
        start = time.perf_counter()
        params = engine.suggest(config, runs, n=1, seed=seed * 100_003 + i, memo=memo)[0]
        spent += time.perf_counter() - start
        value = fn([params[f"x{j}"] for j in range(len(bounds))])
        best = min(best, value)
        runs.append(engine.RunRecord(f"r{i}", "finished", params, summary={"loss": value}))
    return best, spent / trials


def run_sweeps(fn: Callable, bounds: Bounds, trials: int, seed: int) -> tuple[float, float]:
    import sweeps  # W&B's engine; seeds numpy's global generator as its only source

    np.random.seed(seed)
    config = sweep_config(bounds)
    runs: list[Any] = []
    best, spent = math.inf, 0.0
    for i in range(trials):
        start = time.perf_counter()
        run = sweeps.next_run(config, runs)
        spent += time.perf_counter() - start
        params = {k: v["value"] for k, v in run.config.items()}
        value = fn([params[f"x{j}"] for j in range(len(bounds))])
        best = min(best, value)
        runs.append(
            sweeps.SweepRun(
                name=f"r{i}",
                state="finished",
                config=run.config,
                history=[{"loss": value}],
                summary_metrics={"loss": value},
            )
        )
    return best, spent / trials


def _optuna(sampler_name: str) -> Callable[..., tuple[float, float]]:
    def run(fn: Callable, bounds: Bounds, trials: int, seed: int) -> tuple[float, float]:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        if sampler_name == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed)
        else:
            sampler = optuna.samplers.GPSampler(seed=seed)
        study = optuna.create_study(sampler=sampler)
        best, spent = math.inf, 0.0
        for _ in range(trials):
            start = time.perf_counter()
            trial = study.ask()
            xs = [trial.suggest_float(f"x{j}", lo, hi) for j, (lo, hi) in enumerate(bounds)]
            spent += time.perf_counter() - start
            value = fn(xs)
            study.tell(trial, value)
            best = min(best, value)
        return best, spent / trials

    return run


def available(name: str) -> str | None:
    """None when the engine can run here, else why not."""
    try:
        if name == "sweeps":
            import sweeps  # noqa: F401
        elif name in ("tpe", "gp"):
            import optuna  # noqa: F401

            if name == "gp":
                import torch  # noqa: F401  (Optuna's GPSampler needs it)
    except ImportError as exc:
        return f"{exc.name} is not installed"
    return None


ENGINES: dict[str, tuple[str, Callable[..., tuple[float, float]]]] = {
    "redsweep": ("redsweep bayes", _redsweep(warm=True)),
    "redsweep-cold": ("redsweep, no memo", _redsweep(warm=False)),
    "tpe": ("Optuna TPE", _optuna("tpe")),
    "gp": ("Optuna GP", _optuna("gp")),
    "sweeps": ("W&B sweeps bayes", run_sweeps),
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--problems", default=",".join(PROBLEMS))
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for name in engines:
        if name not in ENGINES:
            print(f"unknown engine {name!r}: one of {', '.join(ENGINES)}", file=sys.stderr)
            return 2
    print(f"best value after {args.trials} trials, median [quartiles] over {args.seeds} seeds")
    header = f"{'problem':<12} {'engine':<18} {'median best':>12} {'quartiles':>22} {'ms/sugg':>8}"
    print(header)
    print("-" * len(header))
    for problem in args.problems.split(","):
        fn, bounds, minimum = PROBLEMS[problem]
        for name in engines:
            label, runner = ENGINES[name]
            why = available(name)
            if why is not None:
                print(f"{problem:<12} {label:<18} {'skipped: ' + why:>44}")
                continue
            bests, times = [], []
            for seed in range(args.seeds):
                best, per = runner(fn, bounds, args.trials, seed)
                bests.append(best)
                times.append(per * 1000)
            q1, _, q3 = statistics.quantiles(bests, n=4) if len(bests) > 1 else (bests[0],) * 3
            quart = f"[{q1:.4g}, {q3:.4g}]"
            print(
                f"{problem:<12} {label:<18} {statistics.median(bests):>12.5g} {quart:>22} "
                f"{statistics.median(times):>8.1f}"
            )
        print(f"{'':<12} {'(true minimum)':<18} {minimum:>12.5g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
