"""Header elements as SQL rows, and back.

Every element of a header becomes one row ``(ord, path, tag, vr, value, number, data,
creator)``, sequences included:

* ``ord`` is the element's position in a depth-first walk, so rows replay in order;
* ``path`` is ``""`` at the top level and ``"GGGGEEEE[i]/"`` per sequence level below it
  (``"00081115[0]/0020000E"`` reads: tag ``0020000E`` in item 0 of ``00081115``);
* ``tag`` is ``GGGGEEEE`` (upper-case hex), ``vr`` the element's VR as read (``UN`` stays
  ``UN``; ambiguous VRs such as ``US or SS`` are kept as pydicom holds them);
* ``value`` holds text: the DICOM string form for text VRs (multi-values joined with ``\\``),
  numbers as decimal text, AT as ``GGGGEEEE``; for a sequence, its item count;
* ``number`` repeats the first numeric value (US, SS, UL, SL, FL, FD, DS, IS...) for numeric
  comparisons in SQL; ``data`` holds the bytes of binary VRs (OB, OW, UN...);
* ``creator`` is the private creator of a private element.

Pixel data elements are never stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
INT_VRS = frozenset({"US", "SS", "UL", "SL", "SV", "UV", "US or SS"})
FLOAT_VRS = frozenset({"FL", "FD"})
NUMBER_TEXT_VRS = frozenset({"DS", "IS"})

Row = tuple[int, str, str, str, "str | None", "float | None", "bytes | None", "str | None"]


def header_rows(ds: Dataset) -> tuple[list[Row], str]:
    """The rows of a header and a sha256 over them (the header's content digest)."""
    rows: list[Row] = []
    _walk(ds, "", rows)
    text = "\n".join(f"{r[1]}|{r[2]}|{r[3]}|{r[4]}" for r in rows)
    h = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    for row in rows:
        if row[6] is not None:
            h.update(row[6])
    return rows, h.hexdigest()


def _walk(ds: Dataset, path: str, rows: list[Row]) -> None:
    for elem in ds:
        tag = int(elem.tag)
        if tag in PIXEL_TAGS and not path:
            continue
        vr = str(elem.VR)
        tag_text = f"{tag:08X}"
        creator = _creator(ds, tag) if tag >> 16 & 1 else None
        if vr == "SQ":
            items = elem.value or []
            rows.append((len(rows), path, tag_text, vr, str(len(items)), None, None, creator))
            for i, item in enumerate(items):
                _walk(item, f"{path}{tag_text}[{i}]/", rows)
            continue
        value, number, data = encode_value(vr, elem.value)
        rows.append((len(rows), path, tag_text, vr, value, number, data, creator))


def _creator(ds: Dataset, tag: int) -> str | None:
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:
        return None
    found = ds.get((group, element >> 8))
    return None if found is None or found.value is None else str(found.value)


_NUMERIC = INT_VRS | FLOAT_VRS


def encode_value(vr: str, value: Any) -> tuple[str | None, float | None, bytes | None]:
    """``(value, number, data)`` columns for one element value."""
    if value is None:
        return None, None, None
    kind = type(value)
    if kind is str and vr not in _NUMERIC and vr != "AT":  # the common case: one text value
        return _safe_text(value), (_first_number(value) if vr in NUMBER_TEXT_VRS else None), None
    if kind is bytes or kind is bytearray or kind is memoryview:
        return None, None, bytes(value)
    values = list(value) if _is_multi(value) else [value]
    if vr == "AT":
        return "\\".join(f"{int(v):08X}" for v in values), None, None
    if vr in _NUMERIC or " or " in vr:
        text = "\\".join(repr(_num(v)) for v in values)
        return text, (float(values[0]) if values else None), None
    text = _safe_text("\\".join("" if v is None else str(v) for v in values))
    number = _first_number(values[0]) if vr in NUMBER_TEXT_VRS and values else None
    return text, number, None


def _first_number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _num(v: Any) -> int | float:
    if isinstance(v, float):
        return float(v)
    return int(v)


_MULTI_TYPES: tuple[type, ...] | None = None


def _is_multi(value: Any) -> bool:
    global _MULTI_TYPES
    if _MULTI_TYPES is None:
        from pydicom.multival import MultiValue

        _MULTI_TYPES = (list, tuple, MultiValue)
    return isinstance(value, _MULTI_TYPES)


def _safe_text(text: str) -> str:
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def decode_value(vr: str, value: str | None, data: bytes | None) -> Any:
    """The pydicom value for stored columns (inverse of :func:`encode_value`)."""
    if data is not None:
        return bytes(data)
    if value is None:
        return None
    if vr == "AT":
        parts = [int(p, 16) for p in value.split("\\")]
        return parts[0] if len(parts) == 1 else parts
    if vr in INT_VRS or vr in FLOAT_VRS or " or " in vr:
        if value == "":
            return []
        conv = float if vr in FLOAT_VRS else _int_or_float
        parts = [conv(p) for p in value.split("\\")]
        return parts[0] if len(parts) == 1 else parts
    return value


def _int_or_float(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)


def rows_to_dataset(rows: Iterable[tuple[str, str, str, str | None, bytes | None]]) -> Dataset:
    """Rebuild a header from ``(path, tag, vr, value, data)`` rows in ``ord`` order."""
    from pydicom import Dataset
    from pydicom.dataelem import DataElement
    from pydicom.sequence import Sequence

    root = Dataset()
    items: dict[str, Dataset] = {"": root}
    for path, tag_text, vr, value, data in rows:
        parent = items.get(path)
        if parent is None:  # a row below a sequence that was not stored: skip, never guess
            continue
        tag = int(tag_text, 16)
        if vr == "SQ":
            count = int(value or 0)
            seq = Sequence([Dataset() for _ in range(count)])
            parent.add(DataElement(tag, "SQ", seq))
            stored = parent[tag].value
            for i in range(count):
                items[f"{path}{tag_text}[{i}]/"] = stored[i]
            continue
        parent.add(_element(tag, vr, decode_value(vr, value, data)))
    return root


def _element(tag: int, vr: str, value: Any) -> Any:
    """A DataElement; a value pydicom cannot convert (an IS of ``"1A"`` read from a broken
    file) is kept as the text that was read, as pydicom itself does when reading."""
    from pydicom.dataelem import DataElement

    try:
        return DataElement(tag, vr, value)
    except (ValueError, TypeError, OverflowError):
        elem = DataElement(tag, vr, None)
        elem._value = value
        return elem


def iter_keyword_tags(keywords: Iterable[str]) -> Iterator[tuple[str, str]]:
    """``(keyword, GGGGEEEE)`` for DICOM dictionary keywords (unknown ones skipped)."""
    from pydicom.datadict import tag_for_keyword

    for kw in keywords:
        tag = tag_for_keyword(kw)
        if tag is not None:
            yield kw, f"{tag:08X}"
