"""The export gate: no identifying value of the original may survive in the bytes written.

:func:`find_leaks` scans the exact encoded bytes about to be written (and the output path) with
one compiled, case-insensitive alternation of every identifier variant. It reports *where* and
*what kind* (``PatientName``, ``UID``...), never the value.

Pixel data: the value of the top-level Pixel Data element (7FE0,0010) is **not** scanned. Its
bytes are arbitrary numbers; a short name or ID (3-7 characters) occurs in them by chance often
enough to refuse good files (a 3-letter token has a probability of about 1e-6 per offset,
i.e. about one false hit per 0.5 MB image per token). Text burned into pixels is a different
problem (rendered glyphs, not bytes), handled by the pixel redactors and OCR auditors. Everything
else — file meta, every header element, sequences, private data, overlay bitmaps, trailing
padding — is scanned. Deflated transfer syntaxes are inflated first.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gantry.deid.identifiers import IdentifierSet

_DEFLATED = b"1.2.840.10008.1.2.1.99"
_PIXEL_LE = b"\xe0\x7f\x10\x00"
_PIXEL_BE = b"\x7f\xe0\x00\x10"


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


def _pixel_span(data: bytes) -> tuple[int, int] | None:
    """The byte span of the top-level Pixel Data value, if it can be located."""
    for marker, big in ((_PIXEL_LE, False), (_PIXEL_BE, True)):
        pos = data.rfind(marker)
        while pos >= 0:
            span = _value_span(data, pos, big)
            if span is not None:
                return span
            pos = data.rfind(marker, 0, pos)
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


def _body(data: bytes) -> bytes:
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
    text_pattern = identifiers.text_pattern()
    if text_pattern is not None and relpath:
        for match in text_pattern.finditer(relpath.replace("_", " ")):
            leaks.append(Leak(kind=identifiers.kind_of(match.group(0)), where="path",
                              offset=match.start()))
    pattern = identifiers.bytes_pattern()
    if pattern is None:
        return leaks
    body = _body(data)
    span = _pixel_span(body)
    regions = [(0, len(body))] if span is None else [(0, span[0]), (span[1], len(body))]
    hits: list[tuple[int, str]] = []
    for start, end in regions:
        for match in pattern.finditer(body, start, end):
            value = match.group(0).decode("latin-1").lower()
            hits.append((match.start(), identifiers.kind_of(value)))
    if hits:
        located = _locate(body, hits, identifiers)
        leaks.extend(located)
    return leaks


def _locate(body: bytes, hits: list[tuple[int, str]], identifiers: IdentifierSet) -> list[Leak]:
    """Name the elements holding the hits (slow path: parses the dataset once)."""
    names: list[tuple[str, str]] = []
    try:
        from io import BytesIO

        from pydicom import dcmread

        ds = dcmread(BytesIO(body), force=True, stop_before_pixels=True)
        pattern = identifiers.text_pattern()

        def walk(dataset, prefix: str) -> None:  # type: ignore[no-untyped-def]
            for elem in dataset:
                if elem.VR == "SQ":
                    for i, item in enumerate(elem.value or ()):
                        walk(item, f"{prefix}{elem.keyword or elem.tag}[{i}].")
                    continue
                value = elem.value
                text = value.decode("latin-1", "ignore") if isinstance(value, bytes) else str(value)
                if pattern is not None and pattern.search(text):
                    names.append((f"{elem.tag}", prefix + (elem.keyword or "")))

        for part in (ds.file_meta, ds):
            walk(part, "")
    except Exception:
        names = []
    if len(names) == len(hits):
        return [Leak(kind=kind, where="bytes", offset=offset, tag=tag, keyword=keyword)
                for (offset, kind), (tag, keyword) in zip(hits, names, strict=True)]
    out = [Leak(kind=kind, where="bytes", offset=offset) for offset, kind in hits]
    out.extend(Leak(kind="identifier", where="bytes", tag=tag, keyword=keyword)
               for tag, keyword in names)
    return out
