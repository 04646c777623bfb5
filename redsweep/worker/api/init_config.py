"""What ``init(config=...)`` may be, as W&B takes it: a dict, an ``argparse.Namespace``, an
absl flags object, a path to a YAML or JSON file, or any object with ``__dict__``; and
``config_include_keys`` / ``config_exclude_keys``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from redsweep.errors import RedsweepError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any


def config_dict(
    config: Any,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] | None = None,
) -> dict[str, Any]:
    """``config`` as a plain dict (keys kept or left out as asked)."""
    data = _as_dict(config)
    if include is not None and exclude is not None:
        raise RedsweepError("init(): give config_include_keys or config_exclude_keys, not both")
    if include is not None:
        keep = set(include)
        data = {k: v for k, v in data.items() if k in keep}
    if exclude is not None:
        drop = set(exclude)
        data = {k: v for k, v in data.items() if k not in drop}
    return data


def _as_dict(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return {str(k): v for k, v in config.items()}
    if isinstance(config, (str, os.PathLike)):
        from pathlib import Path  # only for a file: pathlib costs a command trial's start

        return _from_file(Path(config))
    flags = _absl_flags(config)
    if flags is not None:
        return flags
    as_dict = getattr(config, "as_dict", None)
    if callable(as_dict):  # another run's config, ml_collections' ConfigDict
        return dict(as_dict())
    values = getattr(config, "__dict__", None)
    if isinstance(values, Mapping):
        return {str(k): v for k, v in values.items() if not str(k).startswith("_")}
    raise RedsweepError(
        f"init(config=...) takes a dict, an argparse.Namespace, a path to a YAML or JSON "
        f"file or an object with attributes, not {type(config).__name__}"
    )


def _absl_flags(config: Any) -> dict[str, Any] | None:
    """absl's FLAGS: its flag values (absl is imported only if the script did)."""
    module = type(config).__module__ or ""
    if not module.startswith("absl"):
        return None
    values = getattr(config, "flag_values_dict", None)
    return dict(values()) if callable(values) else None


def _from_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise RedsweepError(f"init(config={str(path)!r}): no such file")
    text = path.read_text("utf-8")
    try:
        if path.suffix.lower() == ".json":
            import json

            loaded = json.loads(text)
        else:
            import yaml

            loaded = yaml.safe_load(text)
    except ValueError as exc:  # json and yaml errors are ValueErrors... yaml's are not
        raise RedsweepError(f"init(config={str(path)!r}): {exc}") from None
    except Exception as exc:
        raise RedsweepError(f"init(config={str(path)!r}): not valid YAML: {exc}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise RedsweepError(f"init(config={str(path)!r}): the file holds no mapping of keys")
    loaded = dict(loaded)
    loaded.pop("wandb_version", None)
    # W&B's own config files: KEY: {value: V, desc: ...}
    return {
        str(k): (v["value"] if isinstance(v, Mapping) and "value" in v else v)
        for k, v in loaded.items()
    }
