"""The SQLite schema and its migrations.

``MIGRATIONS[n]`` holds the statements that take a database from version ``n`` to ``n + 1``;
:func:`migrate` applies the missing ones in one transaction and records ``schema_version`` in
the ``meta`` table. A database written by a newer Gantry is refused rather than damaged.
"""

from __future__ import annotations

import sqlite3

from gantry.errors import StoreError

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

#: ``MIGRATIONS[n]`` upgrades a database from version ``n`` to ``n + 1``.
MIGRATIONS: list[list[str]] = [_V1]


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
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
            conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)",
                         (str(version + 1),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return found
