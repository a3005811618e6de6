"""Hostile inputs, built on demand: broken, malicious and pathological files and archives.

Every builder returns the bytes (or writes the file-system object) of one case that a tool at a
hospital's boundary must survive: truncations, lying length fields, unknown VRs, deep nesting,
odd character sets, long sequences, broken or hostile zip archives. The regression tests of
issue 20 and the mutation fuzzer (``tests/hostile/``) build their inputs here, so no opaque file
is shipped.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry.testing.factory import make_instance

_PIXEL_TAG = b"\xe0\x7f\x10\x00"


def encode(ds: Dataset) -> bytes:
    """``ds`` as a Part 10 file."""
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def valid_file(**kwargs: object) -> bytes:
    """A valid instance of :func:`gantry.testing.factory.make_instance` as a Part 10 file."""
    return encode(make_instance(**kwargs))  # type: ignore[arg-type]


def pixel_offset(data: bytes) -> int:
    """Where the (7FE0,0010) element of an explicit VR little endian file starts."""
    return data.rindex(_PIXEL_TAG + b"OW")


def truncated(data: bytes, at: int) -> bytes:
    """The first ``at`` bytes of ``data``."""
    return data[:at]


def element_offset(data: bytes, tag: int) -> int:
    """Where the explicit VR little endian element ``tag`` starts (first occurrence after the
    preamble)."""
    needle = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    return data.index(needle, 132)


def with_element(ds: Dataset, tag: int, vr: str, value: object) -> Dataset:
    """``ds`` with one more element."""
    ds.add_new(tag, vr, value)
    return ds


def lying_ut_length(declared: int = 2 * 1024**3) -> bytes:
    """A file whose UT element (ImageComments' neighbour, (0020,4000)) declares ``declared``
    bytes, far more than the file holds (about 10 KB)."""
    ds = make_instance(rows=64, cols=64)
    ds.ImageComments = "x" * 64
    data = encode(ds)
    pos = element_offset(data, 0x00204000)
    assert data[pos + 4:pos + 6] == b"LT"
    # LT has a 2-byte length: rewrite the element as UT (4-byte length), value kept
    length = struct.unpack_from("<H", data, pos + 6)[0]
    value = data[pos + 8:pos + 8 + length]
    head = data[pos:pos + 4] + b"UT\x00\x00" + struct.pack("<L", declared)
    return data[:pos] + head + value + data[pos + 8 + length:]


def swallowing_length(tag: int = 0x00080023, extra: int = 310) -> bytes:
    """A file whose string element ``tag`` (ContentDate, a 2-byte length) declares ``extra``
    bytes more than its value: it swallows the elements after it (the referring physician's
    name among them), and a reader takes up again inside the next ones."""
    data = encode(make_instance(rows=16, cols=16))
    pos = element_offset(data, tag)
    length = struct.unpack_from("<H", data, pos + 6)[0]
    return data[:pos + 6] + struct.pack("<H", length + extra) + data[pos + 8:]


def short_pixel_data(keep: float = 0.5) -> bytes:
    """A file whose pixel data element is consistent with the file's end but shorter than
    Rows x Columns x samples x bits needs (only ``keep`` of it)."""
    data = valid_file(rows=32, cols=32)
    pos = pixel_offset(data)
    length = struct.unpack_from("<L", data, pos + 8)[0]
    new = int(length * keep) & ~1
    return data[:pos + 8] + struct.pack("<L", new) + data[pos + 12:pos + 12 + new]


def cut_into_pixel_header(cut: int = 8) -> bytes:
    """A file cut ``cut`` bytes into the (7FE0,0010) element header."""
    data = valid_file()
    return data[:pixel_offset(data) + cut]


def nested(depth: int, undefined: bool = True) -> bytes:
    """A valid file with ContentSequence items nested ``depth`` deep (undefined lengths by
    default), built at byte level (pydicom's writer takes minutes past a thousand levels)."""
    inner = b"\x08\x00\x00\x01SH\x02\x00X "  # CodeValue "X"
    seq = b"\x40\x00\x30\xa7SQ\x00\x00"
    if undefined:
        opening = seq + b"\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
        closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
        element = b"".join([opening * depth, inner, closing * depth])
    else:
        heads = []
        size = len(inner)
        for _ in range(depth):  # from the innermost out: item, then sequence
            heads.append(seq + struct.pack("<L", size + 8) + b"\xfe\xff\x00\xe0" +
                         struct.pack("<L", size))
            size += 20
        element = b"".join([*reversed(heads), inner])
    return insert_element(valid_file(), 0x0040A730, element)


def insert_element(data: bytes, tag: int, element: bytes) -> bytes:
    """``data`` (an explicit VR little endian file) with ``element`` (its encoded bytes)
    inserted among the top-level elements in tag order."""
    pos = 132
    while pos < len(data):
        group, elem = struct.unpack_from("<HH", data, pos)
        if (group << 16 | elem) > tag and group != 2:
            break
        vr = data[pos + 4:pos + 6]
        if vr in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"SQ", b"UC", b"UN", b"UR", b"UT",
                  b"SV", b"UV"):
            pos += 12 + struct.unpack_from("<L", data, pos + 8)[0]
        else:
            pos += 8 + struct.unpack_from("<H", data, pos + 6)[0]
    return data[:pos] + element + data[pos:]


def unclosed_sequence() -> bytes:
    """A file that ends inside an undefined-length sequence: its last element, the Digital
    Signatures Sequence, has an item and no item or sequence delimiter."""
    return valid_file() + b"\xfa\xff\xfa\xffSQ\x00\x00\xff\xff\xff\xff" + \
        b"\xfe\xff\x00\xe0\xff\xff\xff\xff" + b"\x08\x00\x00\x01SH\x02\x00X "


def unknown_vr(vr: bytes = b"XX", tag: int = 0x00081030) -> bytes:
    """A file whose element ``tag`` (StudyDescription by default) has the VR ``vr``."""
    data = valid_file()
    pos = element_offset(data, tag)
    return data[:pos + 4] + vr + data[pos + 6:]


def charset(value: str) -> bytes:
    """A valid file whose SpecificCharacterSet element holds ``value`` as written (``ISO 2022
    IR 87`` as a single value, an unknown term, a backslash-separated list...)."""
    return charset_of(valid_file(), value)


def charset_of(data: bytes, value: str) -> bytes:
    """``data`` with its ``ISO_IR 100`` SpecificCharacterSet element (explicit VR little
    endian) holding ``value`` instead; unchanged when it has no such element."""
    old = b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100"
    raw = value.encode("latin-1")
    if len(raw) % 2:
        raw += b" "
    return data.replace(old, old[:6] + struct.pack("<H", len(raw)) + raw, 1)


def long_sequence(items: int) -> bytes:
    """A file with one sequence of ``items`` items, each with a UID and a code."""
    ds = make_instance()
    seq = []
    for n in range(items):
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.10.999.5.{n}"
        seq.append(item)
    ds.ReferencedImageSequence = Sequence(seq)
    return encode(ds)


def big_pixels(path: Path, megabytes: int) -> Path:
    """Write an instance with about ``megabytes`` MB of native pixel data to ``path``, in
    bounded memory (the pixel value is streamed)."""
    ds = make_instance(rows=16, cols=16)
    frame = 512 * 512 * 2
    frames = max(1, megabytes * 1024 * 1024 // frame)
    ds.Rows = ds.Columns = 512
    ds.NumberOfFrames = frames
    ds.PixelData = b"\x00\x00"
    data = encode(ds)
    pos = pixel_offset(data)
    length = frames * frame
    chunk = (bytes(range(256)) * (frame // 256))[:frame]
    with open(path, "wb") as fh:
        fh.write(data[:pos + 8] + struct.pack("<L", length))
        for _ in range(frames):
            fh.write(chunk)
    return path


# ------------------------------------------------------------------------------ archives
def zip_of(members: list[tuple[str, bytes]], *,
           compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip archive of ``(name, data)`` members, in order (names may repeat)."""
    import warnings

    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name"
        with zipfile.ZipFile(out, "w", compression) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return out.getvalue()


def bad_crc_zip(data: bytes) -> bytes:
    """A zip whose one member's stored CRC does not match its content."""
    archive = bytearray(zip_of([("a.dcm", data)], compression=zipfile.ZIP_STORED))
    # the CRC sits at offset 14 of the local header and 16 of the central directory entry
    archive[14] ^= 0xFF
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 16] ^= 0xFF
    return bytes(archive)


def encrypted_zip(data: bytes) -> bytes:
    """A zip whose one member is flagged as encrypted (traditional PKWARE encryption)."""
    archive = bytearray(zip_of([("a.dcm", data)], compression=zipfile.ZIP_STORED))
    archive[6] |= 1  # general purpose flag bit 0: encrypted
    central = archive.rindex(b"PK\x01\x02")
    archive[central + 8] |= 1
    return bytes(archive)


def zip_bomb(uncompressed: int, name: str = "bomb.dcm") -> bytes:
    """A zip of one member that inflates to ``uncompressed`` bytes of zeros, written in
    bounded memory (a raw deflate stream built chunk by chunk)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1024 * 1024)
    parts = []
    crc = 0
    left = uncompressed
    while left > 0:
        piece = chunk[:min(left, len(chunk))]
        crc = zlib.crc32(piece, crc)
        parts.append(compressor.compress(piece))
        left -= len(piece)
    parts.append(compressor.flush())
    body = b"".join(parts)
    encoded = name.encode()
    local = struct.pack("<4sHHHHHLLLHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(body),
                        min(uncompressed, 0xFFFFFFFF), len(encoded), 0) + encoded
    central = struct.pack("<4sHHHHHHLLLHHHHHLL", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc,
                          len(body), min(uncompressed, 0xFFFFFFFF), len(encoded), 0, 0, 0,
                          0, 0, 0) + encoded
    end = struct.pack("<4sHHHHLLH", b"PK\x05\x06", 0, 0, 1, 1, len(central),
                      len(local) + len(body), 0)
    return local + body + central + end


def truncated_zip(members: list[tuple[str, bytes]]) -> bytes:
    """A zip archive cut in the middle of its last member (no central directory)."""
    archive = zip_of(members)
    return archive[:archive.rindex(b"PK\x01\x02") - 10]
