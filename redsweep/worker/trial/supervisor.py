"""The head of a command trial's process group: it starts the command in its group, ends the
whole group the moment the agent is gone, and otherwise exits as the command did.

Run by path as ``python -I -S supervisor.py FD COMMAND...`` (see
:mod:`redsweep.worker.trial.command`); it imports only the standard library, so it costs a
bare interpreter start. ``FD`` is the trial's end of its *lifeline*, a socket whose other end
only the agent holds (not inheritable, never passed on). Reading EOF on it means the agent
process is gone: the kernel closes a dead process's descriptors however it died and whatever
its threads were doing, so this cannot miss the way a parent-death signal can (that one
fires on the death of the creating *thread*).

The command's exit is mirrored: its exit code, or death by the same signal, so the agent
reads the command's own end. SIGTERM from the agent (a stop: it signals the group) reaches
the command; the supervisor only notes it and waits, so the command keeps its grace period.
When the command cannot be started, the reason goes back on the lifeline and the exit code
is :data:`START_FAILED`.

:func:`watch` is also used by a forked function trial (:mod:`redsweep.worker.trial.forked`),
on a pipe's read end.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

#: Exit code when the command could not be started (the reason is sent on the lifeline).
START_FAILED = 127


def end_group() -> None:
    """SIGKILL this process's group, if it leads one, else only this process."""
    if os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def watch(fd: int) -> threading.Thread:
    """End this process's group (:func:`end_group`) as soon as ``fd`` reads EOF: the other end
    of the lifeline, held only by the agent, is closed, so the agent is gone."""

    def run() -> None:
        while True:
            try:
                if not os.read(fd, 4096):
                    break
            except ConnectionResetError:  # the agent died with bytes of ours unread
                break
            except OSError:  # not a lifeline any more (closed by the trial's own code)
                return
        end_group()

    thread = threading.Thread(target=run, name="redsweep-lifeline", daemon=True)
    thread.start()
    return thread


def mirror(status: int) -> int:
    """Exit as the command did (its wait ``status``): by its signal, or with its code."""
    if not os.WIFSIGNALED(status):
        return os.waitstatus_to_exitcode(status)
    sig = os.WTERMSIG(status)
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource  # no core file of the supervisor for a command's SIGSEGV

        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with contextlib.suppress(OSError, ValueError):  # SIGKILL has no handler to reset
        signal.signal(sig, signal.SIG_DFL)
    with contextlib.suppress(OSError, ValueError):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
    os.kill(os.getpid(), sig)
    return 128 + sig  # a signal whose default is not to end the process (should not happen)


def main(argv: list[str]) -> int:
    """Start ``argv[1:]`` under the lifeline ``argv[0]``; return the exit code to leave with."""
    fd, command = int(argv[0]), argv[1:]
    # A handler, not SIG_IGN: an ignored signal would stay ignored in the command after exec.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    os.set_inheritable(fd, False)  # the command must not hold the lifeline
    watch(fd)
    try:
        # Python ignores SIGPIPE and SIGXFSZ; the command gets them back, as Popen does.
        pid = os.posix_spawnp(
            command[0],
            command,
            os.environ,
            setsigdef=(signal.SIGPIPE, signal.SIGXFSZ),
        )
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.write(fd, str(exc).encode("utf-8", "replace"))
        return START_FAILED
    with contextlib.suppress(OSError, ValueError):  # the command's channel to the agent is its own
        os.close(int(os.environ.get("REDSWEEP_AGENT_FD", "")))
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return 1
    return mirror(status)


if __name__ == "__main__":
    os._exit(main(sys.argv[1:]))
