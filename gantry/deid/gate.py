"""The export gate: no identifying value of the original may survive in the bytes written.

:func:`find_leaks` scans the exact encoded bytes about to be written (and the output path) with
one compiled, case-insensitive alternation of every identifier variant. It reports *where* and
*what kind* (``PatientName``, ``UID``...), never the value.

Pixel data: the value of the top-level Pixel Data element (7FE0,0010) is **not** scanned. Its
bytes are arbitrary numbers; a short name or ID (3-7 characters) occurs in them by chance often
enough to refuse good files (a 3-letter token has a probability of about 1e-6 per offset,
i.e. about one false hit per 0.5 MB image per token). Text burned into pixels is a different
problem (rendered glyphs, not bytes), handled by the pixel redactors and OCR auditors. What
*is* text inside encapsulated pixel data — JPEG COM/APPn segments, JPEG 2000 comments — is
scanned (:mod:`gantry.deid.pixeltext`). Everything else — file meta, every header element,
sequences, private data, overlay bitmaps, trailing padding — is scanned, each value in UTF-8,
Latin-1 and UTF-16 (LE and BE); when a non-ASCII value may be written in another form (the
data set's own multi-byte or escape-sequence character set, another letter case), the decoded
text of every element too. Deflated transfer syntaxes are inflated first.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gantry.deid.identifiers import uid_alone

if TYPE_CHECKING:
    from gantry.deid.identifiers import IdentifierSet

_DEFLATED = b"1.2.840.10008.1.2.1.99"
_PIXEL_LE = b"\xe0\x7f\x10\x00"
_PIXEL_BE = b"\x7f\xe0\x00\x10"
#: Files larger than this have their pixel data located element by element.
_WALK_ABOVE = 65536


@dataclass(frozen=True)
class Leak:
    """One identifying value found in an output: where (``bytes``/``path``, offset, element)
    and what kind. Never the value."""

    kind: str
    where: str
    offset: int = -1
    tag: str = ""
    keyword: str = ""

    def __str__(self) -> str:
        at = f" in {self.tag} {self.keyword}".rstrip() if self.tag else ""
        place = f"output path{at}" if self.where == "path" else f"bytes at {self.offset}{at}"
        return f"{self.kind} found in {place}"


def pixel_span(data: bytes) -> tuple[int, int] | None:
    """The byte span of the top-level Pixel Data value, if it can be located: in a large
    file, by walking the top-level elements of an explicit VR little endian Part 10 file
    (cheaper than searching most of the pixel bytes); else by searching for its tag from the
    end. Both find the same span in a well-formed file."""
    if len(data) > _WALK_ABOVE:
        walked = _walked_pixel_span(data)
        if walked is not None:
            return walked
    for marker, big in ((_PIXEL_LE, False), (_PIXEL_BE, True)):
        pos = data.rfind(marker)
        while pos >= 0:
            span = _value_span(data, pos, big)
            if span is not None:
                return span
            pos = data.rfind(marker, 0, pos)
    return None


def _walked_pixel_span(data: bytes) -> tuple[int, int] | None:
    """The top-level Pixel Data value span found element by element (file meta, then the data
    set, sequences skipped item by item); ``None`` when the file is anything but a well-formed
    explicit VR little endian Part 10 file with defined-length Pixel Data."""
    from pydicom.uid import UID

    from gantry.dicom.elements import (
        PIXEL_DATA,
        UNDEFINED,
        element_header,
        explicit_little,
        skip_items,
    )
    from gantry.dicom.errors import DicomFormatError

    if data[128:132] != b"DICM":
        return None
    pos, end = 132, len(data)
    is_explicit_little = False
    try:
        while pos + 8 <= end:
            tag, vr, length, size = element_header(data, pos)
            if tag == 0x00020010:  # the data set's transfer syntax
                value = data[pos + size:pos + size + length].rstrip(b"\x00 ")
                is_explicit_little = explicit_little(UID(value.decode("ascii")))
            elif tag >> 16 != 2 and not is_explicit_little:
                return None
            if tag == PIXEL_DATA:
                stop = pos + size + length
                if length == UNDEFINED or vr not in ("OB", "OW") or not length or stop > end:
                    return None
                return pos + size, stop
            if tag > PIXEL_DATA or tag >> 16 == 0xFFFE:
                return None
            if length == UNDEFINED:
                if vr != "SQ":
                    return None
                pos = skip_items(data, pos + size, end)
            else:
                pos += size + length
    except (DicomFormatError, UnicodeDecodeError):
        return None
    return None


def _value_span(data: bytes, pos: int, big: bool) -> tuple[int, int] | None:
    order = "big" if big else "little"
    vr = data[pos + 4:pos + 6]
    if vr in (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN") and data[pos + 6:pos + 8] == b"\0\0":
        length = int.from_bytes(data[pos + 8:pos + 12], order)
        start = pos + 12
    else:  # implicit VR
        length = int.from_bytes(data[pos + 4:pos + 8], order)
        start = pos + 8
    if length == 0xFFFFFFFF:  # encapsulated: up to the sequence delimiter
        end = data.find(b"\xfe\xff\xdd\xe0" if not big else b"\xff\xfe\xe0\xdd", start)
        return (start, end + 8 if end >= 0 else len(data))
    if start + length <= len(data) and length > 0:
        return (start, start + length)
    return None


def dataset_body(data: bytes) -> bytes:
    """The dataset bytes, inflated when the transfer syntax is deflated."""
    if data[128:132] != b"DICM" or _DEFLATED not in data[132:1024]:
        return data
    group_length = int.from_bytes(data[140:144], "little")
    start = 144 + group_length
    try:
        return data[:start] + zlib.decompress(data[start:], -zlib.MAX_WBITS)
    except zlib.error:
        return data


def find_leaks(data: bytes, relpath: str, identifiers: IdentifierSet) -> list[Leak]:
    """Identifying values of ``identifiers`` found in ``data`` or ``relpath`` (empty if none)."""
    leaks: list[Leak] = []
    if identifiers is None or not len(identifiers):
        return leaks
    if relpath:
        if "UI" in identifiers.exempt_vrs:  # Retain UIDs: folders named by kept UIDs
            relpath = kept_uids_removed(relpath)
        for value in identifiers.matches(relpath.replace("_", " ")):
            leaks.append(Leak(kind=identifiers.kind_of(value), where="path"))
    body = dataset_body(data)
    span = pixel_span(body)
    regions = [(0, len(body))] if span is None else [(0, span[0]), (span[1], len(body))]
    hits: list[tuple[int, str]] = []
    # one case-sensitive scan of the lower-cased header bytes: the same matches as the
    # case-insensitive pattern (both fold ASCII letters only), several times faster; an
    # Aho-Corasick pass first: where no value occurs at all the pattern cannot match, and
    # is neither run nor compiled (a new patient's pattern costs milliseconds to compile)
    texts = identifiers.has_text_values()
    occurs = identifiers.lower_bytes_scanner() if texts else None
    uids = [uid.encode("ascii", "ignore") for uid in identifiers.uids()]
    for start, end in regions:
        if texts:
            lead = 1 if start else 0  # the byte before: the boundary look-behind sees it
            chunk = body[start - lead:end].lower()
            pattern = identifiers.lower_bytes_pattern() \
                if occurs is None or occurs(chunk) else None
            if pattern is not None:
                for match in pattern.finditer(chunk, lead):
                    value = match.group(0).decode("latin-1").lower()
                    hits.append((match.start() + start - lead, identifiers.kind_of(value)))
        if uids:  # one pass for every UID (ASCII: their Latin-1 text is their bytes)
            text = body[start:end].decode("latin-1")
            hits.extend((pos + start, "UID") for pos, uid in identifiers.uid_occurrences(text)
                        if uid_alone(body, pos + start, len(uid)))
    if hits or (identifiers.has_non_ascii() and non_ascii_text(body, regions)):
        leaks.extend(locate_hits(data, hits, identifiers))
    leaks.extend(pixel_segment_leaks(body, span, identifiers))
    return leaks


#: A path segment that is a UID (four components or more: no date form has them), with or
#: without a file name extension.
_UID_SEGMENT = re.compile(r"[0-9]+(?:\.[0-9]+){3,}(?:\.[A-Za-z][A-Za-z0-9]*)?")


def kept_uids_removed(relpath: str) -> str:
    """``relpath`` without its segments that are UIDs: under Retain UIDs they are the kept
    UID values the exporter names folders and files after, and a date or serial number
    inside one is what the option keeps (the gate does not flag it in the UI elements
    either). Every other segment is scanned as it is."""
    return "/".join("" if _UID_SEGMENT.fullmatch(part) else part
                    for part in relpath.split("/"))


#: Character sets whose text the byte literals cover (UTF-8 and Latin-1: ASCII, ISO_IR 100,
#: ISO_IR 192; a non-ASCII letter in upper case, lower case or capitalized).
_LITERAL_CHARSETS = frozenset({b"", b"ISO_IR 6", b"ISO 2022 IR 6", b"ISO_IR 100",
                               b"ISO 2022 IR 100", b"ISO_IR 192"})
_CHARSET_TAGS = (b"\x08\x00\x05\x00", b"\x00\x08\x00\x05")


def non_ascii_text(body: bytes, regions: list[tuple[int, int]]) -> bool:
    """Whether a non-ASCII identifier may be written in the scanned regions of ``body`` in a
    form no byte literal covers: an escape sequence (ISO 2022 sets such as JIS X 0208 are
    written in 7-bit bytes after one), or a Specific Character Set (0008,0005) naming a set
    other than ASCII, ISO_IR 100 and ISO_IR 192 (GB18030, GBK, ISO 2022 IR 58/87/149/159,
    ISO_IR 144...). The gate then also matches the decoded text of every element."""
    for start, end in regions:
        chunk = body[start:end]
        if b"\x1b" in chunk:
            return True
        for marker in _CHARSET_TAGS:
            pos = chunk.find(marker)
            while pos >= 0:
                if _foreign_charset(chunk, pos, marker is _CHARSET_TAGS[1]):
                    return True
                pos = chunk.find(marker, pos + 4)
    return False


def _foreign_charset(chunk: bytes, pos: int, big: bool) -> bool:
    """Whether the (0008,0005) element at ``pos`` names a set :data:`_LITERAL_CHARSETS` does
    not hold (explicit or implicit VR; a value that does not parse counts as foreign)."""
    order = "big" if big else "little"
    if chunk[pos + 4:pos + 6] == b"CS":
        length, start = int.from_bytes(chunk[pos + 6:pos + 8], order), pos + 8
    else:
        length, start = int.from_bytes(chunk[pos + 4:pos + 8], order), pos + 8
    if length > 256 or start + length > len(chunk):
        return True
    terms = chunk[start:start + length].split(b"\\")
    return any(term.strip(b" \x00") not in _LITERAL_CHARSETS for term in terms)


def pixel_segment_leaks(body: bytes, span: tuple[int, int] | None,
                        identifiers: Any) -> list[Leak]:
    """Identifying values in the text segments of encapsulated Pixel Data (JPEG COM/APPn,
    JPEG 2000 comments: :mod:`gantry.deid.pixeltext`); native pixel data is not read."""
    if span is None or body[span[0]:span[0] + 4] != b"\xfe\xff\x00\xe0":
        return []
    from gantry.deid.pixeltext import pixel_text

    text = pixel_text(body[span[0]:span[1]])
    return [Leak(kind=identifiers.kind_of(value), where="bytes", offset=span[0],
                 tag="(7FE0,0010)", keyword="PixelData (a compressed frame's text segment)")
            for value in identifiers.matches(text)] if text else []


def locate_hits(data: bytes, hits: list[tuple[int, str]],
                identifiers: IdentifierSet) -> list[Leak]:
    """Slow path, when the byte scan hit (or non-ASCII values may be written in a form the
    byte literals miss): parse the output, match each element's decoded text (binary values
    in the data set's character set too) and name the elements.

    A name, institution, address or device word inside a coded string (CS: ImageType,
    BodyPartExamined...) or in a code of a public scheme (an SR concept "Long Axis") is
    vocabulary, not identity, and is not a leak; anything else found
    by the byte scan stands. If the bytes cannot be parsed, every byte hit stands (fail closed).
    """
    from gantry.deid.engine import standard_code_text
    from gantry.deid.identifiers import STRONG_KINDS, code_vocabulary
    from gantry.deid.rules import cid7050

    # the meanings of CID 7050's codes ("Clean Pixel Data Option"...) are the standard's
    # vocabulary, written by the markers: a patient called Clean or Basic is not found there
    method_meanings = {meaning.lower() for _code, meaning in cid7050().values()}

    try:
        from io import BytesIO

        from pydicom import dcmread

        ds = dcmread(BytesIO(data), force=True)
    except Exception:
        return [Leak(kind=kind, where="bytes", offset=offset) for offset, kind in hits]
    out: list[Leak] = []
    exempted = [0]
    preamble = getattr(ds, "preamble", None) or b""
    for value in identifiers.matches(preamble.decode("latin-1")):
        out.append(Leak(kind=identifiers.kind_of(value), where="bytes", offset=0,
                        keyword="preamble"))

    def walk(dataset: Any, prefix: str, top: bool) -> None:
        for elem in dataset:
            if elem.VR == "SQ":
                for i, item in enumerate(elem.value or ()):
                    walk(item, f"{prefix}{elem.keyword or elem.tag}[{i}].", False)
                continue
            if top and elem.tag == 0x7FE00010:
                continue
            value = elem.value
            if value is None:
                continue
            if isinstance(value, bytes):
                from gantry.deid.vr import binary_text

                text = binary_text(value, getattr(dataset, "_character_set", None))
            elif isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
                text = "\\".join(str(v) for v in value)
            else:
                text = str(value)
            in_method = elem.keyword == "CodeMeaning" and text.lower() in method_meanings \
                and prefix.startswith("DeidentificationMethodCodeSequence[")
            cs = elem.VR == "CS"
            code = not cs and standard_code_text(dataset, elem.keyword)
            found = identifiers.matches(text)
            words = code_vocabulary(found, identifiers.kind_of) if code else frozenset()
            for value in found:
                kind = identifiers.kind_of(value)
                if in_method or elem.VR in identifiers.exempt_vrs or (
                        cs and kind not in STRONG_KINDS) or value in words:
                    exempted[0] += 1
                    continue
                out.append(Leak(kind=kind, where="bytes", tag=str(elem.tag),
                                keyword=prefix + (elem.keyword or "")))

    try:
        walk(ds.file_meta, "file_meta.", False)
        walk(ds, "", True)
    except Exception:
        return [Leak(kind=kind, where="bytes", offset=offset) for offset, kind in hits]
    if not out and exempted[0] < len(hits):  # hits the parse cannot explain stand
        return [Leak(kind=kind, where="bytes", offset=offset) for offset, kind in hits]
    return out
