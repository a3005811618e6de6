"""Hook implementations of gantry-sqlite (cheap imports only: the store loads on use)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gantry import hookimpl
from gantry.api import IndexEntries, OwnFile, StoreBackend

if TYPE_CHECKING:
    import click

    from gantry.api import Store


def open_store(url: str) -> Store:
    """Open a ``sqlite:///...`` store (imports the store module on first use)."""
    from gantry_sqlite.store import SqliteStore

    return SqliteStore(url)


def prepare_header(header: object) -> object:
    """Flatten a header into element rows and its digest, and read the values of the
    patient/study/series rows (run by ingest workers, so the parent decodes nothing)."""
    from gantry_sqlite.headers import header_rows
    from gantry_sqlite.rows import header_fields

    rows, digest = header_rows(header)
    return rows, digest, header_fields(header)


def prepare_raw_header(header: object) -> object:
    """:func:`prepare_header` of a :class:`~gantry.dicom.rawheader.RawHeader` (the same result),
    without building its dataset unless an element needs it."""
    from gantry_sqlite.headers import header_rows_raw
    from gantry_sqlite.rows import header_fields_raw

    found = header_rows_raw(header)
    if found is None:
        return prepare_header(header.dataset())  # type: ignore[attr-defined]
    rows, digest = found
    return rows, digest, header_fields_raw(header)


def prepare_from_entries(header: object, entries: list[object]) -> object:
    """:func:`prepare_raw_header` from the kernel's per-element entries (see
    ``gantry_sqlite.headers.raw_entry``): the same result, without walking the header again."""
    from gantry_sqlite.headers import header_rows_entries
    from gantry_sqlite.rows import header_fields_raw

    found = header_rows_entries(header, entries)
    if found is None:
        return prepare_header(header.dataset())  # type: ignore[attr-defined]
    rows, digest = found
    return rows, digest, header_fields_raw(header)


def _entries_token() -> object:
    from gantry_sqlite.headers import entries_token

    return entries_token()


def _span_entry(header: object, span: object) -> object:
    from gantry_sqlite.headers import span_entry

    return span_entry(header, span)


def store_exists(url: str) -> bool:
    """Whether the database file of a ``sqlite:///...`` URL exists."""
    from gantry_sqlite.store import path_from_url

    return path_from_url(url).is_file()


@hookimpl
def gantry_stores() -> Iterator[StoreBackend]:
    """Register the ``sqlite`` store backend for ``sqlite:///path/to/cohort.db`` URLs."""
    yield StoreBackend("sqlite", schemes=("sqlite",), open=open_store, prepare=prepare_header,
                       prepare_raw=prepare_raw_header,
                       prepare_entries=IndexEntries(_entries_token, _span_entry,
                                                    prepare_from_entries),
                       file_suffix=".db",
                       exists=store_exists,
                       description="SQLite index + pixel sidecar; resumable, queryable in SQL")


#: the first line ``gantry audit-log`` writes in CSV (see commands._write_events)
AUDIT_LOG_CSV_HEADER = b"time,run_id,kind,subject,detail"


def _audit_log(head: bytes) -> bool:
    """Whether a file starts as ``gantry audit-log`` writes one (CSV or JSON)."""
    if head.startswith(AUDIT_LOG_CSV_HEADER + b"\n"):
        return True
    first = head.lstrip(b"[\n ")
    return head.startswith(b"[") and first.startswith(b'{"detail": ') and b'"run_id": ' in first


@hookimpl
def gantry_own_files() -> Iterator[OwnFile]:
    """``gantry audit-log --output FILE`` (any name; its own header): Gantry's own file when
    an output folder holding it is taken as input."""
    yield OwnFile("audit log", ("*.csv", "*.json", "*.txt", "*.log"), _audit_log)


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry compact``, ``gantry purge``, ``gantry audit-log``, ``gantry sql`` and
    ``gantry verify-pixels``."""
    from gantry_sqlite.commands import register

    register(cli)
