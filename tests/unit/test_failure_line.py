"""The agent's line for a failed run: why (the error and the exception its output ends with)
and where its log is, on a terminal and in a log."""

from __future__ import annotations

import io
from pathlib import Path

from redsweep.progress import Progress
from redsweep.shared.records import RunState
from redsweep.worker.agent.output import failure_cause, failure_note
from redsweep.worker.trial.outcome import TrialOutcome

TAIL = """epoch 1
Traceback (most recent call last):
  File "train.py", line 9, in <module>
    main()
torch.cuda.OutOfMemoryError: CUDA out of memory
wandb: finishing run"""


def test_the_cause_is_the_exception_line_not_the_last_line() -> None:
    cause = failure_cause("the command exited with code 1", TAIL)
    assert (
        cause == "the command exited with code 1: torch.cuda.OutOfMemoryError: CUDA out of memory"
    )


def test_a_function_traceback_gives_its_last_line() -> None:
    error = 'Traceback (most recent call last):\n  File "x.py"\nValueError: boom\n'
    assert failure_cause(error, None) == "ValueError: boom"


def test_the_note_names_the_log_when_it_exists(tmp_path: Path) -> None:
    (tmp_path / "r1.log").write_text(TAIL)
    outcome = TrialOutcome(
        "r1", RunState.FAILED, 1.0, error="the command exited with code 1", log_tail=TAIL
    )
    assert failure_note(outcome, tmp_path).endswith(f"; log {tmp_path / 'r1.log'}")
    assert "; log" not in failure_note(outcome, tmp_path / "elsewhere")


def test_on_a_terminal_a_failure_gets_a_line_of_its_own() -> None:
    out = io.StringIO()
    progress = Progress("s1", out=out, tty=True)
    counts = {"failed": 1}
    progress.trial_ended("r1", "failed", value=None, seconds=0.5, counts=counts, best=None,
                         note="ValueError: boom")  # fmt: skip
    progress.trial_ended("r2", "finished", value=None, seconds=0.5, counts=counts, best=None)
    lines = out.getvalue().replace("\r", "\n").splitlines()
    assert "run r1 failed in 0.5s (ValueError: boom)" in lines
    assert not any("r2" in line for line in lines)
