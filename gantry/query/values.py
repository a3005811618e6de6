"""Typed values of DICOM attributes, shared by the query compilers and table exporters.

:func:`header_row` flattens one header into ``{column: value}`` with the types a table keeps:
``int``/``float`` for numbers, :class:`datetime.date` for DA, lists for multi-valued attributes,
DICOM-JSON text for sequences, ``bytes`` for small binary values. :func:`coerce` brings any
value (typed, or raw pydicom) to the type of a :class:`~gantry.query.syntax.Name`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import TYPE_CHECKING, Any

from gantry.query.names import spec_for_tag
from gantry.query.syntax import Kind, Name

if TYPE_CHECKING:
    from pydicom import Dataset
    from pydicom.dataelem import DataElement

#: Column listing the attributes of a row whose value did not fit its dictionary type.
INVALID_COLUMN = "gantry_invalid"
#: Binary values larger than this are left out of rows (``None``).
MAX_BINARY = 65536
_BULK_TAGS = {0x7FE00008, 0x7FE00009, 0x7FE00010, 0x54001010, 0x56000020}
_HEX = re.compile(r"[0-9A-F]{8}")
_BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}


def element_spec(elem: DataElement) -> tuple[str, Kind, bool]:
    """``(column, kind, multi)`` for an element: the dictionary's, except that private and
    unknown elements with a binary VR are ``binary``."""
    column, kind, multi = spec_for_tag(int(elem.tag))
    if kind == "string" and str(elem.VR) in _BINARY_VRS and _HEX.fullmatch(column):
        return column, "binary", False
    return column, kind, multi


def header_row(dataset: Dataset) -> dict[str, Any]:
    """One header flattened to ``{column: typed value}``, top-level attributes only.

    Pixel data, waveform data and overlay bit planes are left out, as are group lengths.
    Values that do not fit the dictionary type (``DS`` "abc", a date "2020") become ``None`` and
    their columns are listed under :data:`INVALID_COLUMN`.
    """
    row: dict[str, Any] = {}
    invalid: list[str] = []
    for key in sorted(dataset.keys(), key=int):  # int keys sort in C, BaseTag's do not
        tag = int(key)
        overlay_data = (tag >> 16) & 0xFF00 == 0x6000 and tag & 0xFFFF == 0x3000
        if tag & 0xFFFF == 0 or tag in _BULK_TAGS or overlay_data:
            continue  # skipped before reading: bulk values are never even converted
        elem = dataset[key]
        column, kind, multi = element_spec(elem)
        try:
            row[column] = element_value(elem, kind, multi)
        except (TypeError, ValueError):
            row[column] = None
            invalid.append(column)
    if invalid:
        row[INVALID_COLUMN] = invalid
    return row


def element_value(elem: DataElement, kind: Kind, multi: bool) -> Any:
    """The typed value of one element (``None`` when empty); ``ValueError`` if it does not fit."""
    value = elem.value
    if value is None or (isinstance(value, (str, bytes, list)) and len(value) == 0):
        return None
    if kind == "sequence":
        return sequence_json(elem)
    if kind == "binary":
        data = value if isinstance(value, bytes) else bytes(value)
        return data if len(data) <= MAX_BINARY else None
    return coerce_raw(value, kind, multi)


def sequence_json(elem: DataElement) -> str:
    """A sequence as DICOM JSON (PS3.18 F.2) text; bulk values become empty BulkDataURIs."""
    doc = elem.to_json_dict(bulk_data_element_handler=lambda _e: "", bulk_data_threshold=1024)
    return json.dumps(doc.get("Value", []), sort_keys=True, separators=(",", ":"))


_SEQUENCE_TYPES: tuple[type, ...] = ()


def _sequence_types() -> tuple[type, ...]:
    global _SEQUENCE_TYPES
    if not _SEQUENCE_TYPES:
        from pydicom.multival import MultiValue

        _SEQUENCE_TYPES = (list, tuple, MultiValue)
    return _SEQUENCE_TYPES


def coerce_raw(value: Any, kind: Kind, multi: bool) -> Any:
    """Convert a raw or typed value to ``kind``; lists when ``multi``; ``ValueError`` if not."""
    if not isinstance(value, _SEQUENCE_TYPES or _sequence_types()):
        if value is None or value == "":
            return None
        one = _scalar(value, kind)
        return [one] if multi else one
    items = list(value)
    items = [v for v in items if v is not None and v != ""]
    if not items:
        return None
    converted = [_scalar(v, kind) for v in items]
    if multi:
        return converted
    if len(converted) == 1:
        return converted[0]
    if kind == "string":
        return "\\".join(converted)
    raise ValueError("several values in a single-valued attribute")


def _scalar(value: Any, kind: Kind) -> Any:
    if kind == "string":
        if isinstance(value, str):
            return value
        if isinstance(value, bytes):
            return value.decode("latin-1", "replace")
        return str(value)
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("boolean")
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError("not an integer")
            return int(value)
        return int(str(value).strip())
    if kind == "float":
        result = float(str(value).strip()) if isinstance(value, (str, bytes)) else float(value)
        return result
    if kind == "date":
        return to_date(value)
    return str(value)


def to_date(value: Any) -> dt.date:
    """A DICOM DA value (``YYYYMMDD``, or ``YYYY-MM-DD``/``YYYY.MM.DD``) as a date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if len(text) == 8 and text.isdigit():  # the DA form: no strptime needed
        return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"not a date: {text!r}")


def coerce(value: Any, name: Name) -> Any:
    """Bring a value read from a row (typed, or raw pydicom) to the type of ``name``.

    Returns ``None`` for missing, empty or unconvertible values; a list when ``name`` is
    multi-valued; DICOM-JSON text for sequences.
    """
    if value is None:
        return None
    if name.kind == "sequence":
        if isinstance(value, str):
            return value
        from pydicom.dataelem import DataElement

        try:
            return sequence_json(DataElement(0xFFFE0000, "SQ", value)) if value else None
        except Exception:
            return None
    if name.kind == "binary":
        return value if isinstance(value, (bytes, bytearray)) else None
    try:
        return coerce_raw(value, name.kind, name.multi)
    except (TypeError, ValueError):
        return None
