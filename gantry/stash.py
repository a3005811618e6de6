"""Typed per-run state: a :class:`Stash` keyed by :class:`StashKey` objects (like pytest's).

A component that keeps something for the length of a run (implementations built once, a
computed flag) declares a module-level key and reads and writes ``run.stash[key]``; nobody
else can collide with it, and the key carries the value's type::

    IMPLS = StashKey[dict[str, Any]]()
    run.stash.setdefault(IMPLS, {})
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")
D = TypeVar("D")


class StashKey(Generic[T]):
    """A key into a :class:`Stash`, for values of type ``T`` (compared by identity)."""

    __slots__ = ()


class Stash:
    """A mapping from :class:`StashKey` to values of the key's type."""

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[StashKey[Any], object] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        """Store ``value`` under ``key``."""
        self._data[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        """The value under ``key`` (``KeyError`` when unset)."""
        return cast(T, self._data[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        """The value under ``key``, or ``default``."""
        return cast(T, self._data[key]) if key in self._data else default

    def setdefault(self, key: StashKey[T], default: T) -> T:
        """The value under ``key``, set to ``default`` first when unset."""
        return cast(T, self._data.setdefault(key, default))

    def __delitem__(self, key: StashKey[T]) -> None:
        """Remove the value under ``key``."""
        del self._data[key]

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` holds a value."""
        return key in self._data

    def __len__(self) -> int:
        """How many keys hold a value."""
        return len(self._data)
