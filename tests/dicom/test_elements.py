"""The byte layer splits what it can and says where it cannot: a typed error with the offset,
never a RecursionError or a struct.error."""

from __future__ import annotations

import struct

import pytest

from gantry.dicom.elements import UNDEFINED, element_header, skip_items, split
from gantry.dicom.errors import DicomFormatError

_ITEM = b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
_ITEM_END = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00"
_SEQ_END = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _sq(tag: int, body: bytes) -> bytes:
    """An undefined-length SQ element of one undefined-length item holding ``body``."""
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\x00\x00" + \
        struct.pack("<L", UNDEFINED)
    return head + _ITEM + body + _ITEM_END + _SEQ_END


def _lo(tag: int, text: bytes) -> bytes:
    return struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"LO" + struct.pack("<H", len(text)) \
        + text


def test_deep_nesting_is_walked_without_recursion() -> None:
    body = _lo(0x00100010, b"DEEP")
    for _ in range(5000):  # far deeper than the interpreter's recursion limit
        body = _sq(0x00081115, body)
    data = body + _lo(0x00200010, b"ID")
    spans = split(data, 0)
    assert [s.tag for s in spans] == [0x00081115, 0x00200010]
    assert spans[0].end == len(data) - len(_lo(0x00200010, b"ID"))


@pytest.mark.parametrize("cut", [1, 3, 8, 11, 17, 20, 30])
def test_truncation_is_a_format_error_with_its_offset(cut: int) -> None:
    data = _sq(0x00081115, _lo(0x00100010, b"NAME")) + _lo(0x00200010, b"ID")
    with pytest.raises(DicomFormatError) as caught:
        split(data[:-cut], 0)
    assert 0 <= caught.value.offset <= len(data)
    assert str(caught.value).startswith(f"offset {caught.value.offset}: ")


def test_unknown_vr_and_disorder_are_format_errors() -> None:
    with pytest.raises(DicomFormatError, match="VR"):
        split(b"\x08\x00\x20\x00??\x00\x00", 0)
    with pytest.raises(DicomFormatError, match="out of order"):
        split(_lo(0x00200010, b"ID") + _lo(0x00100010, b"NM"), 0)
    with pytest.raises(DicomFormatError, match="truncated element header"):
        element_header(b"\x08\x00\x20\x00OB\x00\x00\x01", 0)  # a long VR cut in its length
    with pytest.raises(DicomFormatError, match="unexpected tag"):
        skip_items(_lo(0x00100010, b"NM"), 0, 12)
