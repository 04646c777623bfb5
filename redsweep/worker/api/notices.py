"""The in-trial API's one-line notices: a W&B call that means nothing offline says so once per
process (on stderr), and W&B's ``termlog``/``termwarn``/``termerror``."""

from __future__ import annotations

import sys
import threading

_said: set[str] = set()
_lock = threading.Lock()


def once(key: str, message: str) -> None:
    """Print ``redsweep: message`` on stderr the first time ``key`` is seen in this process."""
    with _lock:
        if key in _said:
            return
        _said.add(key)
    print(f"redsweep: {message}", file=sys.stderr, flush=True)


def noop(call: str, why: str = "there is no W&B server here") -> None:
    """Say once that ``call`` does nothing here, and why."""
    once(call, f"{call} does nothing here ({why})")


def termlog(
    string: str = "", newline: bool = True, repeat: bool = True, prefix: bool = True
) -> None:
    """Print a line as W&B's ``termlog`` does (on stderr, ``wandb:`` becomes ``redsweep:``)."""
    _term("", string, newline, repeat, prefix)


def termwarn(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    _term("WARNING ", string, newline, repeat, prefix)


def termerror(string: str, newline: bool = True, repeat: bool = True, prefix: bool = True) -> None:
    _term("ERROR ", string, newline, repeat, prefix)


def _term(level: str, string: str, newline: bool, repeat: bool, prefix: bool) -> None:
    if not repeat:
        with _lock:
            if string in _said:
                return
            _said.add(string)
    head = f"redsweep: {level}" if prefix else ""
    text = "\n".join(head + line for line in str(string).split("\n"))
    print(text, file=sys.stderr, end="\n" if newline else "", flush=True)
