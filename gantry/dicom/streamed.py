"""An encoded file whose pixel value is never copied: written (one ``writev``), hashed and
scanned piece by piece, so the pixels are in memory once (as read), not once more as the output,
and no time goes into joining them to the header."""

from __future__ import annotations

import hashlib
from typing import Any

#: Pixel values at least this long are handed on as a view of the source, not joined (below it,
#: joining a small value costs less than handling three pieces).
STREAM_ABOVE = 1 << 16


class Streamed:
    """An encoded Part 10 file as three pieces: ``head`` (everything up to and including the
    header of its top-level Pixel Data element, whose last 4 bytes are the value's length),
    ``value`` (the pixel value as read: a view of the source's bytes, not a copy) and ``tail``
    (the elements after it). ``bytes(file)`` joins them, for a consumer that needs one bytes
    object (a second copy: the pipeline makes it once, only for sinks that do not declare
    ``takes_streamed = True``)."""

    __slots__ = ("_scanned", "head", "tail", "value")

    def __init__(self, head: bytes, value: memoryview, tail: bytes) -> None:
        self.head = head
        self.value = value
        self.tail = tail
        self._scanned: bytes | None = None

    def __len__(self) -> int:
        return len(self.head) + len(self.value) + len(self.tail)

    def __bytes__(self) -> bytes:
        return b"".join((self.head, self.value, self.tail))

    def pieces(self) -> tuple[bytes, memoryview, bytes]:
        """The pieces, in file order."""
        return self.head, self.value, self.tail

    def scanned(self) -> bytes:
        """The file with the pixel value left out (its element's length made 0): what the
        export gate scans, parseable as the file is (native pixel values are not scanned).
        Joined once: the graphics check and the gate read the same object."""
        if self._scanned is None:
            self._scanned = b"".join((self.head[:-4], b"\x00\x00\x00\x00", self.tail))
        return self._scanned


def sha256_hex(data: Any) -> str:
    """The SHA-256 of an encoded file, piece by piece for a :class:`Streamed` one."""
    if not isinstance(data, Streamed):
        return hashlib.sha256(data).hexdigest()
    digest = hashlib.sha256()
    for piece in data.pieces():
        digest.update(piece)
    return digest.hexdigest()


__all__ = ["STREAM_ABOVE", "Streamed", "sha256_hex"]
