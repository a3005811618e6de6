"""Opening the bytes behind an instance's ``source`` string.

Sources are plain paths or ``zip://<archive path>!<member>``; other schemes are opened by the
ingestor that produced them (cloud, PACS), bound to the instance by the session.
"""

from __future__ import annotations

import io
import zipfile
from typing import IO

ZIP_PREFIX = "zip://"


def is_url(location: str) -> bool:
    """Whether an input or destination names a URL rather than a local path (``file://``
    URLs are local paths)."""
    return "://" in location and not location.startswith("file://")


def zip_source(archive: str, member: str) -> str:
    """The source string of one member of a zip archive."""
    return f"{ZIP_PREFIX}{archive}!{member}"


def split_zip_source(source: str) -> tuple[str, str]:
    """``(archive path, member)`` of a zip source string."""
    archive, sep, member = source[len(ZIP_PREFIX):].partition("!")
    if not sep:
        raise ValueError(f"not a zip member source: {source}")
    return archive, member


def open_source(source: str) -> IO[bytes]:
    """Open a plain path or a zip member for reading (seekable)."""
    if source.startswith(ZIP_PREFIX):
        archive, member = split_zip_source(source)
        with zipfile.ZipFile(archive) as zf, zf.open(member) as fh:
            return io.BytesIO(fh.read())
    if source.startswith("file://"):
        source = source[len("file://"):]
    return open(source, "rb")
