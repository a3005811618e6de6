"""An explicit VR little endian data set split into the byte spans of its top-level elements.

:func:`split` walks the bytes once, without decoding a value: an element's span is its header
and value; an undefined-length value (a sequence, encapsulated pixel data) is skipped item by
item with an explicit stack, so nesting depth costs memory, never the interpreter's stack.
:func:`raw_element` builds the raw element pydicom's reader yields for a span. Anything the
walk cannot take raises :class:`~gantry.dicom.errors.DicomFormatError`.
"""

from __future__ import annotations

import struct
import threading
from typing import Any, NamedTuple

from pydicom.dataelem import RawDataElement, empty_value_for_VR
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

from gantry.dicom.errors import DicomFormatError

TAG = struct.Struct("<HH")
UL = struct.Struct("<L")
US = struct.Struct("<H")
CHARSET = 0x00080005
SOP_CLASS = 0x00080016
SOP_INSTANCE = 0x00080018
TRANSFER_SYNTAX = 0x00020010
PIXEL_DATA = 0x7FE00010
#: Pixel Data, Float and Double Float Pixel Data: where ``stop_before_pixels`` stops.
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, PIXEL_DATA})
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF
KNOWN_VRS = frozenset(str(v) for v in VR)
#: VRs whose explicit-VR header has two reserved bytes and a 32-bit length
LONG_VRS = frozenset(str(v) for v in EXPLICIT_VR_LENGTH_32)


class ElementSpan(NamedTuple):
    """One top-level element of a data set: ``data[start:end]`` (header and value); its value
    is ``data[value:end]`` (``length`` may be :data:`UNDEFINED`)."""

    tag: int
    vr: str
    start: int
    value: int
    length: int
    end: int


def element_header(data: bytes, pos: int) -> tuple[int, str, int, int]:
    """``(tag, vr, length, header size)`` of the explicit VR LE element (or item or delimiter,
    with VR ``""``) at ``pos``."""
    if pos + 8 > len(data):
        raise DicomFormatError(pos, "truncated element header")
    group, elem = TAG.unpack_from(data, pos)
    tag = group << 16 | elem
    if group == 0xFFFE:
        return tag, "", UL.unpack_from(data, pos + 4)[0], 8
    vr = data[pos + 4:pos + 6].decode("latin-1")
    if vr not in KNOWN_VRS:
        raise DicomFormatError(pos, f"VR {vr!r}")
    if vr in LONG_VRS:
        if pos + 12 > len(data):
            raise DicomFormatError(pos, "truncated element header")
        return tag, vr, UL.unpack_from(data, pos + 8)[0], 12
    return tag, vr, US.unpack_from(data, pos + 6)[0], 8


def skip_items(data: bytes, pos: int, end: int) -> int:
    """The offset after the sequence delimiter of the undefined-length value at ``pos`` (its
    items, their elements and nested undefined-length values walked with a stack)."""
    in_item = [False]  # the innermost open value: a sequence (False) or an item (True)
    while in_item:
        if pos + 8 > end:
            raise DicomFormatError(pos, "truncated item" if in_item[-1] else
                                   "truncated sequence")
        if not in_item[-1]:
            group, elem = TAG.unpack_from(data, pos)
            tag = group << 16 | elem
            length = UL.unpack_from(data, pos + 4)[0]
            if tag == SEQ_END:
                pos += 8
                in_item.pop()
                continue
            if tag != ITEM:
                raise DicomFormatError(pos, "unexpected tag in a sequence")
            pos += 8
            if length == UNDEFINED:
                in_item.append(True)
            else:
                pos += length
            continue
        tag, _vr, length, size = element_header(data, pos)
        if tag == ITEM_END:
            pos += 8
            in_item.pop()
            continue
        if tag >> 16 == 0xFFFE:
            raise DicomFormatError(pos, "unexpected delimiter")
        pos += size
        if length == UNDEFINED:
            in_item.append(False)
        else:
            pos += length
    return pos


#: ``(tag, vr, length or None for a long VR)`` by the first 8 bytes of an element header.
_HEADS: dict[bytes, tuple[int, str, int | None]] = {}


def _head(head: bytes, pos: int) -> tuple[int, str, int | None]:
    """Decode (and remember) the first 8 bytes of an explicit VR little endian element."""
    group, elem = TAG.unpack_from(head)
    if group == 0xFFFE:
        raise DicomFormatError(pos, "tags out of order")
    vr = head[4:6].decode("latin-1")
    if vr not in KNOWN_VRS:
        raise DicomFormatError(pos, f"VR {vr!r}")
    found = (group << 16 | elem, vr, None if vr in LONG_VRS else US.unpack_from(head, 6)[0])
    if len(_HEADS) >= 16384:
        _HEADS.clear()
    _HEADS[head] = found
    return found


def split(data: bytes, start: int) -> list[ElementSpan]:
    """The top-level elements of an explicit VR little endian data set from ``start``.

    Each element header's first 8 bytes (tag, VR and a short length, or a long VR's reserved
    bytes) are decoded once per process: a series repeats them file after file. Raises
    :class:`DicomFormatError` on trailing or truncated bytes, an unknown VR, tags out of
    order, an undefined-length UN, or a malformed sequence."""
    return _split(data, start, False)[0]


def split_header(data: bytes, start: int) -> tuple[list[ElementSpan], int | None]:
    """:func:`split` up to the pixel data, as ``dcmread(..., stop_before_pixels=True)`` reads:
    the elements before it and the offset of the pixel data element (``None``: the data set
    has none). What follows that offset is not looked at (``data`` may end anywhere in it)."""
    return _split(data, start, True)


def _split(data: bytes, start: int, stop: bool) -> tuple[list[ElementSpan], int | None]:
    spans: list[ElementSpan] = []
    append = spans.append
    end = len(data)
    pos = start
    last = -1
    heads = _HEADS
    unpack_ul = UL.unpack_from
    while pos < end:
        if pos + 8 > end:
            raise DicomFormatError(pos, "trailing bytes")
        head = data[pos:pos + 8]
        found = heads.get(head)
        if found is None:
            found = _head(head, pos)
        tag, vr, length = found
        if tag <= last:  # (a delimiter's tag, 0xFFFExxxx, is above every element's)
            raise DicomFormatError(pos, "tags out of order")
        if length is None:  # a long VR: the length follows
            if pos + 12 > end:
                raise DicomFormatError(pos, "truncated element header")
            length = unpack_ul(data, pos + 8)[0]
            value = pos + 12
        else:
            value = pos + 8
        if stop and tag in PIXEL_TAGS:  # (its header read whole, as the reader reads it)
            return spans, pos
        last = tag
        if length == UNDEFINED:
            if vr == "UN":
                raise DicomFormatError(pos, "undefined-length UN")
            stop_at = skip_items(data, value, end)
        else:
            stop_at = value + length
            if stop_at > end:
                raise DicomFormatError(pos, "truncated element")
        append(ElementSpan(tag, vr, pos, value, length, stop_at))
        pos = stop_at
    return spans, None


def raw_element(data: bytes, span: ElementSpan, encoding: Any, fp: Any = None) -> Any:
    """The element as pydicom's reader yields it: raw, or a parsed undefined-length SQ (read
    from ``fp``, the whole file, when given: offsets are then the file's)."""
    if span.length != UNDEFINED:  # what the reader's defined-length branch yields
        value = data[span.value:span.end] if span.length else \
            empty_value_for_VR(span.vr, raw=True)
        return RawDataElement(BaseTag(span.tag), span.vr, span.length, value, span.value,
                              False, True)
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import data_element_generator

    if fp is None:
        fp = DicomBytesIO(data[span.start:span.end])
        fp.is_little_endian, fp.is_implicit_VR = True, False
    else:
        fp.seek(span.start)
    return next(data_element_generator(fp, False, True, encoding=encoding))


def read_back(written: bytes, encoding: Any) -> Any:
    """One written element (header and value) as the reader yields it, raw; ``None`` when it
    is not a single defined-length element."""
    tag, vr, length, size = element_header(written, 0)
    if length == UNDEFINED or size + length != len(written):
        return None
    return raw_element(written, ElementSpan(tag, vr, 0, size, length, len(written)), encoding)


_LAST_SPLIT = threading.local()  # per thread: (data, start, spans) of the file in hand
#: per thread: what is remembered of the file in hand (``value``: its split; ``walked``: the
#: element records of :mod:`gantry.dicom.walk`), all dropped by :func:`forget_split`
LAST_FILE = _LAST_SPLIT


def split_cached(data: bytes, start: int) -> list[ElementSpan]:
    """:func:`split`, remembered for the last file of this thread (ingest and export of the
    one-shot pass split the same bytes)."""
    last = getattr(_LAST_SPLIT, "value", None)
    if last is not None and last[0] is data and last[1] <= start:
        if last[1] == start:
            return last[2]
        found = last[2]  # the elements from ``start`` on, when one starts there (the data
        for i, span in enumerate(found):  # set after the file meta: a few elements in)
            if span.start >= start:
                if span.start == start:
                    return found[i:]
                break
    spans = split(data, start)
    _LAST_SPLIT.value = (data, start, spans)
    return spans


def forget_split() -> None:
    """Drop the remembered file (its bytes, its split and its element records)."""
    _LAST_SPLIT.value = None
    _LAST_SPLIT.walked = None


def explicit_little(tsyntax: Any) -> bool:
    """Whether a transfer syntax is one :func:`split` reads: a public, explicit VR little
    endian, not deflated one (native or encapsulated pixels)."""
    return tsyntax is not None and tsyntax.is_transfer_syntax and not tsyntax.is_implicit_VR \
        and tsyntax.is_little_endian and not tsyntax.is_deflated and not tsyntax.is_private
