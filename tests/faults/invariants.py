"""What the randomized schedule checker (:mod:`schedule`) asserts after each round, from the
store and from the side-effect files the trials wrote.

Each trial appends ``POINT TRIAL PID AGENT_PID start|end TIME`` to ``side/point-POINT.log``;
the ``end`` line is its side effect (the work a real trial would have done). The checker
records each fault it injected as a :class:`Fault`.
"""

from __future__ import annotations

import os
import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import redis

from redsweep.shared.records import RunState
from redsweep.shared.store import Store, TrialInfo, keys

#: the lifeline ends a dead agent's trial within a second: a side effect that close after the
#: agent's kill is the kill's, not a second run's
LIFELINE_S = 1.0

# A command trial: its start, its work (a sleep), its metric through the in-trial API (which
# must ride out an outage too), then its side effect (the ``end`` line).
TRIAL = """\
import os, sys, time
import redsweep

run = redsweep.init()
a = redsweep.config.a
side = os.path.join(os.environ["FAULTS_SIDE"], f"point-{a}.log")
launcher = os.getppid()  # the agent's launcher, whose parent is the agent
with open(f"/proc/{launcher}/stat") as fh:
    stat = fh.read()
agent = int(stat[stat.rindex(")") + 2 :].split()[1])

def note(what):
    with open(side, "a") as fh:
        fh.write(f"{a} {os.environ['REDSWEEP_RUN_ID']} {os.getpid()} {agent} {what} "
                 f"{time.time():.3f}\\n")

note("start")
hold = os.path.join(os.environ["FAULTS_SIDE"], "hold")
while a % 2 == 0 and os.path.exists(hold):  # the checker has faults left to inject
    time.sleep(0.05)
time.sleep(float(os.environ["FAULTS_WORK_S"]))
redsweep.log({"score": a})
note("end")  # last: a trial stopped before it has not done its work
"""


@dataclass(frozen=True)
class Fault:
    """One fault injected: ``kind``, when it began and ended (``time.time()``), and the agent
    and trial process it hit (None when it hit neither)."""

    kind: str
    start: float
    end: float
    agent_pid: int | None = None
    trial_pid: int | None = None
    point: int | None = None

    def excuses(self, effect: SideEffect) -> bool:
        """Whether this fault may have left ``effect``'s attempt unrecorded though it did its
        work: the attempt's own trial or agent was killed or stopped after the work."""
        if self.trial_pid is not None and self.trial_pid == effect.pid:
            return self.end >= effect.time
        if self.agent_pid is not None and self.agent_pid == effect.agent_pid:
            slack = LIFELINE_S if self.kind == "kill-agent" else 0.0
            return self.end >= effect.time - slack
        return False

    def describe(self) -> str:
        """One line for the checker's output."""
        what = {
            "kill-agent": f"kill -9 agent {self.agent_pid} (running point a={self.point})",
            "kill-trial": f"kill -9 trial {self.trial_pid} (point a={self.point})",
            "kill-controller": "kill -9 the controller, a new one started",
            "stop-agent": f"SIGSTOP agent {self.agent_pid} (running point a={self.point}) "
            f"for {self.end - self.start:.1f} s, then SIGCONT",
            "restart-redis": "Redis shut down and restarted on its AOF "
            f"({self.end - self.start:.1f} s down)",
        }
        return what[self.kind]


@dataclass(frozen=True)
class SideEffect:
    point: int
    trial_id: str
    pid: int
    agent_pid: int
    time: float


def side_effects(side_dir: Path) -> list[SideEffect]:
    """Every ``end`` line the trials wrote."""
    found = []
    for path in sorted(side_dir.glob("point-*.log")):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 6 and parts[4] == "end":
                point, trial_id, pid, agent, _, when = parts
                found.append(SideEffect(int(point), trial_id, int(pid), int(agent), float(when)))
    return found


def trial_pids(side_dir: Path) -> dict[int, str]:
    """The pid of every trial that started, and its trial id."""
    pids = {}
    for path in side_dir.glob("point-*.log"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 6:
                pids[int(parts[2])] = parts[1]
    return pids


@dataclass
class Figures:
    """The invariant figures of one round; ``problems`` empty means it passed."""

    points: int = 0
    finished_once: int = 0
    trials: int = 0
    states: Counter[str] = field(default_factory=Counter)
    terminal_events: int = 0
    side_effects: int = 0
    doubled_excused: int = 0
    retried: int = 0
    processes_left: int = 0
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        states = ", ".join(f"{n} {s}" for s, n in sorted(self.states.items()))
        return (
            f"points finished once {self.finished_once}/{self.points}; trials {self.trials} "
            f"({states}); terminal events {self.terminal_events}; side effects "
            f"{self.side_effects} ({self.doubled_excused} run again after their trial or agent was "
            f"killed or stopped); points run again with `redsweep retry --failed` after a kill "
            f"of their trial failed them {self.retried}; processes left {self.processes_left}"
        )


def check_store(
    store: Store, sweep_id: str, points: list[int], events: EventWatch, figures: Figures
) -> None:
    """Every grid point finished exactly once; no trial (attempt) with two terminal records."""
    trials = store.reads.trials(sweep_id)
    figures.points = len(points)
    figures.trials = len(trials)
    figures.states = Counter(t.state.value for t in trials)
    finished = Counter(t.params["a"] for t in trials if t.state is RunState.FINISHED)
    figures.finished_once = sum(1 for p in points if finished[p] == 1)
    for p in points:
        if finished[p] != 1:
            tries = [f"{t.id} {t.state.value} ({t.error})" for t in trials if t.params["a"] == p]
            figures.problems.append(f"point a={p} finished {finished[p]} times: {tries}")
    ended = events.terminal()
    figures.terminal_events = sum(len(states) for states in ended.values())
    for t in trials:
        seen = ended.get(t.id, [])
        if len(seen) > 1:
            figures.problems.append(f"trial {t.id} has {len(seen)} terminal records: {seen}")
        if seen and t.state.is_terminal and seen[-1] != t.state.value:
            figures.problems.append(f"trial {t.id} ended {seen[-1]} but is stored {t.state.value}")


class EventWatch(threading.Thread):
    """Follows a sweep's event stream as it is written (the controller deletes what it has
    handled) and keeps every terminal event (a finish, a crash) by trial: a trial with two is
    an attempt with two terminal records. It reconnects through Redis restarts; an event the
    controller deleted before this saw it is missed, never invented."""

    def __init__(self, url: str, sweep_id: str) -> None:
        super().__init__(daemon=True, name=f"events-{sweep_id}")
        self.url, self.stream = url, keys.events(sweep_id)
        self.ended: dict[str, list[str]] = defaultdict(list)
        self._done = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        last = "0-0"
        while not self._done.is_set():
            try:
                client = redis.Redis.from_url(self.url, socket_timeout=2, socket_connect_timeout=1)
                while not self._done.is_set():
                    reply = client.xread({self.stream: last}, block=300, count=500)
                    for _, entries in reply or []:
                        for entry_id, fields in entries:
                            last = entry_id
                            self._note(fields)
            except redis.RedisError:
                self._done.wait(0.1)

    def _note(self, fields: dict[bytes, bytes]) -> None:
        kind = fields.get(b"type")
        if kind not in (b"crash", b"finish"):
            return
        state = "crashed" if kind == b"crash" else fields.get(b"state", b"?").decode()
        with self._lock:
            self.ended[fields[b"trial"].decode()].append(state)

    def terminal(self) -> dict[str, list[str]]:
        """Stop following; the terminal events seen, by trial."""
        self._done.set()
        self.join(timeout=5)
        with self._lock:
            return dict(self.ended)


def check_side_effects(
    side_dir: Path, faults: list[Fault], records: dict[str, TrialInfo], figures: Figures
) -> None:
    """No side effect twice unless the extra one's trial was killed (or its agent killed or
    stopped) by the checker after its work, so its finish never reached Redis."""
    effects = side_effects(side_dir)
    figures.side_effects = len(effects)
    by_point: dict[int, list[SideEffect]] = defaultdict(list)
    for effect in effects:
        by_point[effect.point].append(effect)
    for point, done in sorted(by_point.items()):
        recorded = [e for e in done if _state(records, e.trial_id) == "finished"]
        if len(recorded) > 1:
            figures.problems.append(f"point a={point}: two recorded trials did its work")
        for effect in done:
            if effect in recorded:
                continue
            if any(f.excuses(effect) for f in faults):
                figures.doubled_excused += 1
                continue
            record = records.get(effect.trial_id)
            ended = f"{record.state.value}: {record.error}" if record else "not in the store"
            near = [f"{f.kind} at {f.start - effect.time:+.1f} s" for f in faults]
            figures.problems.append(
                f"point a={point}: trial {effect.trial_id} (pid {effect.pid}, agent "
                f"{effect.agent_pid}) did its work but is not recorded ({ended}), and no kill "
                f"or stop by the checker explains it; faults relative to its work: {near}"
            )


def _state(records: dict[str, TrialInfo], trial_id: str) -> str | None:
    record = records.get(trial_id)
    return record.state.value if record else None


def processes_of(marker: str) -> list[int]:
    """Live processes whose environment carries ``marker`` (everything the run started, and
    their descendants, inherit it)."""
    needle = marker.encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if needle in environ.split(b"\0") and stat[stat.rindex(")") + 2] != "Z":
            found.append(int(entry.name))
    return found
