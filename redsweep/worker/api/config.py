"""``redsweep.config``: a run's config with attribute and item access, W&B style.

Sweep values override the defaults given to ``init(config=...)`` and are locked: changing one
later is ignored with a warning, as W&B does.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


#: values deepcopy would hand back as they are (a sweep's params are mostly these)
_IMMUTABLE = (int, float, str, bool, type(None), bytes)


def merge(defaults: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` deep-copied with ``overrides`` on top; nested dicts merge key by key."""
    out = copy.deepcopy(dict(defaults)) if defaults else {}
    for key, value in overrides.items():
        if type(value) in _IMMUTABLE:  # every trial merges its params: no copy to make
            out[key] = value
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, Config):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


class Config(MutableMapping[str, "Any"]):  # quoted: no typing at run time
    """A dict of settings reachable as ``config.lr`` and ``config["lr"]``; nested dicts come
    back as Config views (``config.net.depth``). Keys in ``locked`` (the sweep's) keep their
    value."""

    __slots__ = ("_data", "_locked")

    def __init__(self, data: Mapping[str, Any] | None = None, locked: Iterable[str] = ()) -> None:
        object.__setattr__(self, "_data", data if type(data) is dict else dict(data or {}))
        object.__setattr__(self, "_locked", frozenset(locked))

    # ---- mapping ---------------------------------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        value = self._data[key]
        return Config(value) if type(value) is dict else value

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._locked and self._data.get(key) != value:
            warnings.warn(
                f"config key {key!r} is set by the sweep ({self._data[key]!r}); "
                f"ignoring the change to {value!r}",
                stacklevel=3,
            )
            return
        self._data[key] = _plain(value) if isinstance(value, Mapping) else value

    def __delitem__(self, key: str) -> None:
        del self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    # ---- attributes --------------------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(f"config has no key {name!r}") from None

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self._data if k.isidentifier()})

    # ---- W&B's extras ------------------------------------------------------------------------

    def update(  # type: ignore[override]
        self, other: Mapping[str, Any] | None = None, allow_val_change: bool = False, **kw: Any
    ) -> None:
        """Set several keys (sweep keys keep their value unless ``allow_val_change``);
        ``other`` may be anything ``init(config=...)`` takes (an argparse.Namespace, ...)."""
        from redsweep.worker.api.init_config import config_dict

        for key, value in {**config_dict(other), **kw}.items():
            if allow_val_change:
                self._data[key] = _plain(value) if isinstance(value, Mapping) else value
            else:
                self[key] = value

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        """Set the keys of ``defaults`` that are not set yet."""
        for key, value in defaults.items():
            if key not in self._data:
                self._data[key] = _plain(value)

    def as_dict(self) -> dict[str, Any]:
        """A plain (deep) copy."""
        return copy.deepcopy(self._data)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Mapping):
            return self.as_dict() == _plain(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Config({self._data!r})"


class ConfigProxy(MutableMapping[str, "Any"]):  # quoted: no typing at run time
    """The module-level ``redsweep.config``: forwards to the current run's Config."""

    __slots__ = ("_target",)

    def __init__(self, target: Callable[[], Config]) -> None:
        object.__setattr__(self, "_target", target)

    def __getitem__(self, key: str) -> Any:
        return self._target()[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self._target()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._target()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._target())

    def __len__(self) -> int:
        return len(self._target())

    def __contains__(self, key: object) -> bool:
        return key in self._target()

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._target(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target(), name, value)

    def __delattr__(self, name: str) -> None:
        delattr(self._target(), name)

    def __dir__(self) -> list[str]:
        return dir(self._target())

    def update(  # type: ignore[override]
        self, other: Mapping[str, Any] | None = None, allow_val_change: bool = False, **kw: Any
    ) -> None:
        self._target().update(other, allow_val_change=allow_val_change, **kw)

    def setdefaults(self, defaults: Mapping[str, Any]) -> None:
        self._target().setdefaults(defaults)

    def as_dict(self) -> dict[str, Any]:
        return self._target().as_dict()

    def __eq__(self, other: object) -> bool:
        return self._target() == other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(self._target())
