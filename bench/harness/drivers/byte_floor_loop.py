"""The byte floor: a plain-Python byte rewriter that removes a fixed list of top-level tags.

No pydicom objects and no de-identification rules beyond the list (and private elements):
what a rewriter costs that reads each file once into a reused buffer, walks its top-level
elements (explicit VR little endian; files in other transfer syntaxes are copied as read),
and writes the kept element spans with one ``writev`` call. Sequences are kept or dropped
whole, never entered, so identifiers nested in kept sequences remain: it is a floor to
compare speed with, not a de-identifier. The files are dealt round-robin to N processes
(third argument, default every core), forked by ``_walk.on_every_core`` as the pydicom loop is.
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _walk import on_every_core

#: Top-level tags removed (the usual direct identifiers of PS3.15's basic profile).
REMOVED = frozenset({
    0x00080050, 0x00080080, 0x00080081, 0x00080090, 0x00080092, 0x00080094, 0x00080096,
    0x00081010, 0x00081040, 0x00081048, 0x00081050, 0x00081060, 0x00081070, 0x00100010,
    0x00100020, 0x00100021, 0x00100030, 0x00100032, 0x00101000, 0x00101001, 0x00101002,
    0x00101005, 0x00101040, 0x00102154, 0x00104000, 0x00204000, 0x00321032, 0x00400275,
    0x00081030, 0x0008103E,
})
_LONG = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN",
                   b"UR", b"UT", b"UV"))
_HEAD = struct.Struct("<HH2sH")
_UL = struct.Struct("<L")
_EXPLICIT_LE = b"1.2.840.10008.1.2.1"
_UNDEFINED = 0xFFFFFFFF


def _skip_undefined(view, pos: int, end: int) -> int:
    """The offset after the delimiter closing the undefined-length value at ``pos``."""
    depth = 1
    while depth:
        if pos + 8 > end:
            raise ValueError("undefined-length value has no end")
        group, elem, vr, short = _HEAD.unpack_from(view, pos)
        if group == 0xFFFE:
            length = _UL.unpack_from(view, pos + 4)[0]
            pos += 8
            if elem in (0xE0DD, 0xE00D):
                depth -= 1
            elif length == _UNDEFINED:
                depth += 1
            continue
        if vr in _LONG:
            length = _UL.unpack_from(view, pos + 8)[0]
            pos += 12
        else:
            length = short
            pos += 8
        if length == _UNDEFINED:
            depth += 1
        else:
            pos += length
    return pos


def kept_spans(view, size: int) -> list:
    """The pieces of the file in ``view[:size]`` to write: everything but removed elements."""
    if size < 144 or view[128:132] != b"DICM":
        return [view[:size]]
    meta_end = 144 + _UL.unpack_from(view, 140)[0]
    if _EXPLICIT_LE + b"\x00" not in bytes(view[132:meta_end]):
        return [view[:size]]  # not explicit VR little endian: copied as read
    pieces = []
    keep_from = 0
    pos = meta_end
    while pos + 8 <= size:
        group, elem, vr, short = _HEAD.unpack_from(view, pos)
        if vr in _LONG:
            length = _UL.unpack_from(view, pos + 8)[0]
            value = pos + 12
        else:
            length = short
            value = pos + 8
        end = _skip_undefined(view, value, size) if length == _UNDEFINED else value + length
        if group & 1 or (group << 16 | elem) in REMOVED:
            if pos > keep_from:
                pieces.append(view[keep_from:pos])
            keep_from = end
        pos = end
    if size > keep_from:
        pieces.append(view[keep_from:size])
    return pieces


def rewrite_all(jobs) -> None:
    """Rewrite each ``(source, target)`` pair: one ``readinto`` into a reused buffer, one
    ``writev`` of the kept pieces."""
    buffer = bytearray(1 << 20)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for source, target in jobs:
        with open(source, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size > len(buffer):
                buffer = bytearray(size)
            view = memoryview(buffer)
            got = fh.readinto(view[:size])
        pieces = kept_spans(view, got)
        fd = os.open(target, flags, 0o644)
        try:
            total = sum(len(p) for p in pieces)
            written = os.writev(fd, pieces)
            if written < total:  # (a short write: the rest in one piece)
                os.write(fd, b"".join(pieces)[written:])
        finally:
            os.close(fd)
        del pieces, view


def main() -> None:
    on_every_core(rewrite_all)


if __name__ == "__main__":
    main()
