"""The one error hierarchy of redsweep.

Every error a user can cause or meet derives from :class:`RedsweepError`; the CLI turns it into
one line on stderr and a non-zero exit code (a traceback only with ``--debug``).
"""

from __future__ import annotations


class RedsweepError(Exception):
    """Base of every error redsweep raises on purpose."""

    exit_code: int = 1


class ConfigError(RedsweepError, ValueError):
    """A sweep config is invalid.

    ``problems`` holds every problem found, each a :class:`ConfigProblem`; ``str()`` names the
    source (file and line where known), the key path and what is wrong, one problem a line.
    """

    exit_code = 2

    def __init__(self, problems: list[ConfigProblem], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__(self._render())

    @property
    def path(self) -> str:
        """The key path of the first problem (``parameters.lr.min``), '' for the whole config."""
        return self.problems[0].path if self.problems else ""

    def _render(self) -> str:
        return "\n".join(p.render(self.source) for p in self.problems)


class ConfigProblem:
    """One problem in a config: where (key path, YAML line) and what."""

    __slots__ = ("line", "message", "path")

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.message = message
        self.line = line

    def render(self, source: str | None) -> str:
        where = source or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        key = self.path or "(top level)"
        return f"{where}: {key}: {self.message}"

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r}, line={self.line!r})"


class ProtocolError(RedsweepError):
    """Bytes that are not a valid redsweep wire message. ``raw`` keeps the bad bytes."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        self.raw = raw
        super().__init__(message)


class StoreError(RedsweepError):
    """Redis could not be reached or answered in a way the store cannot use."""


class UnreachableError(StoreError):
    """Redis did not answer (connection refused or reset, a timeout): the call may be tried
    again later, unlike a refused command or credentials."""


class FencedError(StoreError):
    """This process lost its lease (controller or trial) and must stop acting on it."""


class SweepStateError(StoreError):
    """A sweep state change was refused by its compare-and-set (``state`` is the current one)."""

    def __init__(self, message: str, sweep_id: str = "", state: str = "") -> None:
        self.sweep_id = sweep_id
        self.state = state
        super().__init__(message)


class NotFoundError(RedsweepError):
    """A sweep or run id that does not exist."""


class SweepLostError(RedsweepError):
    """A sweep this process was serving is no longer in Redis: the server lost its data (it
    restarted without persistence, was flushed, or failed over to an empty replica). Not a
    :class:`NotFoundError`: a sweep id that never existed is a typo, this is lost data."""

    def __init__(self, url: str, sweep_id: str) -> None:
        self.url = url
        self.sweep_id = sweep_id
        super().__init__(
            f"Redis at {url} no longer holds sweep {sweep_id}: "
            "was it restarted without persistence?"
        )
