"""``wandb.util``: the helpers training scripts call."""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import string
from typing import Any

_ALPHABET = string.ascii_lowercase + string.digits


def generate_id(length: int = 8) -> str:
    """A random id of lowercase letters and digits (W&B's run ids)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def get_module(name: str, required: str | bool | None = None, lazy: bool = True) -> Any:
    """The module ``name``, or None when it is not installed (an ImportError naming what it
    is needed for when ``required``)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        if required:
            why = required if isinstance(required, str) else f"{name} is required"
            raise ImportError(why) from None
        return None


def mkdir_exists_ok(path: str | os.PathLike[str]) -> bool:
    os.makedirs(path, exist_ok=True)
    return True


def to_forward_slash_path(path: str) -> str:
    return path.replace("\\", "/")


def make_artifact_name_safe(name: str) -> str:
    """Characters an artifact name may not hold become ``_``; at most 128."""
    return re.sub(r"[^a-zA-Z0-9_\-.]", "_", name)[:128]


def json_friendly(obj: Any) -> tuple[Any, bool]:
    """``obj`` as a JSON-ready value (numpy and framework scalars, arrays), and whether it
    changed."""
    from redsweep.worker.api.values import storable

    plain = storable(obj)
    return plain, plain is not obj


def json_dumps_safer(obj: Any, **kwargs: Any) -> str:
    return json.dumps(json_friendly(obj)[0], **kwargs)


def sha256_file(path: str | os.PathLike[str]) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
