"""The storage layout of version 2: header rows de-duplicated (``element_values`` +
``instance_headers``), change lists de-duplicated (``change_values`` + ``instance_changes``),
the ``elements``, ``header`` and ``changes`` views answering as the version-1 tables did, and
the migration of a version-1 store."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from gantry_sqlite import schema
from gantry_sqlite import store as store_module
from gantry_sqlite.headers import header_rows
from gantry_sqlite.maintenance import purge
from gantry_sqlite.rows import INSERT_INSTANCE, instance_row
from gantry_sqlite.store import SqliteStore, url_for_path

from gantry.records import Change, ExportRecord
from gantry.testing.factory import make_instance
from gantry.testing.store_contract import assert_same_header, instance_from_header

pytestmark = pytest.mark.component

HEADER_SQL = "SELECT * FROM header ORDER BY sop_instance_uid, ord"
ELEMENTS_SQL = "SELECT * FROM elements ORDER BY instance_id, ord"
CHANGES = [Change("X", "(0008,0080)", "InstitutionName", component="tags"),
           Change("D", "(0010,0010)", "PatientName", detail="pseudonym", component="tags"),
           Change("marker", component="ps315")]


def _datasets() -> list:
    return [make_instance(patient=p, series=s, instance=i)
            for p in range(2) for s in range(2) for i in range(3)]


def _v1_store(path: Path, datasets: list, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written as gantry-sqlite 0.x wrote version 1: one ``elements`` row per header
    element, one ``changes`` row per change."""
    conn = sqlite3.connect(path, isolation_level=None)
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
        schema.migrate(conn, str(path))
    conn.execute("BEGIN")
    for n, ds in enumerate(datasets):
        inst = instance_from_header(ds, f"/data/{n}.dcm", 1000)
        rows, digest = header_rows(ds)
        iid = conn.execute(INSERT_INSTANCE, instance_row(inst, ds, digest, 0.0)).lastrowid
        conn.executemany("INSERT INTO elements VALUES (?,?,?,?,?,?,?,?,?)",
                         [(iid, n, *r) for n, r in enumerate(rows)])
        conn.execute("INSERT OR IGNORE INTO tags(tag) SELECT DISTINCT tag FROM elements")
        conn.executemany("INSERT INTO changes(sop_instance_uid, action, tag, keyword, path, "
                         "detail, component) VALUES (?,?,?,?,?,?,?)",
                         [(inst.sop_instance_uid, c.action, c.tag, c.keyword, c.path, c.detail,
                           c.component) for c in CHANGES[: 1 + n % 3]])
    conn.execute("COMMIT")
    conn.close()


def _rows(path: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_a_version_1_store_migrates_and_answers_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    datasets = _datasets()
    db = tmp_path / "old.db"
    _v1_store(db, datasets, monkeypatch)
    header, elements = _rows(db, HEADER_SQL), _rows(db, ELEMENTS_SQL)
    changes = _rows(db, "SELECT * FROM changes ORDER BY id")
    assert len(elements) > 12 * 50 and len(changes) == 24
    s = SqliteStore(url_for_path(db))
    try:
        assert _rows(db, "SELECT value FROM meta WHERE key='schema_version'") == [
            (str(schema.current_version()),)]
        assert _rows(db, HEADER_SQL) == header
        assert _rows(db, ELEMENTS_SQL) == elements
        assert _rows(db, "SELECT * FROM changes ORDER BY id") == changes
        distinct = _rows(db, "SELECT COUNT(*) FROM element_values")[0][0]
        assert distinct < len(elements) / 3  # the series repeat almost every row
        for ds in datasets:
            assert_same_header(ds, s.get_header(ds.SOPInstanceUID))
        # the migrated store keeps growing: new rows reuse the migrated values or add theirs
        more = make_instance(patient=0, series=0, instance=7)
        s.add_instance(instance_from_header(more, "/data/more.dcm", 1000), more)
        s.add_changes(more.SOPInstanceUID, CHANGES)
        assert_same_header(more, s.get_header(more.SOPInstanceUID))
        assert [c for _, c in s.iter_changes(more.SOPInstanceUID)] == CHANGES
        assert _rows(db, "SELECT MAX(id) FROM changes") == [(24 + 3,)]
    finally:
        s.close()


def test_instances_sharing_rows_read_back_their_own_headers(tmp_path: Path) -> None:
    s = SqliteStore(url_for_path(tmp_path / "c.db"), batch_size=5)
    datasets = _datasets()
    try:
        for n, ds in enumerate(datasets):
            assert s.add_instance(instance_from_header(ds, f"/d/{n}.dcm", 1000), ds) == "added"
        s.checkpoint()
        for ds in datasets:
            assert_same_header(ds, s.get_header(ds.SOPInstanceUID))
        total = next(iter(s.sql("SELECT COUNT(*) FROM elements")))[0]
        distinct = next(iter(s.sql("SELECT COUNT(*) FROM element_values")))[0]
        assert total == sum(len(header_rows(ds)[0]) for ds in datasets)
        assert distinct < total / 3
        uids = [uid for (uid,) in s.sql(
            "SELECT sop_instance_uid FROM header WHERE keyword = 'SOPInstanceUID' "
            "AND value = sop_instance_uid ORDER BY 1")]
        assert uids == sorted(str(ds.SOPInstanceUID) for ds in datasets)
    finally:
        s.close()
    again = SqliteStore(url_for_path(tmp_path / "c.db"))  # a new session: its memory is empty
    try:
        ds = make_instance(patient=5)
        again.add_instance(instance_from_header(ds, "/d/new.dcm", 1000), ds)
        assert_same_header(ds, again.get_header(ds.SOPInstanceUID))
        assert_same_header(datasets[0], again.get_header(datasets[0].SOPInstanceUID))
    finally:
        again.close()


def test_a_failed_batch_leaves_no_stale_value_ids(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    s = SqliteStore(url_for_path(tmp_path / "c.db"))
    first, second = make_instance(patient=0), make_instance(patient=0, instance=1)
    try:
        s.add_instance(instance_from_header(first, "/d/0.dcm", 1000), first)

        def boom(conn: sqlite3.Connection) -> None:
            raise RuntimeError("disk on fire")

        s._queue(boom)
        with pytest.raises(RuntimeError):
            s.checkpoint()  # the batch (the instance with its new values) is rolled back
        assert s._value_ids == {}
        s.add_instance(instance_from_header(second, "/d/1.dcm", 1000), second)
        assert_same_header(second, s.get_header(second.SOPInstanceUID))
        assert s.get_header(first.SOPInstanceUID) is None
    finally:
        s.close()


def test_the_value_memory_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "VALUE_CACHE", 150)
    s = SqliteStore(url_for_path(tmp_path / "c.db"), batch_size=2)
    datasets = _datasets()
    try:
        for n, ds in enumerate(datasets):
            s.add_instance(instance_from_header(ds, f"/d/{n}.dcm", 1000), ds)
        s.checkpoint()
        assert len(s._value_ids) <= 150
        for ds in datasets:
            assert_same_header(ds, s.get_header(ds.SOPInstanceUID))
    finally:
        s.close()


def test_changes_are_replaced_and_shared(tmp_path: Path) -> None:
    s = SqliteStore(url_for_path(tmp_path / "c.db"))
    try:
        s.add_changes("1.1", CHANGES)
        s.add_changes("1.2", CHANGES[:2])
        s.add_changes("1.1", CHANGES[1:])  # replaces the first list
        s.add_changes("1.3", [])
        assert [(u, c) for u, c in s.iter_changes()] == [
            ("1.2", CHANGES[0]), ("1.2", CHANGES[1]), ("1.1", CHANGES[1]), ("1.1", CHANGES[2])]
        assert list(s.sql("SELECT id, sop_instance_uid, action FROM changes ORDER BY id")) == [
            (4, "1.2", "X"), (5, "1.2", "D"), (6, "1.1", "D"), (7, "1.1", "marker")]
        assert next(iter(s.sql("SELECT COUNT(*) FROM change_values")))[0] == 3
        assert list(s.iter_changes("1.3")) == []
    finally:
        s.close()


def test_purge_removes_values_no_remaining_header_uses(tmp_path: Path) -> None:
    s = SqliteStore(url_for_path(tmp_path / "c.db"))
    gone, kept = make_instance(patient=0), make_instance(patient=1)
    try:
        for n, ds in enumerate((gone, kept)):
            s.add_instance(instance_from_header(ds, f"/d/{n}.dcm", 1000), ds)
        s.add_changes(gone.SOPInstanceUID, CHANGES)
        s.record_export(ExportRecord(gone.SOPInstanceUID, "2.25.9", "/out", "a.dcm", 1, "f"))
        s.checkpoint()
        before = next(iter(s.sql("SELECT COUNT(*) FROM element_values")))[0]
        report = purge(s)
        assert report.elements == len(header_rows(gone)[0])
        after = next(iter(s.sql("SELECT COUNT(*) FROM element_values")))[0]
        assert after == len(set(header_rows(kept)[0])) < before
        assert [u for u, _ in s.iter_changes()] == ["2.25.9"] * 3
        # values shared with the purged instance are still found for the kept one
        assert_same_header(kept, s.get_header(kept.SOPInstanceUID))
        again = make_instance(patient=0, instance=3)
        s.add_instance(instance_from_header(again, "/d/2.dcm", 1000), again)
        assert_same_header(again, s.get_header(again.SOPInstanceUID))
    finally:
        s.close()


def test_a_retried_batch_assigns_its_value_ids_afresh(tmp_path: Path) -> None:
    s = SqliteStore(url_for_path(tmp_path / "c.db"))
    datasets = _datasets()[:4]
    attempts = []

    def busy_once(conn: sqlite3.Connection) -> None:
        attempts.append(1)
        if len(attempts) == 1:  # as when another process holds the lock at the wrong moment
            raise sqlite3.OperationalError("database is locked")

    try:
        for n, ds in enumerate(datasets):
            s.add_instance(instance_from_header(ds, f"/d/{n}.dcm", 1000), ds)
        s._queue(busy_once)
        s.checkpoint()
        assert len(attempts) == 2
        for ds in datasets:
            assert_same_header(ds, s.get_header(ds.SOPInstanceUID))
    finally:
        s.close()


def test_two_writers_share_a_store_each_with_its_own_memory(tmp_path: Path) -> None:
    url = url_for_path(tmp_path / "c.db")
    a, b = SqliteStore(url), SqliteStore(url)
    datasets = _datasets()
    try:
        for n, ds in enumerate(datasets):  # alternate writers, one transaction each
            writer = (a, b)[n % 2]
            writer.add_instance(instance_from_header(ds, f"/d/{n}.dcm", 1000), ds)
            writer.add_changes(ds.SOPInstanceUID, CHANGES[n % 3:])
            writer.checkpoint()
        for reader in (a, b):
            for n, ds in enumerate(datasets):
                assert_same_header(ds, reader.get_header(ds.SOPInstanceUID))
                assert [c for _, c in reader.iter_changes(ds.SOPInstanceUID)] == CHANGES[n % 3:]
    finally:
        a.close()
        b.close()


def _old_store_with_an_export(tmp_path: Path, version: int,
                              monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store at schema ``version`` holding one export record (columns of that version)."""
    path = tmp_path / f"v{version}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:version])
        schema.migrate(conn, str(path))
    conn.execute("INSERT INTO exports(sop_instance_uid, destination, new_sop_instance_uid, "
                 "path, size, sha256, format, recorded_at) VALUES "
                 "('1.2.3', '/out', '2.25.3', 'a/3.dcm', 10, ?, 'dicom', 0)", ("ab" * 32,))
    conn.close()
    return path


def test_a_version_2_store_gains_the_export_times(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 3 adds each export's file modification time; exports recorded before read back
    with 0 (unknown), new ones keep theirs."""
    path = _old_store_with_an_export(tmp_path, 2, monkeypatch)
    assert _rows(path, "SELECT value FROM meta WHERE key='schema_version'") == [("2",)]
    assert "mtime_ns" not in {r[1] for r in _rows(path, "PRAGMA table_info(exports)")}
    with SqliteStore(url_for_path(path)) as store:
        assert [r.mtime_ns for r in store.iter_exports("/out")] == [0]
        store.record_export(ExportRecord("1.2.4", "2.25.4", "/out", "a/4.dcm", 10, "cd" * 32,
                                         mtime_ns=1_764_000_000_000_000_001))
        assert [r.mtime_ns for r in store.iter_exports("/out")] == [0, 1_764_000_000_000_000_001]
    assert _rows(path, "SELECT value FROM meta WHERE key='schema_version'") == [
        (str(schema.current_version()),)]


def test_a_version_3_store_gains_the_export_fields(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 4 adds each export's key header values; exports recorded before read back
    with none (a manifest then reads their files), new ones keep theirs."""
    path = _old_store_with_an_export(tmp_path, 3, monkeypatch)
    assert "fields" not in {r[1] for r in _rows(path, "PRAGMA table_info(exports)")}
    fields = (("PatientID", "ANON-1"), ("Modality", "MR"),
              ("TransferSyntaxUID", "1.2.840.10008.1.2.1"))
    with SqliteStore(url_for_path(path)) as store:
        assert [r.fields for r in store.iter_exports("/out")] == [()]
        store.record_export(ExportRecord("1.2.4", "2.25.4", "/out", "a/4.dcm", 10, "cd" * 32,
                                         mtime_ns=7, fields=fields))
        assert [r.fields for r in store.iter_exports("/out")] == [(), fields]
    assert _rows(path, "SELECT value FROM meta WHERE key='schema_version'") == [("5",)]


def test_a_failed_batch_leaves_no_stale_change_lists(tmp_path: Path) -> None:
    """A list of changes is remembered with the ids its changes got; when the batch that gave
    them ids rolls back, the list is not used again: recording it anew inserts them anew."""
    s = SqliteStore(url_for_path(tmp_path / "c.db"))
    first, second = make_instance(patient=0), make_instance(patient=0, instance=1)
    changes = list(CHANGES)
    try:
        for ds in (first, second):
            s.add_instance(instance_from_header(ds, f"/d/{ds.InstanceNumber}.dcm", 1000), ds)
        s.checkpoint()
        s.add_changes(first.SOPInstanceUID, changes)

        def boom(conn: sqlite3.Connection) -> None:
            raise RuntimeError("disk on fire")

        s._queue(boom)
        with pytest.raises(RuntimeError):
            s.checkpoint()  # the changes' new ids are rolled back with the batch
        s.add_changes(second.SOPInstanceUID, changes)  # the same list object again
        s.add_changes(first.SOPInstanceUID, changes)
        s.checkpoint()
        for ds in (first, second):
            assert [c for _, c in s.iter_changes(ds.SOPInstanceUID)] == changes
    finally:
        s.close()
