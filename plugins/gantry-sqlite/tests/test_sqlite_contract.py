"""The SQLite store passes the kernel's store contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gantry_sqlite.store import SqliteStore, url_for_path

from gantry.testing.store_contract import StoreContract

pytestmark = pytest.mark.component


class TestSqliteStore(StoreContract):
    persistent = True

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        s = SqliteStore(url_for_path(tmp_path / "cohort.db"))
        yield s
        s.close()

    def reopen(self, store: SqliteStore) -> SqliteStore:
        store.close()
        return SqliteStore(store.url)


class TestSqliteStoreTinyBatches(TestSqliteStore):
    """The same contract with a transaction per write (batching must not change behaviour)."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SqliteStore]:
        s = SqliteStore(url_for_path(tmp_path / "cohort.db"), batch_size=1)
        yield s
        s.close()
