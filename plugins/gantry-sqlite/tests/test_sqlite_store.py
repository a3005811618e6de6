"""SQLite-specific behaviour: URLs, permissions, schema and migrations, SQL, concurrency, purge."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gantry_sqlite import schema
from gantry_sqlite.maintenance import purge
from gantry_sqlite.store import SqliteStore, path_from_url, url_for_path

from gantry.errors import StoreError
from gantry.protocols import PixelMeta
from gantry.records import AuditEvent, Decision, ExportRecord, Finding
from gantry.testing.factory import make_instance
from gantry.testing.store_contract import instance_from_header

pytestmark = pytest.mark.component


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(url_for_path(tmp_path / "cohort.db"))
    yield s
    s.close()


def _add(store: SqliteStore, tmp_path: Path, **kw: int) -> str:
    ds = make_instance(**kw)
    path = tmp_path / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert store.add_instance(instance_from_header(ds, str(path), path.stat().st_size),
                              ds) == "added"
    return str(ds.SOPInstanceUID)


# -- URLs and files -----------------------------------------------------------------------------
def test_urls_follow_the_sqlalchemy_convention(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert path_from_url("sqlite:///rel/c.db") == tmp_path / "rel" / "c.db"
    assert path_from_url("sqlite:////abs/c.db") == Path("/abs/c.db")
    s = SqliteStore("sqlite:///rel/c.db")
    try:
        assert s.url == f"sqlite:///{tmp_path}/rel/c.db"
        assert path_from_url(s.url) == tmp_path / "rel" / "c.db"
    finally:
        s.close()
    for bad in ("postgres://x", "sqlite://", "sqlite:///", "sqlite:///:memory:"):
        with pytest.raises(StoreError, match="sqlite"):
            path_from_url(bad)


def test_store_files_are_owner_only(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        s = SqliteStore(url_for_path(tmp_path / "cohort.db"))
        _add(s, tmp_path)
        s.log_event(AuditEvent("x", "y"))
        s.checkpoint()
        for name in ("cohort.db", "cohort.db-wal", "cohort.db-shm", "cohort_pixels.bin"):
            mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
            assert mode == 0o600, f"{name}: {oct(mode)}"
        s.close()
    finally:
        os.umask(old)


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.db").write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(StoreError, match=r"junk\.db"):
        SqliteStore(url_for_path(tmp_path / "junk.db"))


# -- schema -------------------------------------------------------------------------------------
def test_schema_version_is_recorded_and_migrations_apply_on_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = url_for_path(tmp_path / "cohort.db")
    s = SqliteStore(url)
    uid = _add(s, tmp_path)
    s.close()
    conn = sqlite3.connect(tmp_path / "cohort.db")
    version = schema.current_version()
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
        str(version),)
    conn.close()
    monkeypatch.setattr(schema, "MIGRATIONS", [*schema.MIGRATIONS, [
        "ALTER TABLE instances ADD COLUMN reviewer TEXT",
        "UPDATE instances SET reviewer = 'nobody'"]])
    s = SqliteStore(url)
    try:
        assert next(iter(s.sql("SELECT value FROM meta WHERE key='schema_version'"))) == (
            str(version + 1),)
        assert list(s.sql("SELECT reviewer FROM instances")) == [("nobody",)]
        assert s.get_instance(uid) is not None
    finally:
        s.close()


def test_a_database_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    url = url_for_path(tmp_path / "cohort.db")
    SqliteStore(url).close()
    conn = sqlite3.connect(tmp_path / "cohort.db")
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        SqliteStore(url)


def test_key_attributes_are_indexed_columns(store: SqliteStore) -> None:
    indexes = {r[0] for r in store.sql("SELECT name FROM sqlite_master WHERE type='index'")}
    for column in ("sop_instance_uid", "modality", "study_date", "manufacturer",
                   "manufacturer_model_name", "series_description", "slice_thickness", "rows"):
        assert any(column in name for name in indexes) or column == "sop_instance_uid", column
    plan = " ".join(str(r) for r in store.sql(
        "EXPLAIN QUERY PLAN SELECT * FROM instances WHERE sop_instance_uid = ?", ("1",)))
    assert "USING INDEX" in plan


def test_keyset_pages_and_kind_filters_read_through_an_index(store: SqliteStore,
                                                            tmp_path: Path) -> None:
    """What ``gantry web`` pages with: the statements the store runs for a page after a key
    (forwards and backwards) and for one kind of audit event search an index (no scan of the
    table, no sort of the whole series)."""
    import itertools

    uids = [_add(store, tmp_path, patient=0, series=0, instance=n) for n in range(6)]
    series = store.get_instance(uids[0]).series_instance_uid
    seen: list[str] = []
    store._conn.set_trace_callback(seen.append)
    try:
        forwards = [i.sop_instance_uid for i in itertools.islice(store.iter_instances(
            series_instance_uid=series, after=uids[1]), 2)]
        backwards = [i.sop_instance_uid for i in itertools.islice(store.iter_instances(
            series_instance_uid=series, after=uids[4], reverse=True), 2)]
        list(store.iter_events(kind="zone-rule-accepted"))
    finally:
        store._conn.set_trace_callback(None)
    assert forwards == uids[2:4] and backwards == [uids[3], uids[2]]
    pages = [sql for sql in seen if sql.startswith("SELECT id,") and " LIMIT " in sql]
    assert len(pages) == 3, seen
    for sql in pages:
        plan = " ".join(str(r[-1]) for r in store.sql(f"EXPLAIN QUERY PLAN {sql}"))
        assert "SEARCH" in plan and "SCAN" not in plan and "TEMP B-TREE" not in plan, (sql, plan)
        assert ("instances_series" in plan and "rowid" in plan) or "events_kind" in plan, plan


# -- SQL ----------------------------------------------------------------------------------------
def test_any_attribute_is_queryable_in_sql(store: SqliteStore, tmp_path: Path) -> None:
    uids = [_add(store, tmp_path, patient=p, series=se) for p in range(3) for se in range(2)]
    result = store.sql("SELECT DISTINCT sop_instance_uid FROM header WHERE keyword = ? "
                       "AND value LIKE ?", ("PatientName", "Quill%"))
    assert result.columns == ["sop_instance_uid"]
    assert sorted(r[0] for r in result) == sorted(uids[:2])
    # private tags, with their creator, and values nested in sequences
    private = list(store.sql("SELECT DISTINCT value FROM header WHERE creator = 'ACME_PHI' AND "
                             "tag = '00091011'"))
    assert len(private) == 3
    nested = list(store.sql("SELECT COUNT(*) FROM header WHERE keyword = 'CodeValue' AND "
                            "path LIKE '00080096[0]/%'"))
    assert nested == [(6,)]
    thick = list(store.sql("SELECT COUNT(*) FROM instances WHERE slice_thickness > 2"))
    assert thick == [(3,)]
    numeric = list(store.sql("SELECT COUNT(*) FROM header WHERE keyword = 'Rows' AND "
                             "number = 16 AND vr = 'US'"))
    assert numeric == [(6,)]


def test_sql_is_read_only(store: SqliteStore, tmp_path: Path) -> None:
    _add(store, tmp_path)
    for statement in ("DELETE FROM instances", "DROP TABLE events",
                      "INSERT INTO meta VALUES ('a', 'b')"):
        with pytest.raises(StoreError, match="SQL error"):
            list(store.sql(statement))
    assert store.counts().instances == 1


# -- streaming ------------------------------------------------------------------------------------
def test_iteration_streams_in_pages(store: SqliteStore, tmp_path: Path) -> None:
    from gantry_sqlite import store as store_module

    ds = make_instance()
    for i in range(store_module.PAGE * 2 + 7):
        ds.SOPInstanceUID = f"2.25.{i}"
        store.add_instance(instance_from_header(ds, f"/nowhere/{i}", 100), ds)
    it = store.iter_instances()
    first = next(it)
    store.set_status(first.sop_instance_uid, "failed")  # a write between pages is fine
    rest = list(it)
    assert len(rest) + 1 == store_module.PAGE * 2 + 7
    assert len({i.sop_instance_uid for i in rest}) == len(rest)


# -- concurrency ----------------------------------------------------------------------------------
WORKER = '''
import sys
from gantry.records import AuditEvent, Decision, ExportRecord, Finding
from gantry.testing.factory import make_instance
from gantry.testing.store_contract import instance_from_header
from gantry_sqlite.store import SqliteStore

url, worker = sys.argv[1], int(sys.argv[2])
store = SqliteStore(url, batch_size=int(sys.argv[3]), busy_timeout=30)
for i in range(60):
    ds = make_instance(patient=worker, instance=i)
    inst = instance_from_header(ds, f"/src/{worker}/{i}", 1000)
    assert store.add_instance(inst, ds) == "added"
    store.add_findings(inst.sop_instance_uid, "audit", [Finding("c", "m")])
    store.set_status(inst.sop_instance_uid, "exported")
    store.record_export(ExportRecord(inst.sop_instance_uid, f"2.25.{worker}{i}", "/out",
                                     f"{worker}/{i}.dcm", 10, "0" * 64))
    store.log_event(AuditEvent("exported", f"2.25.{worker}{i}"))
    if i % 20 == 0:
        store.checkpoint()
# the same shared instance from every worker: one row, no error
ds = make_instance(patient=9)
store.add_instance(instance_from_header(ds, "/src/shared", 1000), ds)
store.close()
'''


@pytest.mark.slow
@pytest.mark.parametrize("batch", [1, 50])
def test_four_processes_write_at_once_without_lock_errors(tmp_path: Path, batch: int) -> None:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(WORKER))
    url = url_for_path(tmp_path / "cohort.db")
    SqliteStore(url).close()
    procs = [subprocess.Popen([sys.executable, str(script), url, str(w), str(batch)],
                              stderr=subprocess.PIPE, text=True) for w in range(4)]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    s = SqliteStore(url)
    try:
        assert s.counts().instances == 4 * 60 + 1
        assert len(s.exported_uids("/out")) == 4 * 60
        assert len(list(s.iter_findings())) == 4 * 60
        assert len(list(s.iter_events())) == 4 * 60
        assert list(s.iter_conflicts()) == []
    finally:
        s.close()


def test_threads_share_one_store(store: SqliteStore) -> None:
    from concurrent.futures import ThreadPoolExecutor

    datasets = [make_instance(patient=p, instance=i) for p in range(4) for i in range(25)]

    def work(ds: object) -> str:
        inst = instance_from_header(ds, f"/s/{ds.SOPInstanceUID}", 5)  # type: ignore[attr-defined]
        outcome = store.add_instance(inst, ds)  # type: ignore[arg-type]
        store.log_event(AuditEvent("ingested", inst.sop_instance_uid))
        assert store.get_instance(inst.sop_instance_uid) is not None
        return outcome

    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(work, datasets))
    assert outcomes.count("added") == 100
    assert store.counts().instances == 100 and len(list(store.iter_events())) == 100


# -- purge ----------------------------------------------------------------------------------------
def test_purge_removes_original_values_of_exported_instances(store: SqliteStore,
                                                             tmp_path: Path) -> None:
    uids = [_add(store, tmp_path, patient=0, instance=i) for i in range(3)]
    kept = _add(store, tmp_path, patient=1)
    for n, uid in enumerate(uids):
        store.record_export(ExportRecord(uid, f"2.25.{n}", "/out", f"a/{n}.dcm", 1, "f" * 64))
        store.add_findings(uid, "audit", [Finding("phi-in-text", "a name in ImageComments")])
        store.log_event(AuditEvent("exported", f"2.25.{n}"))
    store.add_decisions([Decision(uids[0], "approve", "checked", "alice", 1.0)])
    arr = np.ones((4, 4), dtype=np.uint8)
    store.put_pixels(uids[0], arr, PixelMeta("uint8", (4, 4), 1, "MONOCHROME2"))
    store.checkpoint()
    report = purge(store)
    assert (report.instances, report.remaining_instances, report.pixel_entries) == (3, 1, 1)
    assert report.elements > 3 * 50
    assert [i.sop_instance_uid for i in store.iter_instances()] == [kept]
    assert store.counts().patients == 1
    assert store.get_header(uids[0]) is None and store.get_pixels(uids[0]) is None
    assert {r.sop_instance_uid for r in store.iter_exports()} == {"2.25.0", "2.25.1", "2.25.2"}
    assert {u for u, _, _ in store.iter_findings()} == {"2.25.0", "2.25.1", "2.25.2"}
    assert [d.sop_instance_uid for d in store.iter_decisions()] == ["2.25.0"]
    kinds = [e.kind for e in store.iter_events()]
    assert kinds.count("exported") == 3 and kinds[-1] == "purged"
    store.checkpoint()
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("cohort*"))
    assert b"Quillfeather" not in raw and b"MRN0007Q" not in raw  # patient 0: gone
    assert b"Harrowgate" in raw  # patient 1 was never exported: still indexed


def test_purge_refuses_while_another_session_holds_the_store(store: SqliteStore) -> None:
    other = SqliteStore(store.url)
    try:
        with pytest.raises(StoreError, match="another session"):
            purge(store)
    finally:
        other.close()


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_a_forked_child_gets_its_own_connection(store: SqliteStore, tmp_path: Path) -> None:
    import os

    _add(store, tmp_path, instance=0)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            _add(store, tmp_path, instance=1)
            store.log_event(AuditEvent("from-child", "2.25.7"))
            store.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.counts().instances == 2
    assert [e.kind for e in store.iter_events()] == ["from-child"]


def test_unusable_paths_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(StoreError, match=r"folder\.db: is a folder"):
        SqliteStore(url_for_path(tmp_path / "folder.db"))
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the store"):
        SqliteStore(url_for_path(tmp_path / "file" / "below" / "c.db"))


def test_audit_events_are_handed_to_the_writer_in_groups(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer thread gets events a group at a time; a flush (a checkpoint, reading the
    log, closing) hands over the rest, so every event is committed and in order."""
    from gantry_sqlite import auditlog

    monkeypatch.setattr(auditlog, "HANDOFF", 4)
    store = SqliteStore(url_for_path(tmp_path / "cohort.db"))
    for n in range(10):
        store.log_event(AuditEvent("exported", f"2.25.{n}"))
    assert len(store._audit._collected) == 2  # two groups of 4 handed over, 2 kept so far
    assert [e.subject for e in store.iter_events()] == [f"2.25.{n}" for n in range(10)]
    assert store._audit._collected == []
    store.log_event(AuditEvent("exported", "2.25.10"))
    store.close()
    reopened = SqliteStore(url_for_path(tmp_path / "cohort.db"))
    assert len(list(reopened.iter_events())) == 11
    reopened.close()
