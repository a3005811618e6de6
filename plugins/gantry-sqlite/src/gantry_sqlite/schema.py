"""The SQLite schema and its migrations.

``MIGRATIONS[n]`` holds the steps (SQL statements, or functions of the connection) that take a
database from version ``n`` to ``n + 1``; :func:`migrate` applies the missing ones in one
transaction and records ``schema_version`` in the ``meta`` table. A database written by a newer
Gantry is refused rather than damaged.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable

from gantry.api import StoreError

#: Header attributes kept as indexed columns of ``instances`` (keyword → column).
KEY_COLUMNS: dict[str, str] = {
    "Modality": "modality", "StudyDate": "study_date", "SeriesDate": "series_date",
    "AcquisitionDate": "acquisition_date", "ContentDate": "content_date",
    "Manufacturer": "manufacturer", "ManufacturerModelName": "manufacturer_model_name",
    "SeriesDescription": "series_description", "StudyDescription": "study_description",
    "BodyPartExamined": "body_part_examined", "SliceThickness": "slice_thickness",
    "Rows": "rows", "Columns": "columns", "NumberOfFrames": "number_of_frames",
    "InstanceNumber": "instance_number", "SeriesNumber": "series_number",
    "PhotometricInterpretation": "photometric_interpretation",
    "BitsAllocated": "bits_allocated", "BurnedInAnnotation": "burned_in_annotation",
    "ImageType": "image_type",
}
INDEXED_KEY_COLUMNS = ("modality", "study_date", "series_date", "manufacturer",
                       "manufacturer_model_name", "series_description", "body_part_examined",
                       "slice_thickness", "rows", "columns")

_INTEGER_COLUMNS = ("rows", "columns", "number_of_frames", "instance_number", "series_number",
                    "bits_allocated")


def _column_type(column: str) -> str:
    if column == "slice_thickness":
        return "REAL"
    return "INTEGER" if column in _INTEGER_COLUMNS else "TEXT"


_V1 = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)""",
    """CREATE TABLE patients (
        id INTEGER PRIMARY KEY, patient_id TEXT NOT NULL UNIQUE, patient_name TEXT,
        issuer TEXT, birth_date TEXT)""",
    """CREATE TABLE studies (
        id INTEGER PRIMARY KEY, study_instance_uid TEXT NOT NULL UNIQUE,
        patient_id TEXT NOT NULL, study_date TEXT, study_description TEXT,
        accession_number TEXT)""",
    "CREATE INDEX studies_patient ON studies(patient_id)",
    """CREATE TABLE series (
        id INTEGER PRIMARY KEY, series_instance_uid TEXT NOT NULL UNIQUE,
        study_instance_uid TEXT NOT NULL, modality TEXT, series_description TEXT,
        series_number INTEGER)""",
    "CREATE INDEX series_study ON series(study_instance_uid)",
    """CREATE TABLE instances (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL UNIQUE,
        sop_class_uid TEXT, series_instance_uid TEXT NOT NULL,
        study_instance_uid TEXT NOT NULL, patient_id TEXT NOT NULL, source TEXT NOT NULL,
        size INTEGER, transfer_syntax TEXT, patient_name TEXT, status TEXT NOT NULL,
        header_sha256 TEXT NOT NULL, attrs TEXT NOT NULL, ingested_at REAL, """
    + ", ".join(f"{c} {_column_type(c)}" for c in KEY_COLUMNS.values()) + ")",
    "CREATE INDEX instances_series ON instances(series_instance_uid)",
    "CREATE INDEX instances_study ON instances(study_instance_uid)",
    "CREATE INDEX instances_patient ON instances(patient_id)",
    "CREATE INDEX instances_status ON instances(status)",
    *[f"CREATE INDEX instances_{c} ON instances({c})" for c in INDEXED_KEY_COLUMNS],
    """CREATE TABLE elements (
        instance_id INTEGER NOT NULL REFERENCES instances(id) ON DELETE CASCADE,
        ord INTEGER NOT NULL, path TEXT NOT NULL, tag TEXT NOT NULL, vr TEXT NOT NULL,
        value TEXT, number REAL, data BLOB, creator TEXT,
        PRIMARY KEY (instance_id, ord)) WITHOUT ROWID""",
    "CREATE INDEX elements_tag ON elements(tag)",
    """CREATE TABLE tags (tag TEXT PRIMARY KEY, keyword TEXT, name TEXT) WITHOUT ROWID""",
    "CREATE INDEX tags_keyword ON tags(keyword)",
    """CREATE VIEW header AS
        SELECT i.sop_instance_uid, e.path, e.tag, t.keyword, e.vr, e.value, e.number, e.data,
               e.creator, e.ord
        FROM elements e JOIN instances i ON i.id = e.instance_id
        LEFT JOIN tags t ON t.tag = e.tag""",
    """CREATE TABLE sources (
        source TEXT PRIMARY KEY, size INTEGER, mtime REAL, outcome TEXT NOT NULL,
        sop_instance_uid TEXT, recorded_at REAL)""",
    """CREATE TABLE rejected (
        id INTEGER PRIMARY KEY, source TEXT NOT NULL, reason TEXT NOT NULL,
        stage TEXT NOT NULL, recorded_at REAL)""",
    """CREATE TABLE conflicts (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL, kept_source TEXT NOT NULL,
        conflicting_source TEXT NOT NULL, header_sha256 TEXT, size INTEGER,
        recorded_at REAL)""",
    "CREATE INDEX conflicts_uid ON conflicts(sop_instance_uid)",
    """CREATE TABLE findings (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL, stage TEXT NOT NULL,
        code TEXT NOT NULL, message TEXT, severity TEXT, tag TEXT, keyword TEXT, path TEXT,
        component TEXT, box TEXT, extra TEXT)""",
    "CREATE INDEX findings_uid ON findings(sop_instance_uid, stage)",
    "CREATE INDEX findings_code ON findings(code)",
    """CREATE TABLE changes (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL, action TEXT NOT NULL,
        tag TEXT, keyword TEXT, path TEXT, detail TEXT, component TEXT)""",
    "CREATE INDEX changes_uid ON changes(sop_instance_uid)",
    """CREATE TABLE exports (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL, destination TEXT NOT NULL,
        new_sop_instance_uid TEXT, path TEXT, size INTEGER, sha256 TEXT, format TEXT,
        recorded_at REAL, UNIQUE (sop_instance_uid, destination))""",
    "CREATE INDEX exports_destination ON exports(destination)",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY, time REAL NOT NULL, run_id TEXT, kind TEXT NOT NULL,
        subject TEXT, detail TEXT)""",
    "CREATE INDEX events_kind ON events(kind)",
    """CREATE TABLE pixels (
        key TEXT PRIMARY KEY, offset INTEGER NOT NULL, length INTEGER NOT NULL,
        dtype TEXT, shape TEXT, frames INTEGER, photometric TEXT, compression TEXT,
        sha256 TEXT, extra TEXT, recorded_at REAL)""",
    """CREATE TABLE pixel_relocations (key TEXT PRIMARY KEY, offset INTEGER NOT NULL)""",
]


def _elements_to_values(conn: sqlite3.Connection) -> None:
    """Move the rows of the version-1 ``elements`` table into ``element_values`` (distinct
    rows) and ``instance_headers`` (per instance, the JSON array of its rows' ids, in ``ord``
    order)."""
    conn.execute("INSERT INTO element_values(path, tag, vr, value, number, data, creator) "
                 "SELECT DISTINCT path, tag, vr, value, number, data, creator FROM elements")
    conn.execute("CREATE INDEX element_values_match ON element_values(tag, path, value)")
    cur = conn.execute(
        "SELECT e.instance_id, e.ord, v.id FROM elements e JOIN element_values v "
        "ON v.tag = e.tag AND v.path = e.path AND v.vr = e.vr AND v.value IS e.value "
        "AND v.number IS e.number AND v.data IS e.data AND v.creator IS e.creator "
        "ORDER BY e.instance_id, e.ord")
    headers: list[tuple[int, str]] = []
    moved = 0
    for iid, group in itertools.groupby(cur, lambda r: r[0]):
        rows = list(group)
        if [r[1] for r in rows] != list(range(len(rows))):
            raise StoreError(f"instance {iid}: header rows are not numbered 0..n-1; cannot "
                             "migrate")
        headers.append((iid, ids_text([r[2] for r in rows])))
        moved += len(rows)
    total = conn.execute("SELECT COUNT(*) FROM elements").fetchone()[0]
    if moved != total:
        raise StoreError(f"migrating header rows: {total} element rows, {moved} matched")
    conn.executemany("INSERT INTO instance_headers(instance_id, value_ids) VALUES (?, ?)",
                     headers)
    conn.execute("DROP INDEX element_values_match")


def _changes_to_values(conn: sqlite3.Connection) -> None:
    """Move the rows of the version-1 ``changes`` table into ``change_values`` (distinct
    changes) and ``instance_changes`` (per run of consecutive ids of one instance: its first
    id, count and the JSON array of its changes' ids), so the ``changes`` view keeps the ids."""
    conn.execute("INSERT INTO change_values(action, tag, keyword, path, detail, component) "
                 "SELECT DISTINCT action, tag, keyword, path, detail, component FROM changes")
    cur = conn.execute(
        "SELECT c.id, c.sop_instance_uid, v.id FROM changes c JOIN change_values v "
        "ON v.action = c.action AND v.tag IS c.tag AND v.keyword IS c.keyword "
        "AND v.path IS c.path AND v.detail IS c.detail AND v.component IS c.component "
        "ORDER BY c.id")
    blocks: list[tuple[int, str, list[int]]] = []
    moved = 0
    for cid, uid, vid in cur:
        if blocks and blocks[-1][1] == uid and blocks[-1][0] + len(blocks[-1][2]) == cid:
            blocks[-1][2].append(vid)
        else:
            blocks.append((cid, uid, [vid]))
        moved += 1
    total = conn.execute("SELECT COUNT(*) FROM changes").fetchone()[0]
    if moved != total:
        raise StoreError(f"migrating changes: {total} rows, {moved} matched")
    conn.executemany("INSERT INTO instance_changes(id, sop_instance_uid, count, value_ids) "
                     "VALUES (?, ?, ?, ?)",
                     [(cid, uid, len(ids), ids_text(ids)) for cid, uid, ids in blocks])


def ids_text(ids: list[int]) -> str:
    """The JSON array of ``ids`` (as ``instance_headers.value_ids`` holds them)."""
    return "[" + ",".join(map(str, ids)) + "]"


#: Version 2: header elements de-duplicated. ``element_values`` holds each distinct
#: ``(path, tag, vr, value, number, data, creator)`` row once; ``instance_headers`` holds, per
#: instance, the JSON array of its rows' ids in ``ord`` order. ``elements`` becomes a view
#: with the columns of the old table, so every query of version 1 still answers the same.
#: Changes likewise: ``change_values`` holds each distinct change once, ``instance_changes``
#: the changes of one instance (their ids run from its ``id`` to ``id + count - 1``, as the
#: rows of the version-1 table were numbered), and ``changes`` is a view.
_V2: list[str | Callable[[sqlite3.Connection], None]] = [
    """CREATE TABLE element_values (
        id INTEGER PRIMARY KEY, path TEXT NOT NULL, tag TEXT NOT NULL, vr TEXT NOT NULL,
        value TEXT, number REAL, data BLOB, creator TEXT)""",
    "CREATE INDEX element_values_tag ON element_values(tag)",
    """CREATE TABLE instance_headers (
        instance_id INTEGER PRIMARY KEY REFERENCES instances(id) ON DELETE CASCADE,
        value_ids TEXT NOT NULL)""",
    _elements_to_values,
    """CREATE TABLE change_values (
        id INTEGER PRIMARY KEY, action TEXT NOT NULL, tag TEXT, keyword TEXT, path TEXT,
        detail TEXT, component TEXT)""",
    """CREATE TABLE instance_changes (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL, count INTEGER NOT NULL,
        value_ids TEXT NOT NULL)""",
    "CREATE INDEX instance_changes_uid ON instance_changes(sop_instance_uid)",
    _changes_to_values,
    "DROP TABLE changes",
    """CREATE VIEW changes AS
        SELECT c.id + j.key AS id, c.sop_instance_uid AS sop_instance_uid, v.action AS action,
               v.tag AS tag, v.keyword AS keyword, v.path AS path, v.detail AS detail,
               v.component AS component
        FROM instance_changes c, json_each(c.value_ids) j
        JOIN change_values v ON v.id = j.value""",
    "DROP VIEW header",
    "DROP TABLE elements",
    """CREATE VIEW elements AS
        SELECT h.instance_id AS instance_id, j.key AS ord, v.path AS path, v.tag AS tag,
               v.vr AS vr, v.value AS value, v.number AS number, v.data AS data,
               v.creator AS creator
        FROM instance_headers h, json_each(h.value_ids) j
        JOIN element_values v ON v.id = j.value""",
    """CREATE VIEW header AS
        SELECT i.sop_instance_uid, e.path, e.tag, t.keyword, e.vr, e.value, e.number, e.data,
               e.creator, e.ord
        FROM elements e JOIN instances i ON i.id = e.instance_id
        LEFT JOIN tags t ON t.tag = e.tag""",
]

# Version 3: each export's file modification time as written (0: unknown), so that a manifest
# can tell a file left as exported (same size and time) from one to read and hash again.
_V3: list[str | Callable[[sqlite3.Connection], None]] = [
    "ALTER TABLE exports ADD COLUMN mtime_ns INTEGER NOT NULL DEFAULT 0",
]

# Version 4: each export's key header values as the sink recorded them (a JSON list of
# [keyword, text] pairs; "" when it did not), so that a manifest of files left as exported
# needs neither to open nor to parse them.
_V4: list[str | Callable[[sqlite3.Connection], None]] = [
    "ALTER TABLE exports ADD COLUMN fields TEXT NOT NULL DEFAULT ''",
]

# Version 5: reviewers' decisions (approve / withhold an instance, with who and when), in the
# order taken; the last one of an instance is in force (see gantry.decisions).
_V5: list[str | Callable[[sqlite3.Connection], None]] = [
    """CREATE TABLE decisions (
        id INTEGER PRIMARY KEY, sop_instance_uid TEXT NOT NULL, action TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '', who TEXT NOT NULL DEFAULT '', time REAL NOT NULL,
        scope TEXT NOT NULL DEFAULT 'instance', decision_id TEXT NOT NULL DEFAULT '')""",
    "CREATE INDEX decisions_uid ON decisions(sop_instance_uid)",
]

#: ``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``.
MIGRATIONS: list[list[str | Callable[[sqlite3.Connection], None]]] = [
    list(_V1), _V2, _V3, _V4, _V5]


def current_version() -> int:
    """The schema version this code writes."""
    return len(MIGRATIONS)


def read_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in a database (0 for an empty one)."""
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return 0
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(conn: sqlite3.Connection, where: str) -> int:
    """Bring the database up to :func:`current_version` (in one immediate transaction).

    Returns the version found before migrating. Raises :class:`StoreError` naming ``where``
    when the database is newer than this code.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        found = read_version(conn)
        target = current_version()
        if found > target:
            raise StoreError(
                f"{where}: schema version {found} is newer than this gantry-sqlite understands "
                f"({target}); upgrade gantry-sqlite")
        for version in range(found, target):
            for step in MIGRATIONS[version]:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(step)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                         (str(version + 1),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
