"""Rows of the ``instances``, ``patients``, ``studies``, ``series``, ``tags`` and ``sources``
tables, built from kernel records and back."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from gantry_sqlite.schema import KEY_COLUMNS

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import Instance

INSTANCE_COLS = ("sop_instance_uid, sop_class_uid, series_instance_uid, study_instance_uid, "
                  "patient_id, source, size, transfer_syntax, patient_name, attrs")
INSERT_INSTANCE = (
    "INSERT INTO instances(sop_instance_uid, sop_class_uid, series_instance_uid, "
    "study_instance_uid, patient_id, source, size, transfer_syntax, patient_name, status, "
    "header_sha256, attrs, ingested_at, " + ", ".join(KEY_COLUMNS.values()) + ") VALUES ("
    + ",".join("?" * (13 + len(KEY_COLUMNS))) + ") ON CONFLICT(sop_instance_uid) DO NOTHING")


def db_source(source: str) -> str:
    """A source string as the store keeps it: itself, or, when it holds bytes that are not
    UTF-8 (a file name with a Latin-1 byte, which Python carries as a surrogate), a NUL (no
    path holds one) and the name's bytes one character each: reversible, and valid text."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return "\x00" + os.fsencode(source).decode("latin-1")
    return source


def py_source(text: str) -> str:
    """The source string :func:`db_source` kept as ``text``."""
    if text and text[0] == "\x00":
        return os.fsdecode(text[1:].encode("latin-1"))
    return text


def instance_row(inst: Instance, header: Dataset, digest: str, now: float) -> tuple[Any, ...]:
    """The ``instances`` row of an instance (key attributes as columns, ``attrs`` as JSON)."""
    keys = []
    for keyword in KEY_COLUMNS:
        value = inst.attrs.get(keyword)
        if isinstance(value, list):
            value = "\\".join(str(v) for v in value)
        keys.append(value)
    return (inst.sop_instance_uid, inst.sop_class_uid, inst.series_instance_uid,
            inst.study_instance_uid, inst.patient_id, db_source(inst.source), inst.size,
            inst.transfer_syntax, inst.patient_name, "ingested", digest,
            json.dumps(inst.attrs, default=str), now, *keys)


def header_fields(ds: Dataset) -> tuple[Any, ...]:
    """The header values :func:`hierarchy_rows` reads (computed by the ingest workers with the
    header's rows, so the parent does not decode them; memoized like the rows)."""
    return _fields(ds, ds._dict.get, lambda tag, keyword: ds.get(keyword))


def header_fields_raw(header: Any) -> tuple[Any, ...]:
    """:func:`header_fields` of a :class:`~gantry.dicom.rawheader.RawHeader` (the same values)."""
    return _fields(header.charset_dataset(), header.raw, header.value)


def _fields(ds: Dataset, raw_of: Callable[[int], Any],
            value_of: Callable[[int, str], Any]) -> tuple[Any, ...]:
    """:func:`header_fields` from a header's raw elements (``raw_of(tag)``) and its decoded
    values (``value_of(tag, keyword)``, what ``ds.get(keyword)`` gives); ``ds``: the header
    dataset, or one holding only its character set."""
    from gantry_sqlite.headers import memo_field, memo_table

    memo = memo_table()
    fields: list[Any] = [memo_field(ds, raw_of(0x00200011), 0x00200011, _series_number,
                                    lambda: _series_number(value_of(0x00200011, "SeriesNumber")),
                                    memo)]
    for keyword, tag in _TEXT_FIELDS:
        fields.append(memo_field(ds, raw_of(tag), tag, _text,
                                 lambda k=keyword, t=tag: _text(value_of(t, k)), memo))
    return tuple(fields)


_TEXT_FIELDS = (("PatientName", 0x00100010), ("IssuerOfPatientID", 0x00100021),
                ("PatientBirthDate", 0x00100030), ("StudyDate", 0x00080020),
                ("StudyDescription", 0x00081030), ("AccessionNumber", 0x00080050),
                ("Modality", 0x00080060), ("SeriesDescription", 0x0008103E))


def _series_number(number: Any) -> int | None:
    from gantry.api import optional_int

    return optional_int(number)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def hierarchy_rows(inst: Instance, ds: Dataset, fields: tuple[Any, ...] | None = None
                   ) -> tuple[tuple, tuple, tuple]:
    """The ``patients``, ``studies`` and ``series`` rows an instance implies (``fields``:
    :func:`header_fields` of ``ds`` when already known)."""
    (series_number, patient_name, issuer, birth_date, study_date, study_description,
     accession, modality, series_description) = fields or header_fields(ds)
    patient = (inst.patient_id, inst.patient_name or patient_name, issuer, birth_date)
    study = (inst.study_instance_uid, inst.patient_id, study_date, study_description,
             accession)
    series = (inst.series_instance_uid, inst.study_instance_uid, modality,
              series_description, series_number)
    return patient, study, series


def instance_from_row(row: Sequence[Any]) -> Instance:
    """An :class:`Instance` from the columns :data:`INSTANCE_COLS` select."""
    from gantry.api import Instance

    return Instance(sop_instance_uid=row[0], sop_class_uid=row[1] or "",
                    series_instance_uid=row[2], study_instance_uid=row[3], patient_id=row[4],
                    source=py_source(row[5]), size=row[6] if row[6] is not None else -1,
                    transfer_syntax=row[7] or "", patient_name=row[8] or "",
                    attrs=json.loads(row[9]))


def tag_row(tag: str) -> tuple[str, str | None, str | None]:
    """The ``tags`` row of a ``GGGGEEEE`` tag: keyword and name from the DICOM dictionary."""
    from pydicom.datadict import dictionary_description, keyword_for_tag

    value = int(tag, 16)
    keyword = keyword_for_tag(value) or None
    try:
        name = dictionary_description(value)
    except KeyError:
        name = None
    return tag, keyword, name


def upsert_source(c: sqlite3.Connection, source: str, size: int, mtime: float | None,
                   uid: str | None, now: float, outcome: str) -> None:
    """Record the ingest progress of one input (inserted or updated)."""
    c.execute("INSERT INTO sources(source, size, mtime, outcome, sop_instance_uid, recorded_at) "
              "VALUES (?,?,?,?,?,?) ON CONFLICT(source) DO UPDATE SET size=excluded.size, "
              "mtime=excluded.mtime, outcome=excluded.outcome, "
              "sop_instance_uid=excluded.sop_instance_uid, recorded_at=excluded.recorded_at",
              (db_source(source), size, mtime, outcome, uid, now))


