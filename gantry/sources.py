"""Opening the bytes behind an instance's ``source`` string.

Sources are plain paths or ``zip://<archive path>!<member>``; other schemes are opened by the
ingestor that produced them (cloud, PACS), bound to the instance by the session.
"""

from __future__ import annotations

import io
import os
import threading
import zipfile
import zlib
from typing import IO

from gantry.errors import InputError

ZIP_PREFIX = "zip://"


def is_url(location: str) -> bool:
    """Whether an input or destination names a URL rather than a local path (``file://``
    URLs are local paths)."""
    return "://" in location and not location.startswith("file://")


def zip_source(archive: str, member: str, position: int | None = None) -> str:
    """The source string of one member of a zip archive: ``zip://<archive>!<member>``, or,
    for a member whose name the archive holds more than once (or that starts with ``#``),
    ``zip://<archive>!#<position>:<member>`` (its position in the central directory)."""
    if position is not None:
        return f"{ZIP_PREFIX}{archive}!#{position}:{member}"
    return f"{ZIP_PREFIX}{archive}!{member}"


def split_zip_source(source: str) -> tuple[str, str]:
    """``(archive path, member)`` of a zip source string (the member as written: see
    :func:`zip_member`)."""
    archive, sep, member = source[len(ZIP_PREFIX):].partition("!")
    if not sep:
        raise ValueError(f"not a zip member source: {source}")
    return archive, member


def zip_member(member: str) -> tuple[int | None, str]:
    """``(position or None, name)`` of the member part of a zip source string."""
    if member.startswith("#"):
        position, sep, name = member[1:].partition(":")
        if sep and position.isdigit():
            return int(position), name
    return None, member


class ZipLimits:
    """Limits on what one zip archive may inflate to (a zip bomb is refused, not read):
    per member, in total (declared sizes, at discovery) and the ratio of a member's inflated
    to compressed size. Set by ``GANTRY_ZIP_MAX_MEMBER_BYTES`` (default 4 GiB),
    ``GANTRY_ZIP_MAX_TOTAL_BYTES`` (default 256 GiB) and ``GANTRY_ZIP_MAX_RATIO`` (default
    200)."""

    def __init__(self) -> None:
        env = os.environ
        self.member = int(env.get("GANTRY_ZIP_MAX_MEMBER_BYTES", 4 << 30))
        self.total = int(env.get("GANTRY_ZIP_MAX_TOTAL_BYTES", 256 << 30))
        self.ratio = float(env.get("GANTRY_ZIP_MAX_RATIO", 200))

    def member_cap(self, info: zipfile.ZipInfo) -> int:
        """How many bytes the member ``info`` may inflate to."""
        by_ratio = int(self.ratio * max(info.compress_size, 1)) + (1 << 16)
        return min(self.member, by_ratio)


class ArchiveError(InputError):
    """A zip member that cannot be read: encrypted, corrupt (bad CRC), or past a limit."""


#: Open archives of this process (path -> (size, mtime, ZipFile, its members in order)):
#: reading member after member does not parse the central directory again each time.
_OPEN: dict[str, tuple[int, float, zipfile.ZipFile, list[zipfile.ZipInfo]]] = {}
_OPEN_MAX = 4
_OPEN_LOCK = threading.Lock()


def open_archive(archive: str) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """The open zip archive at ``archive`` and its members in central directory order
    (kept open for the next member; reopened when the file changed)."""
    stat = os.stat(archive)
    with _OPEN_LOCK:
        found = _OPEN.get(archive)
        if found is not None and found[:2] == (stat.st_size, stat.st_mtime):
            return found[2], found[3]
        if found is not None:
            found[2].close()
            del _OPEN[archive]
        zf = zipfile.ZipFile(archive)
        if len(_OPEN) >= _OPEN_MAX:
            for key in list(_OPEN)[:len(_OPEN) - _OPEN_MAX + 1]:
                _OPEN.pop(key)[2].close()
        _OPEN[archive] = (stat.st_size, stat.st_mtime, zf, zf.infolist())
        return zf, _OPEN[archive][3]


def read_member(source: str, limits: ZipLimits | None = None) -> bytes:
    """The inflated bytes of a zip member source, within :class:`ZipLimits`; raise
    :class:`ArchiveError` with the reason when they cannot be had."""
    archive, member = split_zip_source(source)
    position, name = zip_member(member)
    label = f"{archive}!{name}"
    try:
        zf, infos = open_archive(archive)
    except zipfile.BadZipFile as exc:
        raise ArchiveError(label, f"corrupt zip archive ({exc})") from None
    if position is not None:
        if position >= len(infos) or infos[position].filename != name:
            raise ArchiveError(label, f"no member {name!r} at position {position}")
        info = infos[position]
    else:
        try:
            info = zf.getinfo(name)
        except KeyError:
            raise ArchiveError(label, "no such member in the archive") from None
    if info.flag_bits & 1:
        raise ArchiveError(label, "encrypted zip member (password required); not read")
    limits = limits or ZipLimits()
    cap = limits.member_cap(info)
    if info.file_size > cap:
        raise ArchiveError(label, _too_big(info, limits))
    out = bytearray()
    try:
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                out += chunk
                if len(out) > cap:
                    raise ArchiveError(label, _too_big(info, limits, len(out)))
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise ArchiveError(label, f"corrupt zip member ({exc})") from None
    except (RuntimeError, NotImplementedError) as exc:  # a password, an unknown method
        raise ArchiveError(label, f"unreadable zip member ({exc})") from None
    return bytes(out)


def _too_big(info: zipfile.ZipInfo, limits: ZipLimits, seen: int | None = None) -> str:
    size = info.file_size if seen is None else seen
    more = "" if seen is None else "at least "
    return (f"zip member inflates to {more}{size} bytes from {info.compress_size} (limits: "
            f"{limits.member} bytes per member, ratio {limits.ratio:g}); refused as a "
            "possible zip bomb (set GANTRY_ZIP_MAX_MEMBER_BYTES / GANTRY_ZIP_MAX_RATIO)")


def open_source(source: str) -> IO[bytes]:
    """Open a plain path or a zip member for reading (seekable)."""
    if source.startswith(ZIP_PREFIX):
        return io.BytesIO(read_member(source))
    if source.startswith("file://"):
        source = source[len("file://"):]
    return open(source, "rb")
