"""The one error of the byte layer."""

from __future__ import annotations


class DicomFormatError(ValueError):
    """Bytes the byte layer cannot split: truncated, malformed, or an encoding it does not
    read (an unknown VR, tags out of order, an undefined-length UN...).

    ``offset`` is where in the bytes the problem is, ``reason`` what it is. Callers either
    hand the file to pydicom's reader (which says what is wrong) or reject it with this text.
    """

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason
