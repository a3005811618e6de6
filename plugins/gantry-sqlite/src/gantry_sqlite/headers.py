"""Header elements as SQL rows, and back.

Every element of a header becomes one row ``(path, tag, vr, value, number, data, creator)``,
sequences included, listed in depth-first order (an element's position in the list is its
``ord``, so rows replay in order):

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
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from pydicom import config as _config
from pydicom import hooks as _hooks
from pydicom.charset import default_encoding as _DEFAULT_ENCODING
from pydicom.dataelem import RawDataElement, convert_raw_data_element
from pydicom.valuerep import AMBIGUOUS_VR

if TYPE_CHECKING:
    from pydicom import Dataset

PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
INT_VRS = frozenset({"US", "SS", "UL", "SL", "SV", "UV", "US or SS"})
FLOAT_VRS = frozenset({"FL", "FD"})
NUMBER_TEXT_VRS = frozenset({"DS", "IS"})

Row = tuple[str, str, str, "str | None", "float | None", "bytes | None", "str | None"]


def header_rows(ds: Dataset) -> tuple[list[Row], str]:
    """The rows of a header and a sha256 over them (the header's content digest).

    Elements still in the raw form pydicom read them in are not decoded into ``ds``: their
    columns (and the rows of a whole sequence) are memoized on everything they depend on, so
    what a series repeats is decoded once per process, not once per instance. The result is
    exactly that of decoding every element (``for elem in ds``) and flattening it.
    """
    rows: list[Row] = []
    lines: list[str] = []
    blobs: list[bytes] = []
    memo = memo_table()
    _walk(ds, "", rows, lines, blobs, memo, [True] if memo is not None else None)
    return rows, _digest(lines, blobs)


def _digest(lines: list[str], blobs: list[bytes]) -> str:
    """The header's content digest: sha256 over its rows' lines, then its binary values."""
    h = hashlib.sha256("\n".join(lines).encode("utf-8", "surrogatepass"))
    for data in blobs:
        h.update(data)
    return h.hexdigest()


# -- the memo ------------------------------------------------------------------------------------
# Key: (tag, VR as read, value bytes, byte order, VR explicitness, character set, private
# creator) of a raw element, plus pydicom's decoding settings (the memo is cleared when they
# change, and not used when decoding is customised by callbacks). Entries:
# * one element: ``(tag, vr, value, number, data, digest line without the path, its row at the
#   top level)``;
# * a sequence: a list of ``(row with the path relative to the sequence's parent, relative path +
#   digest line)``, the sequence's own row first; kept only when
#   every element below came from its bytes alone (no ambiguous VR, which depends on the
#   dataset around it; no element already decoded);
# * :data:`_IN_PLACE`: decode in ``ds`` as pydicom does (an ambiguous VR; an impure sequence).
_Entry = tuple[str, str, "str | None", "float | None", "bytes | None", str]
_MEMO: dict[tuple[Any, ...], Any] = {}
_MEMO_MAX = 4096
_MEMO_MAX_BYTES = 4 << 20
_MEMO_BYTES = [0]
#: Longer values are decoded as usual, without memoizing (they rarely repeat; keys stay small).
_MEMO_LENGTH = 1024
_SEQUENCE_LENGTH = 16384
_MEMO_CONFIG: list[Any] = [None]
#: the token of entries made under the current settings (see :func:`entries_token`)
_TOKEN: list[Any] = [object()]
#: pydicom settings values are decoded by.
_CONFIG_NAMES = ("use_DS_decimal", "use_IS_numpy", "use_DS_numpy", "datetime_conversion",
                 "convert_wrong_length_to_UN", "replace_un_with_known_vr",
                 "use_none_as_empty_text_VR_value", "allow_DS_float")
_IN_PLACE: Any = ()
_SEQUENCE: Any = object()  # returned by _decode_entry: the element is a sequence
_UNSET: Any = object()
_TAG_TEXT: dict[int, str] = {}
_UNDEFINED = 0xFFFFFFFF


def memo_table() -> dict[tuple[Any, ...], Any] | None:
    """The memo for pydicom's current configuration, or ``None`` when decoding is customised
    (a data element callback or non-default raw element hooks: results may depend on more than
    the memo key)."""
    hk = _hooks.hooks
    if _config.data_element_callback is not None or hk.raw_element_kwargs or \
            hk.raw_element_vr is not _hooks.raw_element_vr or \
            hk.raw_element_value is not _hooks.raw_element_value:
        return None
    current = (*(getattr(_config, name, None) for name in _CONFIG_NAMES),
               _config.settings.reading_validation_mode)
    if _MEMO_CONFIG[0] != current or len(_MEMO) >= _MEMO_MAX or \
            _MEMO_BYTES[0] >= _MEMO_MAX_BYTES:
        if _MEMO_CONFIG[0] != current:
            _TOKEN[0] = object()
        _MEMO.clear()
        _MEMO_BYTES[0] = 0
        _MEMO_CONFIG[0] = current
    return _MEMO


class _NeedsDataset(Exception):
    """The raw walk met an element only the whole header dataset decodes exactly."""


def header_rows_raw(header: Any) -> tuple[list[Row], str] | None:
    """:func:`header_rows` of ``header.dataset()`` for a :class:`~gantry.dicom.rawheader.RawHeader`
    without building that dataset: each element is looked up in the memo by the bytes of its
    span (a miss decodes it alone, beside the character set). ``None`` when an element needs
    the dataset around it (an ambiguous or unknown VR, an impure or oversized sequence, a
    private element pydicom may type by its creator): then use the dataset."""
    memo = memo_table()
    if memo is None:
        return None
    rows: list[Row] = []
    lines: list[str] = []
    blobs: list[bytes] = []
    try:
        _walk_raw(header, memo, rows, lines, blobs)
    except _NeedsDataset:
        return None
    return rows, _digest(lines, blobs)


def _walk_raw(header: Any, memo: dict[tuple[Any, ...], Any], rows: list[Row],
              lines: list[str], blobs: list[bytes]) -> None:
    """What :func:`_walk` does on the top level of the header dataset, from the spans."""
    cds = header.charset_dataset()
    charset = cds.original_character_set or cds._character_set
    _rows_of(header, cds, (raw_entry(header, cds, charset, span, memo) for span in header.spans),
             rows, lines, blobs)


def entries_token() -> Any:
    """What the entries of :func:`raw_entry` depend on besides the element, the transfer
    syntax and the character set (pydicom's decoding settings; a new object when they
    change), or ``None`` when decoding is customised (then no entries: see
    :func:`memo_table`)."""
    return None if memo_table() is None else _TOKEN[0]


def span_entry(header: Any, span: Any) -> Any:
    """:func:`raw_entry` of one top-level element of a raw header (the kernel's
    ``IndexEntries.entry``: it remembers the result per distinct element)."""
    cds = header.charset_dataset()
    return raw_entry(header, cds, cds.original_character_set or cds._character_set, span,
                     memo_table())


def header_rows_entries(header: Any, entries: Iterable[Any]) -> tuple[list[Row], str] | None:
    """:func:`header_rows_raw` from the :func:`raw_entry` of each of ``header.spans``, in
    order; ``None`` when the dataset is needed."""
    rows: list[Row] = []
    lines: list[str] = []
    blobs: list[bytes] = []
    try:
        _rows_of(header, header.charset_dataset(), entries, rows, lines, blobs)
    except _NeedsDataset:
        return None
    return rows, _digest(lines, blobs)


def raw_entry(header: Any, cds: Any, charset: Any, span: Any,
              memo: dict[tuple[Any, ...], Any] | None) -> Any:
    """What one top-level element of a raw header contributes to its rows, whatever its
    private creator (:func:`_rows_of` puts that in): the entry of one element (see the memo,
    its row with no creator), a list of ``(row, digest line)`` (a sequence, or an element the
    memo does not take, its own row first), or :data:`_IN_PLACE` when only the dataset around
    it decodes it exactly. ``memo``: where entries are remembered (``None``: nowhere)."""
    tag = span.tag
    if tag >> 16 & 1 and tag & 0xFF00 and not tag & 0xF000:
        return _IN_PLACE  # (gggg,01xx-0Fxx): pydicom may look up a "creator" at (gggg,00xx)
    vr = span.vr
    length = span.length
    if length and length != _UNDEFINED:
        value = header.data[span.value:span.end]
    else:
        raw = header.raw(tag)
        value = raw.value
        if type(value) is not bytes or (raw.length == _UNDEFINED and vr != "SQ"):
            return _decode_alone(header, cds, raw, tag)
    if len(value) > (_SEQUENCE_LENGTH if vr == "SQ" else _MEMO_LENGTH):
        return _decode_alone(header, cds, header.raw(tag), tag)
    key = (tag, vr, value, True, False,
           charset if charset is None or isinstance(charset, str) else tuple(charset), None)
    entry = None if memo is None else memo.get(key)
    if entry is not None:
        return entry
    if vr == "UI" and length and length != _UNDEFINED:  # (most differ per instance)
        from gantry.api import ui_text_at

        text = ui_text_at(header.data, span)
        if text is not None:  # what decoding it gives, without a data element
            tag_text = _TAG_TEXT.get(tag) or _tag_text(tag)
            return (tag_text, vr, text, None, None, f"|{tag_text}|{vr}|{text}",
                    ("", tag_text, vr, text, None, None, None))
    raw = header.raw(tag)
    entry = _SEQUENCE if vr == "SQ" else _decode_entry(cds, raw, charset, None)
    if entry is _SEQUENCE:
        rows: list[Row] = []
        lines: list[str] = []
        store = {} if memo is None else memo
        _record_sequence(header.dataset_of(tag), tag, "", rows, lines, [], store, [True], key,
                         None)
        return store[key]
    if memo is not None:
        memo[key] = entry
        _MEMO_BYTES[0] += 3 * len(value) + 400
    return entry


def _rows_of(header: Any, cds: Any, entries: Iterable[Any], rows: list[Row], lines: list[str],
             blobs: list[bytes]) -> None:
    """Append the rows of the top-level elements from their :func:`raw_entry` (in the order
    of ``header.spans``), each private one with its creator; :class:`_NeedsDataset` when an
    element or a creator needs the dataset."""
    creators: dict[int, str | None] = {}
    for span, entry in zip(header.spans, entries, strict=True):
        tag = span.tag
        creator = None
        if tag >> 16 & 1:
            block = tag >> 8
            if block in creators:
                creator = creators[block]
            else:
                creator = creators[block] = _raw_creator(header, cds, tag) \
                    if tag & 0xF000 else None
            if creator is not None and span.vr == "UN" and _typed_by_creator(tag, creator):
                raise _NeedsDataset  # (the dataset's reader gives it its dictionary VR)
        if type(entry) is tuple:
            if not entry:
                raise _NeedsDataset  # (an ambiguous VR: decoded in the dataset)
            # the entry's own row: one object for every header (a private one's, its creator)
            rows.append(entry[6] if creator is None else (*entry[6][:6], creator))
            lines.append(entry[5])
            if entry[4] is not None:
                blobs.append(entry[4])
        else:  # a sequence, or an element decoded alone: its own row first
            for row, line in entry:
                if creator is not None:
                    row = (*row[:6], creator)
                    creator = None
                rows.append(row)
                lines.append(line)
                if row[5] is not None:
                    blobs.append(row[5])


_TYPED: dict[tuple[int, str], bool] = {}


def _typed_by_creator(tag: int, creator: str) -> bool:
    """Whether pydicom's reader replaces the VR ``UN`` of a private element of ``creator``
    with the VR its private dictionary gives (``config.replace_un_with_known_vr``)."""
    if not _config.replace_un_with_known_vr:
        return False
    key = (tag & 0xFFFF00FF, creator)
    found = _TYPED.get(key)
    if found is None:
        from pydicom.datadict import private_dictionary_VR

        try:
            found = private_dictionary_VR(tag, creator) != "UN"
        except KeyError:
            found = False
        if len(_TYPED) >= 4096:
            _TYPED.clear()
        _TYPED[key] = found
    return found


def _raw_creator(header: Any, cds: Any, tag: int) -> str | None:
    """:func:`_creator` of a private element, from the raw header."""
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:
        return None
    raw = header.raw(group << 16 | element >> 8)
    if raw is None:
        return None
    if type(raw) is RawDataElement:
        from gantry.api import decoded

        found = decoded(cds, raw)
        if found is not None:
            return None if found[0] is None else str(found[0])
    raise _NeedsDataset


def _decode_alone(header: Any, cds: Any, raw: Any, tag: int) -> Any:
    """The :func:`raw_entry` of an element the memo does not take, decoded as the dataset
    decodes it (:data:`_IN_PLACE` when an ambiguous VR or a sequence with items needs the
    dataset itself)."""
    if type(raw) is not RawDataElement or raw.VR in ("UN", None):
        return _IN_PLACE
    elem = convert_raw_data_element(raw, encoding=header.encoding, ds=cds)
    if elem.VR in AMBIGUOUS_VR or (str(elem.VR) == "SQ" and elem.value):
        return _IN_PLACE
    rows: list[Row] = []
    lines: list[str] = []
    _append(cds, elem, tag, "", None, rows, lines, [], None, None,
            _TAG_TEXT.get(tag) or _tag_text(tag))
    return list(zip(rows, lines, strict=True))


def _walk(ds: Dataset, path: str, rows: list[Row], lines: list[str], blobs: list[bytes],
          memo: dict[tuple[Any, ...], Any] | None, pure: list[bool] | None) -> None:
    """Rows of ``ds`` in tag order (what ``for elem in ds`` visits), sequences depth first.

    ``pure[0]`` is cleared when a row came from anything but the bytes of a raw element and
    the memo key's context (the rows of a sequence are memoized only while it stays set)."""
    elements = ds._dict
    charset: Any = _UNSET
    charset_key: Any = None
    creators: dict[int, str | None] = {}
    tag_text_of = _TAG_TEXT.get
    for tag, raw in sorted(zip(map(int, elements), elements.values(), strict=True)):
        if not path and tag in PIXEL_TAGS:
            continue
        keyed = memo is not None
        if tag >> 16 & 1:
            block = tag >> 8
            try:
                creator = creators[block]
            except KeyError:
                creator = creators[block] = _creator(ds, tag) if tag & 0xF000 else None
            if tag & 0xFF00 and not tag & 0xF000:  # (gggg,01xx-0Fxx): pydicom may look up a
                keyed = False  # "creator" at (gggg,00xx) that the key does not carry
        else:
            creator = None
        if keyed and type(raw) is RawDataElement:
            value = raw.value
            raw_vr = raw.VR
            if type(value) is bytes and (raw.length != _UNDEFINED or raw_vr == "SQ") and \
                    len(value) <= (
                    _SEQUENCE_LENGTH if raw_vr == "SQ" or raw_vr is None else _MEMO_LENGTH):
                if charset is _UNSET:
                    charset = ds.original_character_set or ds._character_set
                    charset_key = charset if charset is None or isinstance(charset, str) \
                        else tuple(charset)
                key = (tag, raw_vr, value, raw.is_little_endian, raw.is_implicit_VR,
                       charset_key, creator)
                entry = memo.get(key)
                if entry is None:
                    entry = _SEQUENCE if raw_vr == "SQ" else _decode_entry(ds, raw, charset,
                                                                            creator)
                    if entry is _SEQUENCE:
                        _record_sequence(ds, tag, path, rows, lines, blobs, memo, pure, key,
                                         creator)
                        continue
                    memo[key] = entry
                    _MEMO_BYTES[0] += 3 * len(value) + 400
                if type(entry) is tuple:
                    if entry:
                        rows.append((path, *entry[:5], creator) if path else entry[6])
                        lines.append(path + entry[5])
                        if entry[4] is not None:
                            blobs.append(entry[4])
                        continue
                else:  # a sequence
                    for row, line in entry:
                        rows.append((path + row[0] if row[0] else path, *row[1:]) if path
                                    else row)
                        lines.append(path + line)
                        if row[5] is not None:
                            blobs.append(row[5])
                    continue
            elem = ds[tag]  # decoded in place, as pydicom does on access
        elif type(raw) is RawDataElement or isinstance(raw, RawDataElement):
            elem = ds[tag]
        else:
            elem = raw
        if pure is not None:
            pure[0] = False
        tag_text = tag_text_of(tag) or _tag_text(tag)
        _append(ds, elem, tag, path, creator, rows, lines, blobs, memo, pure, tag_text)


def _append(ds: Dataset, elem: Any, tag: int, path: str, creator: str | None, rows: list[Row],
            lines: list[str], blobs: list[bytes], memo: dict[tuple[Any, ...], Any] | None,
            pure: list[bool] | None, tag_text: str) -> None:
    """The rows of one decoded element (and of the items of a sequence)."""
    vr = str(elem.VR)
    if vr == "SQ":
        items = elem.value or []
        count = str(len(items))
        rows.append((path, tag_text, vr, count, None, None, creator))
        lines.append(f"{path}|{tag_text}|{vr}|{count}")
        for i, item in enumerate(items):
            _walk(item, f"{path}{tag_text}[{i}]/", rows, lines, blobs, memo, pure)
        return
    text, number, data = encode_value(vr, elem.value)
    rows.append((path, tag_text, vr, text, number, data, creator))
    lines.append(f"{path}|{tag_text}|{vr}|{text}")
    if data is not None:
        blobs.append(data)


def _record_sequence(ds: Dataset, tag: int, path: str, rows: list[Row], lines: list[str],
                     blobs: list[bytes], memo: dict[tuple[Any, ...], Any],
                     pure: list[bool] | None, key: tuple[Any, ...], creator: str | None) -> None:
    """Decode a raw sequence in place, append its rows and memoize them when they came from
    its bytes alone."""
    start = len(rows)
    inner = [True]
    _append(ds, ds[tag], tag, path, creator, rows, lines, blobs, memo, inner,
            _TAG_TEXT.get(tag) or _tag_text(tag))
    if not inner[0]:
        memo[key] = _IN_PLACE
        if pure is not None:
            pure[0] = False
        return
    cut = len(path)
    memo[key] = [((row[0][cut:], *row[1:]), line[cut:])
                 for row, line in zip(rows[start:], lines[start:], strict=True)]
    _MEMO_BYTES[0] += len(key[2]) + 400 * (len(rows) - start)


def _tag_text(tag: int) -> str:
    text = _TAG_TEXT[tag] = f"{tag:08X}"
    return text


def _decode_entry(ds: Dataset, raw: Any, charset: Any, creator: str | None) -> Any:
    """Columns of a raw element, decoded exactly as ``ds[tag]`` would decode it but without
    storing the result in ``ds`` (with its row at the top level, private ``creator`` given);
    :data:`_SEQUENCE` for a sequence, :data:`_IN_PLACE` for an ambiguous VR (its correction
    depends on the rest of the dataset)."""
    tag = int(raw.tag)
    encoding = _DEFAULT_ENCODING if tag == 0x00080005 else charset
    elem = convert_raw_data_element(raw, encoding=encoding, ds=ds)
    vr = str(elem.VR)
    if vr == "SQ":
        return _SEQUENCE
    if elem.VR in AMBIGUOUS_VR:
        return _IN_PLACE
    tag_text = _TAG_TEXT.get(tag) or _tag_text(tag)
    text, number, data = encode_value(vr, elem.value)
    return (tag_text, vr, text, number, data, f"|{tag_text}|{vr}|{text}",
            ("", tag_text, vr, text, number, data, creator))


def memo_field(ds: Dataset, raw: Any, tag: int, convert: Callable[[Any], Any],
               fallback: Callable[[], Any], memo: dict[tuple[Any, ...], Any] | None) -> Any:
    """``convert(value)`` of ``raw``, the top-level element ``tag`` of a header as read
    (``ds``: the header dataset, or one holding only its character set), memoized like rows
    (``convert`` must depend on ``tag`` only); ``fallback()`` otherwise (element absent,
    already decoded, or not memoizable)."""
    if memo is None or type(raw) is not RawDataElement or tag == 0x00080005:
        return fallback()
    value = raw.value
    if type(value) is not bytes or len(value) > _MEMO_LENGTH or raw.length == _UNDEFINED or \
            raw.VR == "SQ" or raw.VR == "UN" or tag >> 16 & 1:
        return fallback()
    charset = ds.original_character_set or ds._character_set
    key = (_FIELD, tag, raw.VR, value, raw.is_little_endian, raw.is_implicit_VR,
           charset if charset is None or isinstance(charset, str) else tuple(charset))
    try:
        return memo[key]
    except KeyError:
        pass
    elem = convert_raw_data_element(raw, encoding=charset, ds=ds)
    if elem.VR == "SQ" or elem.VR in AMBIGUOUS_VR:
        return fallback()
    result = memo[key] = convert(elem.value)
    _MEMO_BYTES[0] += 2 * len(value) + 300
    return result


_FIELD = "field"


def _creator(ds: Dataset, tag: int) -> str | None:
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:
        return None
    raw = ds._dict.get(group << 16 | element >> 8)
    if type(raw) is RawDataElement:  # decoded through the shared cache, not into ``ds``
        from gantry.api import decoded

        found = decoded(ds, raw)
        if found is not None:
            return None if found[0] is None else str(found[0])
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
