"""Executor options: parsed from ``--executor-option key=value`` strings or Python values."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from gantry.api import GantryError

#: Environment variable naming a scheduler address when the ``address`` option is not given.
ADDRESS_ENV = "GANTRY_DASK_ADDRESS"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class DaskOptionError(GantryError):
    """An executor option is unknown or has a value of the wrong kind; names the option."""


@dataclass(frozen=True)
class DaskOptions:
    """Settings of the ``dask`` executor.

    ``address`` connects to a running scheduler (``tcp://host:8786``); without it a
    ``LocalCluster`` of ``workers`` processes with ``threads_per_worker`` threads each is started
    (and stopped by :meth:`DaskExecutor.close`). ``max_pending`` bounds the tasks in flight so a
    million-item plan never sits in the scheduler at once (default: 4 per worker thread).
    """

    address: str | None = None
    workers: int | None = None
    threads_per_worker: int = 1
    processes: bool = True
    memory_limit: str = "auto"
    dashboard_address: str | None = None
    local_directory: str | None = None
    max_pending: int | None = None
    timeout: float = 30.0

    @classmethod
    def parse(cls, options: dict[str, Any] | None = None, **kwargs: Any) -> DaskOptions:
        """Build options from a dict and keywords; strings are converted to the field's type.

        ``n_workers`` is accepted as an alias of ``workers``. Unknown keys and bad values raise
        :class:`DaskOptionError` naming the option.
        """
        raw = {**(options or {}), **kwargs}
        if "n_workers" in raw:
            raw.setdefault("workers", raw.pop("n_workers"))
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for key, value in raw.items():
            name = key.replace("-", "_")
            if name not in known:
                raise DaskOptionError(
                    f"dask executor option {key!r} is unknown (known: {', '.join(sorted(known))})")
            values[name] = _convert(name, value)
        if values.get("address") is None and os.environ.get(ADDRESS_ENV):
            values["address"] = os.environ[ADDRESS_ENV]
        parsed = cls(**values)
        parsed._check()
        return parsed

    def _check(self) -> None:
        for name in ("workers", "threads_per_worker", "max_pending"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise DaskOptionError(f"dask executor option {name!r} must be at least 1, "
                                      f"got {value}")
        if self.timeout <= 0:
            raise DaskOptionError(f"dask executor option 'timeout' must be positive, "
                                  f"got {self.timeout}")
        if self.address is not None and "://" not in self.address and ":" not in self.address:
            raise DaskOptionError(f"dask executor option 'address' must look like "
                                  f"tcp://host:port, got {self.address!r}")


_INTS = {"workers", "threads_per_worker", "max_pending"}
_FLOATS = {"timeout"}
_BOOLS = {"processes"}


def _convert(name: str, value: Any) -> Any:
    if value is None:
        return None
    try:
        if name in _INTS:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if name in _FLOATS:
            return float(value)
        if name in _BOOLS:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE:
                return True
            if text in _FALSE:
                return False
            raise ValueError
    except (TypeError, ValueError):
        kind = {**dict.fromkeys(_INTS, "an integer"), **dict.fromkeys(_FLOATS, "a number"),
                **dict.fromkeys(_BOOLS, "true or false")}[name]
        raise DaskOptionError(f"dask executor option {name!r} must be {kind}, "
                              f"got {value!r}") from None
    text = str(value)
    return text or None
