"""``wandb.Artifact``, ``log_artifact``/``use_artifact`` and ``restore``, on this machine.

A logged artifact's files are copied to ``<.redsweep>/artifacts/NAME/vN/files/`` beside a
``manifest.json`` (type, description, metadata, aliases, the run that logged it, and each file's
size and sha256); ``vN`` counts up per name. ``use_artifact("NAME")`` (or ``NAME:latest``,
``NAME:v3``, ``NAME:ALIAS``, W&B's ``entity/project/`` prefix ignored) finds it again, from any
run that uses the same ``.redsweep`` folder. The run lists what it logged on its summary as
``_artifacts``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from redsweep.errors import NotFoundError, RedsweepError
from redsweep.worker.api.files import run_folder, runs_root
from redsweep.worker.api.util import sha256_file

MANIFEST = "manifest.json"


def artifacts_root(run: Any = None) -> Path:
    root = run.files.folder.parent.parent if run is not None and hasattr(run, "files") else None
    return Path(root or runs_root()).parent / "artifacts"


class Artifact:
    """A named, typed set of files (W&B's ``Artifact``), kept locally when logged."""

    def __init__(
        self,
        name: str,
        type: str = "dataset",
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        **ignored: Any,
    ) -> None:
        self.name = name
        self.type = type
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})
        self.aliases: list[str] = []
        self.version: str | None = None
        self._entries: dict[str, Path] = {}  # name in the artifact -> source file
        self._references: dict[str, str] = {}
        self._folder: Path | None = None  # set once logged or found
        self._staging: tempfile.TemporaryDirectory[str] | None = None

    # ---- building ----------------------------------------------------------------------------

    def add_file(self, local_path: str, name: str | None = None, **ignored: Any) -> Any:
        path = Path(local_path)
        if not path.is_file():
            raise RedsweepError(f"Artifact {self.name!r}: add_file({local_path!r}): no such file")
        self._entries[name or path.name] = path
        return self._entries[name or path.name]

    def add_dir(self, local_path: str, name: str | None = None, **ignored: Any) -> None:
        base = Path(local_path)
        if not base.is_dir():
            raise RedsweepError(f"Artifact {self.name!r}: add_dir({local_path!r}): no such folder")
        for path in sorted(base.rglob("*")):
            if path.is_file():
                rel = path.relative_to(base).as_posix()
                self._entries[f"{name}/{rel}" if name else rel] = path

    def add_reference(self, uri: str, name: str | None = None, **ignored: Any) -> None:
        """Recorded in the manifest; nothing is fetched."""
        self._references[name or uri.rstrip("/").rsplit("/", 1)[-1]] = uri

    @contextlib.contextmanager
    def new_file(self, name: str, mode: str = "w", encoding: str | None = None) -> Iterator[IO]:
        if self._staging is None:
            self._staging = tempfile.TemporaryDirectory(prefix="redsweep-artifact-")
        path = Path(self._staging.name) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, mode, encoding=encoding) as f:
            yield f
        self._entries[name] = path

    def add(self, obj: Any, name: str) -> None:
        """A media value or table, saved as ``name`` with its file's extension."""
        from redsweep.worker.api.media.base import Media

        if not isinstance(obj, Media):
            raise RedsweepError(f"Artifact.add() takes a media value or table, not {obj!r}")
        if self._staging is None:
            self._staging = tempfile.TemporaryDirectory(prefix="redsweep-artifact-")
        from redsweep.worker.api.files import RunFiles

        files = RunFiles(Path(self._staging.name))
        ref = obj.save(files, name)
        self._entries[ref["path"]] = files.dir / ref["path"]

    # ---- reading -----------------------------------------------------------------------------

    @property
    def qualified_name(self) -> str:
        return f"{self.name}:{self.version}" if self.version else self.name

    def files(self) -> list[str]:
        return sorted(self._entries)

    def get_path(self, name: str) -> _Entry:
        if name not in self._entries:
            raise NotFoundError(f"artifact {self.qualified_name} has no file {name!r}")
        return _Entry(self._entries[name])

    def get_entry(self, name: str) -> _Entry:
        return self.get_path(name)

    def download(self, root: str | None = None, **ignored: Any) -> str:
        """The folder holding the artifact's files (copied into ``root`` when given)."""
        if self._folder is None:
            raise RedsweepError(f"artifact {self.name!r} was not logged or used yet")
        source = self._folder / "files"
        if root is None:
            return str(source)
        shutil.copytree(source, root, dirs_exist_ok=True)
        return str(Path(root))

    def checkout(self, root: str | None = None) -> str:
        return self.download(root)

    def file(self, root: str | None = None) -> str:
        """The path of the artifact's only file."""
        [name] = self.files() or [None]
        return str(Path(self.download(root)) / name)

    def wait(self, timeout: Any = None) -> Artifact:
        return self

    def save(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __repr__(self) -> str:
        return f"<Artifact {self.qualified_name} ({self.type})>"


class _Entry:
    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def download(self, root: str | None = None) -> str:
        if root is None:
            return self.path
        Path(root).mkdir(parents=True, exist_ok=True)
        return shutil.copy(self.path, root)


def log_artifact(
    run: Any,
    artifact_or_path: Any,
    name: str | None = None,
    type: str | None = None,
    aliases: Sequence[str] | None = None,
) -> Artifact:
    """Copy the artifact's files under the artifacts folder as its next version."""
    artifact = artifact_or_path
    if not isinstance(artifact, Artifact):
        path = Path(os.fspath(artifact_or_path))
        artifact = Artifact(name or f"run-{run.id}-{path.name}", type or "unspecified")
        (artifact.add_dir if path.is_dir() else artifact.add_file)(str(path))
    folder = _next_version(artifacts_root(run) / artifact.name)
    files = []
    for entry, source in sorted(artifact._entries.items()):
        target = folder / "files" / entry
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        files.append({"path": entry, "size": target.stat().st_size, "sha256": sha256_file(target)})
    artifact.version = folder.name
    artifact.aliases = ["latest", *[a for a in (aliases or []) if a != "latest"]]
    manifest = {
        "name": artifact.name,
        "version": artifact.version,
        "type": artifact.type,
        "description": artifact.description,
        "metadata": artifact.metadata,
        "aliases": artifact.aliases,
        "run": f"{run.sweep_id}/{run.id}",
        "files": files,
        "references": artifact._references,
    }
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1, default=str), "utf-8")
    artifact._folder = folder
    logged = list(run.summary.get("_artifacts") or [])
    run.summary["_artifacts"] = [*logged, artifact.qualified_name]
    return artifact


def _next_version(base: Path) -> Path:
    base.mkdir(parents=True, exist_ok=True)
    n = len([p for p in base.iterdir() if p.name.startswith("v")])
    while True:
        folder = base / f"v{n}"
        try:
            folder.mkdir()  # atomic: two runs logging at once get different versions
            return folder
        except FileExistsError:
            n += 1


def use_artifact(run: Any, artifact_or_name: Any, type: str | None = None) -> Artifact:
    """An artifact logged on this machine: ``NAME``, ``NAME:latest``, ``NAME:vN``, an alias."""
    if isinstance(artifact_or_name, Artifact):
        return artifact_or_name
    spec = str(artifact_or_name).rsplit("/", 1)[-1]
    name, _, alias = spec.partition(":")
    base = artifacts_root(run) / name
    versions = sorted(
        (p for p in base.glob("v*") if (p / MANIFEST).is_file()),
        key=lambda p: int(p.name[1:]) if p.name[1:].isdigit() else -1,
    )
    if alias and alias != "latest":
        versions = [
            p for p in versions if p.name == alias or alias in _manifest(p).get("aliases", [])
        ]
    if not versions:
        raise NotFoundError(
            f"use_artifact({artifact_or_name!r}): no such artifact logged under {base.parent}"
        )
    return _load(versions[-1])


def _manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / MANIFEST).read_text("utf-8"))


def _load(folder: Path) -> Artifact:
    data = _manifest(folder)
    artifact = Artifact(data["name"], data.get("type") or "unspecified", data.get("description"))
    artifact.metadata = dict(data.get("metadata") or {})
    artifact.version = data.get("version") or folder.name
    artifact.aliases = list(data.get("aliases") or [])
    artifact._references = dict(data.get("references") or {})
    artifact._entries = {f["path"]: folder / "files" / f["path"] for f in data.get("files", [])}
    artifact._folder = folder
    return artifact


def restore(
    run: Any, name: str, run_path: str | None, replace: bool, root: str | None
) -> IO[str] | None:
    """W&B's ``restore``: the file ``name`` a run saved, copied into ``root`` (default the
    run's files folder) and opened for reading; None when the run has no such file."""
    source_dir = run.files.dir
    if run_path:
        parts = run_path.strip("/").split("/")
        if len(parts) < 2:
            raise RedsweepError(f"restore(run_path={run_path!r}): give SWEEP_ID/RUN_ID")
        source_dir = Path(run_folder(run.files.folder.parent.parent, parts[-2], parts[-1]), "files")
    source = source_dir / name
    if not source.is_file():
        return None
    target = Path(root or run.dir) / name
    if source.absolute() != target.absolute() and (replace or not target.exists()):
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    return open(target)
