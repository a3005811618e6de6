"""The working store's instance headers as an Arrow table or a pandas DataFrame.

These are the *ingested* headers: original, identifying values. They are for curating a
cohort inside the secure working area; a table to share is written by the ``parquet``
exporter, from redacted headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gantry.api import GantryError, header_row, parse_query, referenced_keywords, to_predicate
from gantry_parquet.batches import rows_to_table

if TYPE_CHECKING:
    import pandas
    import pyarrow as pa

    from gantry.api import Store

#: Column holding each instance's status in the working store.
STATUS_COLUMN = "gantry_status"


def store_rows(store: Store, query: str | None = None,
               columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """Stream one typed row per stored instance (optionally filtered and projected)."""
    predicate = to_predicate(parse_query(query)) if query else None
    wanted = set(columns) if columns else None
    if wanted and query:
        wanted |= referenced_keywords(parse_query(query))
    for inst in store.iter_instances():
        header = store.get_header(inst.sop_instance_uid)
        row: dict[str, Any] = header_row(header) if header is not None else {}
        row.setdefault("SOPInstanceUID", inst.sop_instance_uid)
        row.setdefault("SeriesInstanceUID", inst.series_instance_uid)
        row.setdefault("StudyInstanceUID", inst.study_instance_uid)
        row.setdefault("PatientID", inst.patient_id)
        row[STATUS_COLUMN] = store.get_status(inst.sop_instance_uid) or "ingested"
        if predicate is not None and not predicate(row):
            continue
        if columns:
            row = {c: row.get(c) for c in columns}
        yield row


def to_arrow(session: Any, query: str | None = None,
             columns: list[str] | None = None) -> pa.Table:
    """The session's stored headers as a ``pyarrow.Table``: one row per instance, typed
    columns named by DICOM keyword, plus ``gantry_status``.

    ``query`` (the Gantry query language) keeps matching instances; ``columns`` selects
    columns (unknown ones come back null).
    """
    return rows_to_table(store_rows(session.store, query, columns))


def to_pandas(session: Any, query: str | None = None,
              columns: list[str] | None = None) -> pandas.DataFrame:
    """The same table as :func:`to_arrow`, as a pandas ``DataFrame`` (needs pandas)."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise GantryError("to_pandas needs pandas: pip install 'gantry-parquet[pandas]'") from None
    return to_arrow(session, query, columns).to_pandas()
