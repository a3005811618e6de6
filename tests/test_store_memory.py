"""The built-in memory store passes the store contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gantry.builtins.memory_store import MemoryStore, gantry_stores
from gantry.errors import StoreError
from gantry.records import AuditEvent
from gantry.testing.store_contract import StoreContract


class TestMemoryStore(StoreContract):
    @pytest.fixture
    def store(self) -> Iterator[MemoryStore]:
        s = MemoryStore("memory://")
        yield s
        s.close()


def test_memory_store_is_registered_for_the_memory_scheme() -> None:
    (backend,) = list(gantry_stores())
    assert backend.name == "memory" and backend.schemes == ("memory",)
    assert isinstance(backend.open("memory://"), MemoryStore)


def test_memory_store_refuses_writes_after_close() -> None:
    s = MemoryStore()
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.log_event(AuditEvent("x", "y"))
