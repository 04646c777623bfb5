"""A function trial in a forked child (``isolate=True``): the fork, and what runs in the child.

The child leads its own process group (killed when the agent dies: it watches a lifeline),
opens its own Store, reports its rows itself and exits
with a code that tells the parent how the trial ended (the traceback travels on a pipe).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import traceback
import warnings
from collections.abc import Callable
from typing import Any

from redsweep.shared.store import Store
from redsweep.shared.store.connection import lease_options
from redsweep.worker.api.away import ENV_UNSENT
from redsweep.worker.api.ending import StopTrial, raise_stop
from redsweep.worker.api.functions import bind_trial, unbind_trial
from redsweep.worker.api.link import TrialLink
from redsweep.worker.trial.children import kill_group

#: Exit code of a forked function trial that was stopped (StopTrial).
STOPPED_CODE = 3


def format_error(exc: BaseException) -> str:
    """The traceback without the runner's own frame."""
    tb = exc.__traceback__
    if tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def watch(fd: int) -> threading.Thread:
    """End this process's group as soon as ``fd`` reads EOF: the write end of the lifeline,
    held only by the agent, is closed, so the agent is gone (however it died: the kernel
    closes a dead process's descriptors, which a parent-death signal cannot promise)."""

    def run() -> None:
        while True:
            try:
                if not os.read(fd, 4096):
                    break
            except OSError:  # not a lifeline any more (closed by the trial's own code)
                return
        if os.getpgrp() == os.getpid():
            os.killpg(0, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=run, name="redsweep-lifeline", daemon=True)
    thread.start()
    return thread


def fork_trial(
    url: str,
    link: TrialLink,
    function: Callable[[], Any],
    unsent: str,
    *,
    supervise: Callable[[int, Callable[[], bool]], bool],
    on_exit: Callable[[], None],
) -> tuple[int, bool, str | None]:
    """Run ``function`` for the trial of ``link`` in a forked child (its rows left unsent go
    to ``unsent``), watched by ``supervise(pgid, exited)`` (whether it signalled the group);
    ``on_exit`` is called from a thread when the child exits. The group is killed at the end.
    Returns (the exit code, negative for a signal; whether it was signalled; the traceback)."""
    read_fd, write_fd = os.pipe()
    life_read, life_write = os.pipe()  # only this process holds life_write: the lifeline
    with warnings.catch_warnings():  # "fork() may deadlock" with threads: the child
        warnings.simplefilter("ignore", DeprecationWarning)  # only starts fresh ones
        pid = os.fork()
    if pid == 0:  # the child: never returns
        os.close(read_fd)
        os.close(life_write)
        child_main(write_fd, url, link, function, life_read, unsent)
    os.close(write_fd)
    os.close(life_read)
    with contextlib.suppress(OSError):
        os.setpgid(pid, pid)
    exited = threading.Event()
    status: list[int] = []

    def reap() -> None:
        status.append(os.waitpid(pid, 0)[1])
        exited.set()
        on_exit()

    threading.Thread(target=reap, name=f"redsweep-wait-{pid}", daemon=True).start()
    try:
        signalled = supervise(pid, exited.is_set)
    finally:
        kill_group(pid, signal.SIGKILL)
        exited.wait()
        os.close(life_write)
    with os.fdopen(read_fd, "rb") as pipe:
        error_text = pipe.read().decode("utf-8", "replace") or None
    return os.waitstatus_to_exitcode(status[0]), signalled, error_text


def child_main(
    write_fd: int,
    url: str,
    parent_link: TrialLink,
    function: Callable[[], Any],
    lifeline_fd: int | None = None,
    unsent_path: str | None = None,
) -> None:
    """A forked function trial: its own process group and Store; reports go from here; the
    exit code says how it ended, the pipe carries the traceback. The group is killed as soon
    as ``lifeline_fd`` (the read end of a pipe only the agent writes to) reads EOF. Rows it
    cannot send at the end (Redis away) go to ``unsent_path`` for the agent."""
    code = 1
    error = ""
    try:
        with contextlib.suppress(OSError):
            os.setpgid(0, 0)
        if lifeline_fd is not None:
            watch(lifeline_fd)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the agent decides what Ctrl-C means
        signal.signal(signal.SIGTERM, raise_stop)
        if unsent_path is not None:
            os.environ[ENV_UNSENT] = unsent_path
        link = TrialLink(
            Store.from_url(url, **lease_options(parent_link.lease_ms)),
            parent_link.sweep_id,
            parent_link.trial_id,
            parent_link.token,
            params=parent_link.params,
            metric_name=parent_link.metric_name,
            goal=parent_link.goal,
            lease_ms=parent_link.lease_ms,
            project=parent_link.project,
            history_cap=parent_link.history_cap,
            limits=parent_link.limits,
        )
        run = bind_trial(link)
        try:
            function()
            code = 1 if run.exit_code else 0
            error = f"finish(exit_code={run.exit_code})" if run.exit_code else ""
        except StopTrial:
            code = STOPPED_CODE
        except SystemExit as exc:
            code = 0 if exc.code in (None, 0) else 1
            error = "" if code == 0 else f"SystemExit({exc.code!r})"
        except BaseException as exc:
            code, error = 1, format_error(exc)
        finally:
            unbind_trial(link)
    except BaseException as exc:
        error = error or format_error(exc)
    finally:
        try:
            if error:
                os.write(write_fd, error[-32_000:].encode("utf-8", "replace"))
            os.close(write_fd)
        finally:
            os._exit(code)
