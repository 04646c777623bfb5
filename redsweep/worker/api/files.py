"""Where a run's files live, and the ones it keeps: ``wandb.save``, media, artifacts.

Layout (``ROOT`` is ``$REDSWEEP_RUNS_DIR``, else ``<init(dir=...)>/.redsweep/runs``, else
``runs`` in the project's ``.redsweep/`` (:func:`~redsweep.shared.home.project_home`: the
nearest one upward, as the local server's); an agent sets ``REDSWEEP_RUNS_DIR`` for its
command trials to its own)::

    ROOT/<sweep_id>/<run_id>/config.yaml        the run's config, W&B's format
                                                (WANDB_SWEEP_PARAM_PATH points here)
    ROOT/<sweep_id>/<run_id>/files/             run.dir: saved files, media/, tables
    ROOT/<sweep_id>/<run_id>/artifacts/NAME/vN/ logged artifacts, each with manifest.json

A run records its files on its summary as ``_files`` (paths relative to ``files/``) and
``_files_dir`` (the folder), so ``redsweep.Api().run(...).files`` lists them.

Paths are strings here, and :class:`RunFiles` hands out ``pathlib.Path`` objects only when
asked (``dir``, ``folder``, ``path()``): every run makes its folder's name, and pathlib costs a
command trial's start ~10 ms (see docs/architecture.md).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from redsweep.shared.home import DEFAULT_HOME, ENV_HOME, project_home

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

ENV_RUNS_DIR = "REDSWEEP_RUNS_DIR"
#: Summary keys where a run records its files.
FILES_KEY = "_files"
FILES_DIR_KEY = "_files_dir"


def runs_root(base: str | os.PathLike[str] | None = None) -> str:
    """The folder holding every run's folder (absolute)."""
    key = (
        os.environ.get(ENV_RUNS_DIR),
        os.fspath(base) if base else None,
        os.getcwd(),
        os.environ.get(ENV_HOME),
    )
    root = _roots.get(key)
    if root is None:  # an agent asks trial after trial: the paths are built once
        env, given, cwd, _ = key
        if env:
            root = os.path.abspath(env)
        elif given:
            root = os.path.join(os.path.abspath(given), DEFAULT_HOME, "runs")
        else:  # the project's folder: a run in a subfolder must not make a second one there
            root = os.path.join(project_home(cwd), "runs")
        if len(_roots) > 64:
            _roots.clear()
        _roots[key] = root
    return root


_roots: dict[tuple[str | None, str | None, str, str | None], str] = {}


def run_folder(root: str | os.PathLike[str], sweep_id: str, run_id: str) -> str:
    return os.path.join(root, sweep_id, run_id)


def write_config_yaml(path: str, config: Mapping[str, Any]) -> str:
    """``config`` in W&B's config file format (``wandb_version: 1``, ``KEY: {value: V}``), the
    file ``WANDB_SWEEP_PARAM_PATH`` names; the real ``wandb`` package reads it too."""
    import yaml

    os.makedirs(os.path.dirname(path), exist_ok=True)
    data: dict[str, Any] = {"wandb_version": 1}
    data.update({str(k): {"value": v} for k, v in config.items()})
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(yaml.safe_dump(data, sort_keys=False))
    os.replace(tmp, path)
    return path


class RunFiles:
    """The files folder of one run (created on first use) and the names kept in it."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self._folder = os.fspath(folder)
        self._dir = os.path.join(self._folder, "files")
        self._names: set[str] = set()
        self._live: list[tuple[str, str]] = []  # (glob, base) saved with policy live/end
        self._lock = threading.Lock()

    @property
    def folder(self) -> Path:
        """The run's folder (its ``files/``, ``config.yaml``)."""
        from pathlib import Path

        return Path(self._folder)

    @property
    def dir(self) -> Path:
        """The files folder, ``run.dir``."""
        from pathlib import Path

        return Path(self._dir)

    def ensure(self) -> Path:
        os.makedirs(self._dir, exist_ok=True)
        return self.dir

    def path(self, name: str) -> Path:
        """Where ``name`` (a relative path, ``/``-separated) goes; its folder is made."""
        target = self.ensure() / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def add(self, name: str) -> str:
        """Record ``name`` (already written under :attr:`dir`) as a file of the run."""
        with self._lock:
            self._names.add(name)
        return name

    def write_bytes(self, name: str, data: bytes) -> str:
        self.path(name).write_bytes(data)
        return self.add(name)

    def write_text(self, name: str, text: str) -> str:
        self.path(name).write_text(text, "utf-8")
        return self.add(name)

    def copy(self, source: str | os.PathLike[str], name: str) -> str:
        import shutil  # not at import: a trial's init() pays only for what it uses

        shutil.copyfile(source, self.path(name))
        return self.add(name)

    def names_kept(self) -> bool:
        """Whether a file was saved here through the API (cheap: no lock, no folder scan)."""
        return bool(self._names)

    def names(self) -> list[str]:
        """The run's files, relative to :attr:`dir`, sorted: those it saved and any the
        script wrote into the folder itself (W&B keeps everything in ``run.dir``)."""
        found = set()
        if os.path.isdir(self._dir):
            folder = self.dir
            found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        with self._lock:
            return sorted(self._names | found)

    def save(self, pattern: str, base_path: str | None = None, policy: str = "live") -> list[str]:
        """W&B's ``save``: copy the files matching ``pattern`` into the folder, keeping their
        path relative to ``base_path`` (default: the pattern's own folder). ``live`` and
        ``end`` files are copied again when the run finishes."""
        pattern = os.fspath(pattern)
        if os.path.isabs(pattern) or base_path is not None:
            base = base_path if base_path is not None else os.path.dirname(pattern)
        else:
            base = os.path.dirname(pattern)
        saved = self._copy_matches(pattern, base)
        if policy in ("live", "end"):
            with self._lock:
                self._live.append((pattern, base))
        return saved

    def resave(self) -> None:
        """Copy the ``live``/``end`` files again (at the run's end)."""
        with self._lock:
            live = list(self._live)
        for pattern, base in live:
            self._copy_matches(pattern, base)

    def _copy_matches(self, pattern: str, base: str) -> list[str]:
        import glob

        saved = []
        for match in sorted(glob.glob(pattern, recursive=True)):
            if not os.path.isfile(match):
                continue
            name = os.path.relpath(match, base or ".").replace(os.sep, "/")
            if name.startswith("../"):
                name = os.path.basename(match)
            if os.path.abspath(match) != os.path.abspath(os.path.join(self._dir, name)):
                self.copy(match, name)
            else:
                self.add(name)
            saved.append(name)
        return saved

    def summary(self) -> dict[str, Any]:
        """What the run records on its summary about its files (nothing when it has none)."""
        names = self.names()
        if not names:
            return {}
        return {FILES_KEY: names, FILES_DIR_KEY: self._dir}
