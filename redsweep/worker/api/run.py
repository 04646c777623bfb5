"""A run object, W&B's ``wandb.run``: its names, config, summary, files, and ``log()``.

Used by :mod:`redsweep.worker.api.functions` (the module-level API) and the agent's trial runner;
the ways a run starts (a command trial's subprocess, a local run) are in
:mod:`redsweep.worker.api.starts`.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType

from redsweep.errors import RedsweepError
from redsweep.worker.api import ending, notices
from redsweep.worker.api.away import outage_of
from redsweep.worker.api.config import Config
from redsweep.worker.api.ending import StopTrial
from redsweep.worker.api.files import FILES_DIR_KEY, RunFiles, run_folder, runs_root
from redsweep.worker.api.limits import fit
from redsweep.worker.api.link import TrialLink
from redsweep.worker.api.reporter import Reporter
from redsweep.worker.api.summary import MetricDef, Metrics, Summary
from redsweep.worker.api.values import loggable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

ENV_SWEEP_ID = "REDSWEEP_SWEEP_ID"
ENV_RUN_ID = "REDSWEEP_RUN_ID"
ENV_TOKEN = "REDSWEEP_RUN_TOKEN"
ENV_LEASE_MS = "REDSWEEP_LEASE_MS"
ENV_HISTORY_CAP = "REDSWEEP_HISTORY_CAP"

#: How long finish() waits for buffered rows to reach Redis.
FLUSH_TIMEOUT_S = 10.0
#: The lease of a local run (renewed by its reporter thread every third of it).
LOCAL_LEASE_MS = 60_000
#: Plain types log() passes without looking for media.
_PLAIN = (str, int, float, bool, type(None))


class Run:
    """A run (one trial), W&B style: ``id``, ``name``, ``config``, ``summary``, ``dir``,
    ``log()``, ``finish()``, ``define_metric()``, ``save()``, usable as a context manager.

    ``mode`` is ``"agent"`` (a function trial: the agent finishes it in the store),
    ``"command"`` (a command trial's subprocess: the agent finishes it from the exit code) or
    ``"local"`` (outside a sweep: ``finish()`` finishes it and its one-trial sweep).
    W&B's descriptive fields (``entity``, ``group``, ``job_type``, ``tags``, ``notes``) are
    kept on the object as given to ``init()``.
    """

    def __init__(
        self,
        link: TrialLink,
        *,
        mode: str,
        config: Config,
        name: str | None = None,
        reporter: Reporter | None = None,
        owns_reporter: bool = True,
        on_end: Callable[[Run], None] | None = None,
        root: str | os.PathLike[str] | None = None,
    ) -> None:
        self.id = link.trial_id
        self.sweep_id = link.sweep_id
        self.project = link.project
        self.name = name or link.trial_id
        self.config = config
        self.summary = Summary()
        self.mode = mode
        self.exit_code: int | None = None
        self.entity: str | None = None
        self.group: str | None = None
        self.job_type: str | None = None
        self.tags: tuple[str, ...] = ()
        self.notes: str | None = None
        self.resumed = False
        self.start_time = time.time()
        self.offline = True
        self.disabled = False
        self.files = RunFiles(run_folder(runs_root(root), link.sweep_id, link.trial_id))
        self._link = link
        self._reporter = reporter or Reporter(link, outage=outage_of(link.store))
        self._owns_reporter = owns_reporter or reporter is None
        self._on_end = on_end
        self._metrics = Metrics()
        self._step = 0
        self._pending: tuple[int, dict[str, Any]] | None = None  # (step, row) not committed
        self._finished = False
        self._files_announced = False
        self._handed_over = False  # finish() found Redis away: the rest goes to the agent
        self._lock = threading.Lock()

    # ---- W&B's read-only fields ---------------------------------------------------------------

    @property
    def step(self) -> int:
        """The step the next ``log()`` without ``step`` gets."""
        return self._step

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def dir(self) -> str:
        """The run's files folder (made on first use): what ``save()`` and media write to."""
        return str(self.files.ensure())

    @property
    def path(self) -> str:
        """``SWEEP_ID/RUN_ID``: what ``redsweep.Api().run()`` takes."""
        return f"{self.sweep_id}/{self.id}"

    @property
    def url(self) -> str:
        """No web page here: a ``redsweep://`` address that ``Api().run()`` also takes."""
        return f"redsweep://{self.sweep_id}/{self.id}"

    def get_url(self) -> str:
        return self.url

    def get_sweep_url(self) -> str | None:
        return None if self.mode == "local" else f"redsweep://{self.sweep_id}"

    def get_project_url(self) -> str:
        return f"redsweep://project/{self.project or ''}"

    # ---- logging -----------------------------------------------------------------------------

    def log(self, data: Mapping[str, Any], step: int | None = None, commit: Any = None) -> None:
        """Record one row of metrics at ``step`` (default: one past the last). Returns at once;
        raises :class:`StopTrial` when the trial must stop. With ``commit=False`` the values
        wait for more of the same step (W&B): the next log() of another step, or with
        ``commit`` not False, sends them as one row. Media values (images, tables, figures)
        are saved as files of the run and logged as a reference to the file. Keys that break
        the limits of a row (:mod:`~redsweep.worker.api.limits`) are dropped, the first time
        with a warning."""
        if self._finished:
            raise RedsweepError(f"run {self.id} is finished; call init() to start another")
        why = self._link.why()
        if why:
            raise StopTrial(why)
        if not isinstance(data, Mapping):
            raise TypeError(f"log() takes a dict of metrics, got {type(data).__name__}")
        if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
            raise ValueError(f"step must be a non-negative integer, got {step!r}")
        at = self._step if step is None else step
        row = {str(k): self._value(str(k), v, at) for k, v in data.items()}
        self._announce_files()
        row = self._fit(row)
        with self._lock:
            if step is None:
                step = self._step
            self._metrics.apply(row, self.summary)  # the summary, as define_metric asks
            if self._pending and step != self._pending[0]:
                self._reporter.add(*self._pending)  # a new step commits the one before
                self._pending = None
            if self._pending:
                row = self._fit({**self._pending[1], **row})  # the sum may pass a limit
            if commit is False:  # W&B: more values for this step may follow
                self._pending = (step, row)
                return
            self._pending = None
            self._step = max(self._step, step + 1)
        self._reporter.add(step, row)

    def _value(self, key: str, value: Any, step: int) -> Any:
        if isinstance(value, _PLAIN):
            return value
        from redsweep.worker.api.media import encode  # only when a row holds more than numbers

        return loggable(encode(value, self.files, key, step))

    def _fit(self, row: dict[str, Any]) -> dict[str, Any]:
        row, dropped = fit(row, self._link.limits)
        if dropped:
            shown = "; ".join(dropped[:5]) + ("; ..." if len(dropped) > 5 else "")
            self._link.warn(
                f"log() dropped {len(dropped)} key(s) over the limits of a row, the rest of "
                f"the row was kept: {shown} (later drops in this run are not reported)"
            )
        return row

    def commit(self) -> None:
        """Send a row held back by ``log(..., commit=False)``."""
        with self._lock:
            self._commit()

    def _commit(self) -> None:
        if self._pending:
            self._reporter.add(*self._pending)
            self._step = max(self._step, self._pending[0] + 1)
            self._pending = None

    def flush(self, timeout: float | None = FLUSH_TIMEOUT_S) -> bool:
        """Wait until the logged rows reached Redis; False on timeout."""
        return self._reporter.flush(timeout)

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
        **ignored: Any,
    ) -> MetricDef:
        """W&B's ``define_metric``: ``summary="min"`` (``max``, ``mean``, ``last``, ``first``,
        ``best`` with ``goal``, comma-separated) keeps that in the summary as
        ``{"min": ...}``; ``step_metric`` adds that key's last value to rows that lack it;
        ``hidden`` keeps the key out of the summary. ``name`` may end in ``*``."""
        return self._metrics.define(name, step_metric, step_sync, hidden, summary, goal, overwrite)

    # ---- files, artifacts, and what has no meaning offline -----------------------------------

    def save(
        self, glob_str: str | None = None, base_path: str | None = None, policy: str = "live"
    ) -> list[str]:
        """Copy the files matching ``glob_str`` into the run's files folder (``live`` and
        ``end`` ones again at the end); their names, relative to :attr:`dir`."""
        if glob_str is None:
            return []
        saved = self.files.save(os.fspath(glob_str), base_path, policy)
        self._announce_files()
        return saved

    def _announce_files(self) -> None:
        """Once the run has a file: its folder on the summary at once (``_files_dir``), so
        that a running run's files can be found; the list follows when the run ends."""
        if self._files_announced or not self.files.names_kept():
            return
        self._files_announced = True
        self.summary[FILES_DIR_KEY] = str(self.files.dir)
        self.send_summary()

    def restore(
        self,
        name: str,
        run_path: str | None = None,
        replace: bool = False,
        root: str | None = None,
    ) -> Any:
        """A file saved by this run (or the run ``SWEEP_ID/RUN_ID`` at ``run_path``), copied
        into ``root`` (default :attr:`dir`) and opened for reading; None if there is none."""
        from redsweep.worker.api.artifacts import restore

        return restore(self, name, run_path, replace, root)

    def log_artifact(
        self,
        artifact_or_path: Any,
        name: str | None = None,
        type: str | None = None,
        aliases: Sequence[str] | None = None,
        **ignored: Any,
    ) -> Any:
        """Keep the artifact's files under the run's folder with a manifest (see
        :mod:`~redsweep.worker.api.artifacts`)."""
        from redsweep.worker.api.artifacts import log_artifact

        return log_artifact(self, artifact_or_path, name, type, aliases)

    def use_artifact(
        self, artifact_or_name: Any, type: str | None = None, aliases: Any = None, **ignored: Any
    ) -> Any:
        """An artifact logged earlier on this machine (``name``, ``name:vN``, ``name:latest``)."""
        from redsweep.worker.api.artifacts import use_artifact

        return use_artifact(self, artifact_or_name, type)

    def link_artifact(self, *args: Any, **kwargs: Any) -> None:
        notices.noop("link_artifact()", "no model registry here")

    def log_model(self, path: Any, name: str | None = None, aliases: Any = None) -> Any:
        return self.log_artifact(path, name=name, type="model", aliases=aliases)

    def use_model(self, name: str) -> str:
        return self.use_artifact(name).download()

    def watch(self, models: Any = None, *args: Any, **kwargs: Any) -> None:
        """W&B logs gradients and parameters of a torch model: not here (says so once)."""
        notices.noop("watch()", "gradients and parameters are not logged")

    def unwatch(self, models: Any = None) -> None:
        pass

    def alert(self, title: str, text: str, level: Any = None, wait_duration: Any = None) -> None:
        """No Slack or email here: the alert is printed on stderr (the run's log)."""
        level_name = getattr(level, "value", level) or "INFO"
        notices.termwarn(f"alert [{level_name}] {title}: {text}")

    def log_code(self, root: str | None = ".", name: str | None = None, **kwargs: Any) -> None:
        """Copy the ``.py`` files under ``root`` into the files folder's ``code/``."""
        if root is not None:
            from pathlib import Path

            for path in sorted(Path(root).rglob("*.py")):
                if ".redsweep" not in path.parts:
                    self.files.copy(path, f"code/{path.relative_to(root).as_posix()}")

    def mark_preempting(self) -> None:
        pass

    # ---- the end -------------------------------------------------------------------------------

    def finish(self, exit_code: int | None = None, quiet: Any = None) -> None:
        """End the run: send what is buffered and what the script set on the summary (its
        files among them); a local run is then marked finished (failed when ``exit_code`` is
        non-zero). Calling it again does nothing."""
        ending.finish(self, exit_code, FLUSH_TIMEOUT_S)

    def hurry(self) -> None:
        """The agent stops this process while it ends (self-fencing in an outage): stop
        waiting for Redis, hand the rest to the agent (called from the SIGTERM handler)."""
        self._handed_over = True
        self._reporter.give_up()

    def end_summary(self) -> None:
        """Copy ``live`` saved files again; record on the summary the run's files and W&B's
        descriptive fields that were set (see :func:`~.ending.end_summary`)."""
        ending.end_summary(self)

    def send_summary(self) -> bool:
        """Send the summary keys the script (or define_metric, or the files) set to the store
        (see :func:`~.ending.send_summary`); a problem is printed, never raised."""
        return ending.send_summary(self)

    def _release_reporter(self, timeout: float) -> bool:
        return ending.release_reporter(self, timeout)

    def join(self, exit_code: int | None = None) -> None:
        self.finish(exit_code=exit_code)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=0 if exc is None else 1)

    def __repr__(self) -> str:
        return f"<Run {self.id} of sweep {self.sweep_id} ({self.mode})>"


def host() -> str:
    name = os.uname().nodename  # socket.gethostname(), without importing socket
    return "".join(c if c.isalnum() or c in "_.-" else "_" for c in name)[:60]
