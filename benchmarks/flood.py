"""A trial flooding ``log()``: what Redis and the logging process hold after it.

One trial of a sweep logs ``--rows`` rows (default 100,000) through the in-trial API
(:class:`redsweep.Run`, its reporter thread, ``report.lua``) against a private redis-server
(a unix socket in a temporary directory, started for the benchmark and stopped at the end;
nothing touches a Redis on port 6379). It prints, before and after: ``MEMORY USAGE`` of the
trial's stored history, one string of packed rows (exact, ``SAMPLES 0``), ``INFO memory``
``used_memory``, the process's resident memory, the rows stored, and the slowest
``report.lua`` call (``SLOWLOG``: the thinning rewrites the string in one call). ``--cap`` is
the history cap (default the store's, 10,000); a cap above ``--rows`` shows what keeping every
row costs. Run by hand::

    python benchmarks/flood.py               # --rows 100000 --cap 10000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import redis

from redsweep.shared.records import SweepState
from redsweep.shared.server.local import LocalServer
from redsweep.shared.store import Store, keys
from redsweep.shared.store.scripts import HISTORY_CAP
from redsweep.worker.api.config import Config
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.run import Run

LONG = 600_000


def rss_kib() -> int:
    """This process's resident memory now, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def flood(url: str, rows: int, cap: int) -> None:
    store = Store.from_url(url)
    client = redis.Redis.from_url(url)
    sweep_id = store.sweeps.create({"method": "random"})
    epoch = store.controllers.acquire(sweep_id, "bench", LONG)
    assert epoch is not None
    store.sweeps.set_state(sweep_id, SweepState.RUNNING, allowed_from=[SweepState.PENDING])
    [trial_id] = store.trials.add(sweep_id, [{"x": 1}], epoch=epoch)
    taken = store.queue.take(sweep_id, "bench", LONG)
    assert taken is not None and taken.trial_id == trial_id and taken.token
    link = TrialLink(store, sweep_id, trial_id, taken.token, params={}, metric_name="loss")
    link.history_cap = cap
    run = Run(link, mode="agent", config=Config())
    history = keys.trial_history(sweep_id, trial_id)
    client.config_set("slowlog-log-slower-than", 0)
    client.slowlog_reset()
    used, rss = client.info("memory")["used_memory"], rss_kib()
    start = time.perf_counter()
    for i in range(rows):
        run.log({"loss": 1.0 / (i + 1), "acc": i / rows, "lr": 0.001, "epoch": i // 100})
    run.finish()
    seconds = time.perf_counter() - start
    slowest = max(
        (e["duration"] for e in client.slowlog_get(1024) if b"evalsha" in e["command"].lower()),
        default=0,
    )
    kept = len(store.reads.history(sweep_id, trial_id))
    print(f"rows logged      {rows:>12,}   cap {cap:,}, in {seconds:.1f} s")
    logged = store.reads.trial(sweep_id, trial_id).history_rows
    print(f"rows stored      {kept:>12,}   (history_rows: {logged:,})")
    print(f"stored history   {client.memory_usage(history, samples=0) or 0:>12,} B")
    print(f"used_memory      {client.info('memory')['used_memory'] - used:>+12,} B")
    print(f"process RSS      {rss_kib() - rss:>+12,} KiB")
    print(f"slowest report   {slowest / 1000:>12.1f} ms   (of the last 1,024 script calls)")
    store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--cap", type=int, default=HISTORY_CAP)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="rs-flood-") as tmp:
        server = LocalServer().start(Path(tmp) / "redis", unixsocket=True)
        try:
            flood(server.url, args.rows, args.cap)
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
