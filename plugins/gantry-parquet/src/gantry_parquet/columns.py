"""Arrow types and order of the columns of the instance table."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from gantry.api import INVALID_COLUMN, name_for_column
from gantry_parquet.arrow_expr import arrow_type

if TYPE_CHECKING:
    import pyarrow as pa

#: Columns shown first, in this order, when present.
LEADING = ("PatientID", "PatientName", "StudyInstanceUID", "StudyDate", "SeriesInstanceUID",
           "Modality", "SeriesNumber", "SOPInstanceUID", "SOPClassUID", "InstanceNumber")


def column_type(column: str) -> pa.DataType:
    """The Arrow type of a column, fixed by the DICOM dictionary (never by one file)."""
    import pyarrow as pa

    if column == INVALID_COLUMN:
        return pa.list_(pa.string())
    name = name_for_column(column)
    if name is None:
        return pa.string()
    return arrow_type(name.kind, name.multi)


@lru_cache(maxsize=16384)
def sort_key(column: str) -> tuple[int, int, str]:
    """Leading identity columns first, then DICOM tag order, then Gantry's own columns."""
    if column in LEADING:
        return (0, LEADING.index(column), column)
    if column.startswith("gantry_"):
        return (3, 0, column)
    from pydicom.datadict import keyword_dict

    tag = keyword_dict.get(column)
    if tag is None:
        try:
            tag = int(column, 16)
        except ValueError:
            return (2, 0, column)
    return (1, tag, column)


def ordered(columns: set[str] | list[str]) -> list[str]:
    """Columns in table order."""
    return sorted(columns, key=sort_key)
