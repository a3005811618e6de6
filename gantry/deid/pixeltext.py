"""Text hidden inside encapsulated pixel data: JPEG (and JPEG-LS) comment ``COM`` and
application ``APPn`` segments, JPEG 2000 codestream comments (``COM``, 0xFF64) and JP2 boxes
that carry text (``xml ``, ``uuid``, ``lbl ``...).

Native pixel data is never read as text: its bytes are numbers, in which a short name occurs
by chance (see :mod:`gantry.deid.gate`). These segments are text by definition: the audit and
the export gate look for identifying values in them, so an instance whose frames carry, say,
the patient's name in a JPEG comment is refused.
"""

from __future__ import annotations

from collections.abc import Iterator

_ITEM = b"\xfe\xff\x00\xe0"
_SEQUENCE_END = b"\xfe\xff\xdd\xe0"
#: JP2 boxes whose content may be text (everything but the codestream and image header).
_JP2_TEXT_BOXES = frozenset({b"xml ", b"uuid", b"lbl ", b"uinf", b"url ", b"ulst"})


def fragments(value: bytes) -> Iterator[bytes]:
    """The fragments of an encapsulated Pixel Data value (the offset table skipped); none
    when ``value`` is not encapsulated."""
    pos, end, first = 0, len(value), True
    while pos + 8 <= end and value[pos:pos + 4] == _ITEM:
        length = int.from_bytes(value[pos + 4:pos + 8], "little")
        start = pos + 8
        if length == 0xFFFFFFFF or start + length > end:
            return
        if not first:
            yield value[start:start + length]
        first = False
        pos = start + length
        if value[pos:pos + 4] == _SEQUENCE_END:
            return


def _jpeg_segments(data: bytes) -> Iterator[bytes]:
    """Payloads of COM and APPn segments of a JPEG / JPEG-LS stream, up to the scan."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker in (0xDA, 0xD9):  # start of scan, end of image: no more header segments
            return
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            return
        if marker == 0xFE or 0xE0 <= marker <= 0xEF:
            yield data[pos + 4:pos + 2 + length]
        pos += 2 + length


def _j2k_segments(data: bytes) -> Iterator[bytes]:
    """Payloads of COM marker segments of a JPEG 2000 codestream's main header."""
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker in (0x90, 0x93, 0xD9):  # tile part, data, end: the main header is over
            return
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2:
            return
        if marker == 0x64:
            yield data[pos + 6:pos + 2 + length]  # (after the 2-byte registration value)
        pos += 2 + length


def _jp2_boxes(data: bytes) -> Iterator[bytes]:
    """Contents of JP2 boxes that carry text, and the comments of its codestream."""
    pos = 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        start = pos + 8
        if size == 1 and pos + 16 <= len(data):
            size, start = int.from_bytes(data[pos + 8:pos + 16], "big"), pos + 16
        end = len(data) if size == 0 else pos + size
        if end <= pos or end > len(data):
            return
        if kind in _JP2_TEXT_BOXES:
            yield data[start:end]
        elif kind == b"jp2c":
            yield from _j2k_segments(data[start:end])
        elif kind in (b"jp2h", b"res ", b"asoc"):  # superboxes: look inside
            yield from _jp2_boxes(data[start:end])
        pos = end


def text_segments(fragment: bytes) -> Iterator[bytes]:
    """The text-bearing segments of one compressed frame (JPEG, JPEG-LS, JPEG 2000, JP2)."""
    if fragment[:2] == b"\xff\xd8":
        yield from _jpeg_segments(fragment)
    elif fragment[:4] == b"\xff\x4f\xff\x51":
        yield from _j2k_segments(fragment)
    elif fragment[4:8] == b"jP  ":
        yield from _jp2_boxes(fragment)


def pixel_text(value: bytes) -> str:
    """The text in the segments of an encapsulated Pixel Data value (Latin-1, UTF-8 and
    UTF-16 readings, newline-joined); ``""`` for native pixel data or none."""
    from gantry.deid.vr import binary_text

    found = [binary_text(segment) for fragment in fragments(value)
             for segment in text_segments(fragment) if segment]
    return "\n".join(found)
