"""Is a file well formed? One iterative walk over every element, item and fragment.

pydicom's reader stops quietly where a file ends early and gives back the elements read so
far; a de-identifier that trusts it writes half a file (no pixel data, no elements after the
cut) and says it is done. :func:`check` walks the whole data set — the file meta group, then
the data set in its transfer syntax (explicit or implicit VR, little or big endian, deflated),
into every sequence, item and encapsulated fragment, with an explicit stack so that nesting
costs memory, not the interpreter's stack — and raises :class:`TruncatedData` when a declared
length reaches past the bytes, a sequence or item is not closed, or the pixel data is shorter
than the image needs; :class:`~gantry.dicom.errors.DicomFormatError` for anything else it
cannot walk (an unknown VR, a stray delimiter, sequences nested deeper than
:data:`MAX_DEPTH`). It decodes only the few values it needs (the transfer syntax and the
image's size).
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from dataclasses import dataclass
from typing import Any

from gantry.dicom.errors import DicomFormatError

#: Sequences nested deeper than this are refused (real files stay far below: an SR content
#: tree rarely passes 20); every reader and the de-identification walk recurse per level.
MAX_DEPTH = 64
#: A deflated data set that inflates to more than this is refused.
MAX_INFLATED = 1 << 30

_ITEM, _ITEM_END, _SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF
_PIXEL_DATA = 0x7FE00010
_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, _PIXEL_DATA})
#: The VRs each pixel data element may be written with (UN: as some writers keep it).
_PIXEL_VRS = {0x7FE00008: frozenset({"OF", "UN"}), 0x7FE00009: frozenset({"OD", "UN"}),
              _PIXEL_DATA: frozenset({"OB", "OW", "UN"})}
_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1"})
#: Attributes read at the top level (the character set, the image's size): tag -> name.
_IMAGE_TAGS = {0x00080005: "charset", 0x00280002: "samples", 0x00280004: "photometric",
               0x00280008: "frames", 0x00280010: "rows", 0x00280011: "columns", 0x00280100: "bits"}
#: The image attributes read as numbers, and the VRs they may be written with (a text VR would
#: be rewritten as text, changing the number the pixel data is checked against).
_US_IMAGE_TAGS = frozenset({0x00280002, 0x00280010, 0x00280011, 0x00280100})
_US_VRS = frozenset({"US", "SS", "UN", "OW"})

_DATASET, _SEQUENCE, _FRAGMENTS = 0, 1, 2
#: (tag pair, 32-bit, 16-bit) unpackers by little endian or not
_STRUCTS = {little: (struct.Struct(f"{o}HH"), struct.Struct(f"{o}L"), struct.Struct(f"{o}H"))
            for little, o in ((True, "<"), (False, ">"))}
_US = _STRUCTS[True][2]
#: VRs of fixed-size binary values: a value length that is not a multiple cannot be decoded.
_FIXED = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "SV": 8, "UV": 8,
          "OF": 4, "OD": 8, "OL": 4, "OV": 8}
#: The longest single value of the string VRs whose repertoire has no control characters
#: (PS3.5 Table 6.2-1; PN: three component groups of 64): a value longer than this is a
#: multi-value — or a length field that runs into the elements after it.
_LONGEST = {"AE": 16, "AS": 4, "CS": 16, "DA": 18, "DS": 16, "DT": 26, "IS": 12, "LO": 64,
            "PN": 194, "SH": 16, "TM": 16, "UI": 64}
#: Bytes none of those values may hold (TAB, LF, VT, FF, CR and ESC are let through: text
#: written by careless writers, ISO 2022 escapes); NUL only as padding at the end...
_CONTROL = re.compile(rb"[\x00-\x08\x0e-\x1a\x1c-\x1f]")
#: ... except in a UI value, where some writers pad each of several values with NUL.
_UI_CONTROL = re.compile(rb"[\x01-\x1f]")


def overrun(data: bytes, tag: int, vr: str, value: int, length: int) -> str | None:
    """Why the string value at ``value`` cannot be what its length says (``None`` if it can):
    longer than one value of its VR and holding control bytes, which element headers are
    made of — its length field runs into the elements after it, which a reader would take
    for part of the value (and an identifier among them would never be seen as one)."""
    if length <= _LONGEST.get(vr, 1 << 32):
        return None
    end = value + length
    if vr == "UI":
        found = _UI_CONTROL.search(data, value, end)
    else:
        while end > value and data[end - 1] in (0, 32):
            end -= 1
        found = _CONTROL.search(data, value, end)
    if found is None:
        return None
    return (f"{_tag_text(tag)} {vr} value of {length} bytes holds a control byte at byte "
            f"{found.start()}: its length runs into the elements after it")


class TruncatedData(DicomFormatError):
    """The bytes end before what they declare: a length past the end, an open sequence or
    item, pixel data shorter than the image."""


def describe(error: DicomFormatError) -> str:
    """The one-line reason a user reads: ``truncated at byte N: ...`` or ``malformed at byte
    N: ...``."""
    kind = "truncated" if isinstance(error, TruncatedData) else "malformed"
    return f"{kind} at byte {error.offset}: {error.reason}"


@dataclass
class Layout:
    """What :func:`check` learnt of a well-formed file."""

    transfer_syntax: str
    #: where the data set starts (after the file meta group)
    dataset_start: int
    #: the top-level pixel data element: ``(tag, value offset, length)``, or ``None``
    pixels: tuple[int, int, int] | None
    #: deepest sequence nesting met
    depth: int
    #: the top-level SpecificCharacterSet as written (``None``: absent)
    charset: str | None = None
    #: where the walk ended
    end: int = 0


def _known_vrs() -> frozenset[bytes]:
    from pydicom.valuerep import VR

    return frozenset(str(v).encode() for v in VR)


def _long_vrs() -> frozenset[bytes]:
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

    return frozenset(str(v).encode() for v in EXPLICIT_VR_LENGTH_32)


_KNOWN_VRS = _known_vrs()
_LONG_VRS = _long_vrs()
_DICT_VRS: dict[int, str] = {}


def _dictionary_vr(tag: int) -> str:
    """The VR an implicit VR data set gives ``tag`` (``UN`` for what the dictionary lacks)."""
    found = _DICT_VRS.get(tag)
    if found is None:
        from pydicom.datadict import dictionary_VR

        try:
            found = dictionary_VR(tag)
        except KeyError:
            found = "UN"
        if len(_DICT_VRS) < 65536:
            _DICT_VRS[tag] = found
    return found


def _tag_text(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def check(data: bytes, *, max_depth: int = MAX_DEPTH,
          visit: list[tuple[int, int]] | None = None) -> Layout:
    """Walk every element of a DICOM file (Part 10, or a bare data set) and return its
    :class:`Layout`; raise :class:`TruncatedData` or
    :class:`~gantry.dicom.errors.DicomFormatError` (offset and reason) where it is not well
    formed. ``visit``, when given, receives ``(offset, length field size)`` of every element
    header of the data set met (not inflated ones): where a fuzzer finds length fields."""
    start, syntax = _file_meta(data)
    if syntax in _DEFLATED:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            body = inflater.decompress(data[start:], MAX_INFLATED)
        except zlib.error as exc:
            raise DicomFormatError(start, f"deflated data set does not inflate ({exc})") \
                from None
        if inflater.unconsumed_tail:
            raise DicomFormatError(start, f"deflated data set inflates to more than "
                                          f"{MAX_INFLATED} bytes")
        if not inflater.eof:
            raise TruncatedData(len(data), "deflated data set ends early")
        layout = _walk(body, 0, False, True, max_depth, None)
        layout.transfer_syntax, layout.dataset_start = syntax, start
        return layout
    if syntax == _IMPLICIT_LE:
        implicit, little = True, True
    elif syntax == _EXPLICIT_BE:
        implicit, little = False, False
    elif syntax:
        implicit, little = False, True
    else:  # no file meta: what the data set's first bytes say
        implicit, little = _guess(data, start)
    if len(data) >= start + 6:  # as pydicom's reader: the first element's VR decides
        implicit = data[start + 4:start + 6] not in _KNOWN_VRS
    layout = None
    if not implicit and little and visit is None and type(data) is bytes and \
            data[128:132] == b"DICM":
        layout = _from_split(data, start, max_depth)
    if layout is None:
        layout = _walk(data, start, implicit, little, max_depth, visit)
    layout.transfer_syntax = syntax
    return layout


def _from_split(data: bytes, start: int, max_depth: int) -> Layout | None:
    """:func:`check`'s walk of an explicit VR little endian data set from the top-level
    element spans the byte layer splits the file into (remembered for the file:
    :func:`gantry.dicom.elements.split_cached`, which the header reader and the
    de-identification pass use too), so that the top level is walked once per file; only
    sequences are entered, by the same walk. ``None`` where the spans cannot stand in for
    the walk (the split refuses the file, encapsulated pixel data, an element the walk
    would refuse): the whole walk then runs and says why."""
    from gantry.dicom.elements import split_cached

    try:
        spans = split_cached(data, 132)
    except DicomFormatError:
        return None
    n = len(data)
    image: dict[str, Any] = {}
    pixels: tuple[int, int, int] | None = None
    deepest = 0
    at_start = False
    for tag, vr, pos, value, length, end in spans:
        if pos < start:
            continue
        if pos == start:
            at_start = True
        if vr == "SQ" and not (length == _UNDEFINED and tag == _PIXEL_DATA):
            if max_depth < 1:
                return None
            limit = n if length == _UNDEFINED else end
            inner = _walk(data, value, False, True, max_depth, None,
                          [_SEQUENCE, None if length == _UNDEFINED else end, limit, False, tag,
                           1])
            if inner.end != end:
                return None
            deepest = max(deepest, inner.depth, 1)
            continue
        if length == _UNDEFINED:
            return None  # encapsulated pixel data (its fragments), or what the walk refuses
        size = _FIXED.get(vr)
        if size is not None and length % size:
            return None
        if vr == "UN" and length and _dictionary_vr(tag) == "SQ":
            return None  # a sequence the reader makes of a UN: the walk counts its nesting
        if length > 4 and vr in _LONGEST and overrun(data, tag, vr, value, length):
            return None  # the walk refuses it
        if tag in _PIXEL_TAGS:
            if vr not in _PIXEL_VRS[tag]:
                return None  # the walk refuses it
            pixels = (tag, value, length)
        elif tag in _IMAGE_TAGS:
            if tag in _US_IMAGE_TAGS and vr not in _US_VRS:
                return None  # the walk refuses it
            image[_IMAGE_TAGS[tag]] = _image_value(data, tag, value, length, _US)
    if not at_start:
        return None
    return _finish(start, pixels, image, deepest)


def _file_meta(data: bytes) -> tuple[int, str]:
    """``(where the data set starts, transfer syntax UID or "")`` after the preamble and the
    file meta group (explicit VR little endian, always)."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        pos = 132
    elif data[:2] == b"\x02\x00":
        pos = 0
    else:
        return 0, ""
    n = len(data)
    syntax = ""
    while pos + 4 <= n:
        group, elem = struct.unpack_from("<HH", data, pos)
        if group != 2:
            break
        if pos + 8 > n:
            raise TruncatedData(pos, "file meta element header cut short")
        vr = data[pos + 4:pos + 6]
        if vr not in _KNOWN_VRS:
            raise DicomFormatError(pos + 4, f"unknown VR {vr.decode('latin-1')!r} in file "
                                            f"meta element {_tag_text(group << 16 | elem)}")
        if vr in _LONG_VRS:
            if pos + 12 > n:
                raise TruncatedData(pos, "file meta element header cut short")
            length, head = struct.unpack_from("<L", data, pos + 8)[0], 12
        else:
            length, head = struct.unpack_from("<H", data, pos + 6)[0], 8
        value = pos + head
        if length == _UNDEFINED or value + length > n:
            raise TruncatedData(value, f"file meta element {_tag_text(group << 16 | elem)} "
                                       f"declares {length} bytes, {n - value} left")
        if elem == 0x0010:
            syntax = data[value:value + length].decode("latin-1").strip("\x00 ")
        pos = value + length
    if pos + 4 > n and pos < n:
        raise TruncatedData(pos, "element header cut short")
    return pos, syntax


def _guess(data: bytes, pos: int) -> tuple[bool, bool]:
    """``(implicit, little)`` of a data set without file meta, from its first element."""
    if len(data) < pos + 8:
        return True, True
    little = struct.unpack_from("<H", data, pos)[0] <= struct.unpack_from(">H", data, pos)[0]
    return data[pos + 4:pos + 6] not in _KNOWN_VRS, little


def _walk(data: bytes, start: int, implicit: bool, little: bool, max_depth: int,
          visit: list[tuple[int, int]] | None, first: list[Any] | None = None) -> Layout:
    """The iterative walk of a data set from ``start`` to the end of ``data`` (or of the one
    value ``first`` describes, a frame as below: then only until that value ends)."""
    n = len(data)
    tags, ul, us = _STRUCTS[little]
    # frames: [kind, end (None: undefined length), limit, implicit, tag, depth]
    stack: list[list[Any]] = [first if first is not None else [_DATASET, n, n, implicit, 0, 0]]
    image: dict[str, Any] = {}
    pixels: tuple[int, int, int] | None = None
    deepest = 0
    pos = start
    while True:
        frame = stack[-1]
        kind, end, limit, frame_implicit, owner, depth = frame
        if end is not None and pos >= end:
            stack.pop()
            if not stack:
                break
            continue
        if pos >= n:  # an undefined-length sequence or item still open at the end
            what = "item" if kind == _DATASET else \
                "encapsulated pixel data" if kind == _FRAGMENTS else "sequence"
            raise TruncatedData(n, f"{what} of {_tag_text(owner)} has no end (the file "
                                   f"ends inside it)")
        if pos + 8 > limit:
            raise TruncatedData(pos, "element header cut short")
        group, elem = tags.unpack_from(data, pos)
        tag = group << 16 | elem
        if kind != _DATASET:  # a sequence's items, or pixel data's fragments
            length = ul.unpack_from(data, pos + 4)[0]
            pos += 8
            if tag == _SEQ_END and end is None:
                stack.pop()
                if not stack:  # (the end of the value ``first`` describes)
                    break
                continue
            if tag != _ITEM:
                raise DicomFormatError(pos - 8, f"{_tag_text(tag)} where an item of "
                                                f"{_tag_text(owner)} must be")
            if length == _UNDEFINED:
                if kind == _FRAGMENTS:
                    raise DicomFormatError(pos - 8, "pixel data fragment of undefined length")
                stack.append([_DATASET, None, limit, frame_implicit, owner, depth])
                continue
            if pos + length > limit:
                raise TruncatedData(pos, f"item of {_tag_text(owner)} declares {length} "
                                         f"bytes, {limit - pos} left")
            if kind == _FRAGMENTS:
                pos += length
            else:
                stack.append([_DATASET, pos + length, pos + length, frame_implicit, owner,
                              depth])
            continue
        if group == 0xFFFE:
            if tag == _ITEM_END and len(stack) > 1:
                pos += 8
                if end is None:
                    stack.pop()
                continue
            raise DicomFormatError(pos, f"stray delimiter {_tag_text(tag)}")
        if visit is not None:
            visit.append((pos, 4 if frame_implicit or data[pos + 4:pos + 6] in _LONG_VRS
                          else 2))
        if frame_implicit:
            length = ul.unpack_from(data, pos + 4)[0]
            value = pos + 8
            vr = _dictionary_vr(tag)
        else:
            raw_vr = data[pos + 4:pos + 6]
            if raw_vr not in _KNOWN_VRS:
                raise DicomFormatError(pos + 4, f"unknown VR {raw_vr.decode('latin-1')!r} in "
                                                f"{_tag_text(tag)}")
            vr = raw_vr.decode()
            if raw_vr in _LONG_VRS:
                if pos + 12 > limit:
                    raise TruncatedData(pos, f"header of {_tag_text(tag)} cut short")
                length = ul.unpack_from(data, pos + 8)[0]
                value = pos + 12
            else:
                length = us.unpack_from(data, pos + 6)[0]
                value = pos + 8
        top = len(stack) == 1
        if length == _UNDEFINED:
            if top and tag == _PIXEL_DATA:
                pixels = (tag, value, length)
                stack.append([_FRAGMENTS, None, limit, frame_implicit, tag, depth])
            elif vr == "SQ" or vr == "UN" or frame_implicit:
                if depth + 1 > max_depth:
                    raise DicomFormatError(pos, f"sequences nested deeper than {max_depth} "
                                                f"levels at {_tag_text(tag)}")
                deepest = max(deepest, depth + 1)
                # an undefined-length UN holds an implicit VR little endian sequence
                inner = True if vr == "UN" and not frame_implicit else frame_implicit
                stack.append([_SEQUENCE, None, limit, inner, tag, depth + 1])
            else:
                raise DicomFormatError(pos, f"{_tag_text(tag)} ({vr}) of undefined length")
            pos = value
            continue
        if value + length > limit:
            raise TruncatedData(value, f"{_tag_text(tag)} declares {length} bytes, "
                                       f"{max(limit - value, 0)} left")
        # a UN of a sequence's tag is read as the sequence it holds (implicit VR little
        # endian, PS3.5 6.2.2): its nesting counts as the reader will see it
        un_sequence = vr == "UN" and not frame_implicit and length and \
            _dictionary_vr(tag) == "SQ"
        if vr == "SQ" or un_sequence:
            if depth + 1 > max_depth:
                raise DicomFormatError(pos, f"sequences nested deeper than {max_depth} "
                                            f"levels at {_tag_text(tag)}")
            deepest = max(deepest, depth + 1)
            stack.append([_SEQUENCE, value + length, value + length,
                          True if un_sequence else frame_implicit, tag, depth + 1])
            pos = value
            continue
        size = _FIXED.get(vr)
        if size is not None and length % size and not frame_implicit:
            raise DicomFormatError(pos, f"{_tag_text(tag)} {vr} value of {length} bytes is "
                                        f"not a multiple of {size}")
        if length > 4 and vr in _LONGEST:
            reason = overrun(data, tag, vr, value, length)
            if reason is not None:
                raise DicomFormatError(pos, reason)
        if top:
            if tag in _PIXEL_TAGS:
                if not frame_implicit and vr not in _PIXEL_VRS[tag]:
                    raise DicomFormatError(pos, f"{_tag_text(tag)} has VR {vr}, not "
                                                f"{' or '.join(sorted(_PIXEL_VRS[tag]))}: "
                                                "the pixel data cannot be read")
                pixels = (tag, value, length)
            elif tag in _IMAGE_TAGS:
                if tag in _US_IMAGE_TAGS and not frame_implicit and vr not in _US_VRS:
                    raise DicomFormatError(pos, f"{_tag_text(tag)} has VR {vr}, not US: the "
                                                "image cannot be read as it is described")
                image[_IMAGE_TAGS[tag]] = _image_value(data, tag, value, length, us)
        pos = value + length
    layout = _finish(start, pixels, image, deepest)
    layout.end = pos
    return layout


def _finish(start: int, pixels: tuple[int, int, int] | None, image: dict[str, Any],
            deepest: int) -> Layout:
    """The layout of a walked data set, once its native pixel data is known long enough."""
    if pixels is not None and pixels[0] == _PIXEL_DATA and pixels[2] != _UNDEFINED:
        needed = _needed(image)
        if needed is not None and pixels[2] < needed:
            raise TruncatedData(pixels[1] + pixels[2],
                                f"pixel data holds {pixels[2]} bytes, the image needs "
                                f"{needed}")
    return Layout("", start, pixels, deepest, image.get("charset"))


#: ISO 2022 code elements of multi-byte sets: never the first value (G0 starts single-byte).
_MULTI_BYTE_ISO_2022 = frozenset({"ISO 2022 IR 87", "ISO 2022 IR 159", "ISO 2022 IR 149",
                                  "ISO 2022 IR 58"})


def charset_problem(charset: str | None) -> str | None:
    """Why a SpecificCharacterSet value cannot be read as written (``None``: it can): a
    multi-byte ISO 2022 code element as its first value, which pydicom's codecs fail on."""
    if not charset:
        return None
    first = charset.split("\\")[0].strip()
    if first in _MULTI_BYTE_ISO_2022:
        return (f"SpecificCharacterSet {charset!r}: a multi-byte code extension cannot be the "
                f"first value (the default repertoire comes first: '\\{first}')")
    return None


def _image_value(data: bytes, tag: int, value: int, length: int, us: struct.Struct) -> Any:
    """A US image attribute (2 bytes) as a number, NumberOfFrames (IS) and the photometric
    interpretation (CS) as stripped text; ``None`` when not of that form."""
    raw = data[value:value + length]
    if tag in (0x00280008, 0x00280004, 0x00080005):
        return raw.decode("latin-1").strip("\x00 ")
    return us.unpack(raw)[0] if length == 2 else None


def _needed(image: dict[str, Any]) -> int | None:
    """How many bytes native pixel data of ``image`` needs (``None``: cannot say)."""
    try:
        rows, columns, bits = int(image["rows"]), int(image["columns"]), int(image["bits"])
        samples = int(image.get("samples", 1) or 1)
        frames = int(str(image.get("frames", 1) or 1).split("\\")[0])
    except (KeyError, TypeError, ValueError):
        return None
    if min(rows, columns, bits, samples, frames) <= 0:
        return None
    pixels = rows * columns * samples * frames
    length = (pixels + 7) // 8 if bits == 1 else pixels * (bits // 8)
    if str(image.get("photometric", "")) in ("YBR_FULL_422", "YBR_PARTIAL_422"):
        length = length // 3 * 2
    return length


def check_stream(fh: Any) -> Layout:
    """:func:`check` of the whole content of an open binary file, read without a copy where
    it can be: a regular file is memory-mapped, an in-memory buffer taken as it is."""
    import io
    import mmap

    if isinstance(fh, io.BytesIO):
        return check(fh.getvalue())
    try:
        fileno = fh.fileno()
    except (AttributeError, OSError, io.UnsupportedOperation):
        fileno = None
    if fileno is not None:
        try:
            mapped = mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # empty, or not mappable: read it
            mapped = None
        if mapped is not None:
            with mapped:
                return check(mapped)  # type: ignore[arg-type]
    pos = fh.tell()
    fh.seek(0)
    try:
        return check(fh.read())
    finally:
        fh.seek(pos)


_LAST = threading.local()  # per thread: (the bytes last checked, their layout)


def check_cached(data: bytes) -> Layout:
    """:func:`check`, remembered for the last bytes object this thread checked (ingest and
    export of the one-shot pass check the very same bytes; they are walked once)."""
    last = getattr(_LAST, "value", None)
    if last is not None and last[0] is data:
        return last[1]
    layout = check(data)
    _LAST.value = (data, layout)
    return layout


def forget_checked() -> None:
    """Drop the remembered bytes."""
    _LAST.value = None
