"""The pixel sidecar ``<db stem>_pixels.bin``: modified pixel data, append-only, self-describing.

Layout::

    file header  b"GANTRYPX" | u16 format version | u16 0 | u32 0          (16 bytes)
    entry        b"GPXE" | u32 n | n bytes of JSON header | payload
    entry        ...

The JSON header of an entry names its ``key``, the payload ``length``, ``dtype``, ``shape``,
``frames``, ``photometric``, ``compression`` (``none`` or ``zlib``), the ``sha256`` of the raw
(uncompressed) array bytes and ``extra``. So the file can be verified, or its arrays recovered,
without the database (:func:`scan`); for a key written several times the last entry wins.

Writes append without an fsync; :meth:`Sidecar.sync` (called at the store's commit points)
makes them durable. Every read is checked against the entry's sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry.api import StoreError

if TYPE_CHECKING:
    import numpy as np

    from gantry.api import PixelMeta

FILE_MAGIC = b"GANTRYPX"
FORMAT_VERSION = 1
FILE_HEADER = struct.Struct("<8sHHI")
ENTRY_MAGIC = b"GPXE"
ENTRY_PREFIX = struct.Struct("<4sI")
_MAX_HEADER = 1 << 20

try:  # POSIX: cross-process locks
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

_process_locks: dict[str, threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(path: Path) -> threading.Lock:
    key = str(path.resolve())
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


def file_header() -> bytes:
    """The 16-byte header every sidecar starts with."""
    return FILE_HEADER.pack(FILE_MAGIC, FORMAT_VERSION, 0, 0)


def check_file_header(path: Path, head: bytes) -> None:
    """Raise :class:`StoreError` naming ``path`` unless ``head`` is a sidecar header we read."""
    if len(head) < FILE_HEADER.size:
        raise StoreError(f"{path}: not a gantry pixel sidecar (file shorter than its header)")
    magic, version, _, _ = FILE_HEADER.unpack(head[: FILE_HEADER.size])
    if magic != FILE_MAGIC:
        raise StoreError(f"{path}: not a gantry pixel sidecar (bad magic {magic!r})")
    if version > FORMAT_VERSION:
        raise StoreError(f"{path}: pixel sidecar format {version} is newer than this "
                         f"gantry-sqlite reads ({FORMAT_VERSION})")


def encode_entry(key: str, array: np.ndarray, meta: PixelMeta) -> tuple[bytes, dict[str, Any]]:
    """The bytes of one entry and its JSON header."""
    import numpy as np

    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not _little()):
        arr = arr.astype(arr.dtype.newbyteorder("<"))
    raw = arr.tobytes()
    compression = meta.compression if meta.compression in ("none", "zlib") else "none"
    payload = zlib.compress(raw, 1) if compression == "zlib" else raw
    header = {
        "key": key, "length": len(payload), "dtype": arr.dtype.str, "shape": list(arr.shape),
        "frames": int(meta.frames), "photometric": meta.photometric,
        "compression": compression, "sha256": hashlib.sha256(raw).hexdigest(),
        "extra": meta.extra or {},
    }
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    return ENTRY_PREFIX.pack(ENTRY_MAGIC, len(head)) + head + payload, header


def _little() -> bool:
    import sys

    return sys.byteorder == "little"


def decode_entry(blob: bytes, where: str, key: str | None = None
                 ) -> tuple[np.ndarray, PixelMeta]:
    """The array and meta of one entry's bytes, verified; errors name ``where``."""
    import numpy as np

    from gantry.api import PixelMeta

    header, payload = _split(blob, where)
    if key is not None and header.get("key") != key:
        raise StoreError(f"{where}: entry holds key {header.get('key')!r}, expected {key!r} "
                         "(sidecar and database disagree)")
    if len(payload) != header["length"]:
        raise StoreError(f"{where}: entry truncated ({len(payload)} of {header['length']} "
                         "bytes)")
    raw = zlib.decompress(payload) if header["compression"] == "zlib" else payload
    if hashlib.sha256(raw).hexdigest() != header["sha256"]:
        raise StoreError(f"{where}: pixel entry {header['key']!r} is corrupt (sha256 mismatch)")
    array = np.frombuffer(raw, dtype=np.dtype(header["dtype"])).reshape(header["shape"]).copy()
    meta = PixelMeta(dtype=array.dtype.name, shape=tuple(header["shape"]),
                     frames=header["frames"], photometric=header["photometric"],
                     compression=header["compression"], sha256=header["sha256"],
                     extra=header.get("extra") or {})
    return array, meta


def _split(blob: bytes, where: str) -> tuple[dict[str, Any], bytes]:
    if len(blob) < ENTRY_PREFIX.size:
        raise StoreError(f"{where}: entry truncated (no entry header)")
    magic, n = ENTRY_PREFIX.unpack(blob[: ENTRY_PREFIX.size])
    if magic != ENTRY_MAGIC or n > _MAX_HEADER:
        raise StoreError(f"{where}: no pixel entry starts here (bad entry magic)")
    try:
        header = json.loads(blob[ENTRY_PREFIX.size: ENTRY_PREFIX.size + n])
    except ValueError as exc:
        raise StoreError(f"{where}: entry header is damaged ({exc})") from None
    return header, blob[ENTRY_PREFIX.size + n:]


def create(path: Path) -> None:
    """Create an empty sidecar (owner-only permissions) if none exists.

    The file appears at ``path`` with its header already written (made aside, then linked
    into place), so a process opening the same store at that moment never reads a file
    shorter than its header.
    """
    if path.exists():
        return
    aside = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            os.write(fd, file_header())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(aside, path)
        except FileExistsError:
            pass  # another process made it first
        except OSError:  # a file system without hard links: create in place
            _create_in_place(path)
    finally:
        aside.unlink(missing_ok=True)


def _create_in_place(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, file_header())
        os.fsync(fd)
    finally:
        os.close(fd)


class Sidecar:
    """An open sidecar: appends under a cross-process lock, verified reads, fsync on demand.

    The open file holds a shared ``flock`` for as long as the store is open, so that
    compaction (which needs it exclusive) cannot run under another session's feet.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = _process_lock(path)
        self._dirty = False
        self._fd = -1
        self._open_locked()

    def _open_locked(self) -> None:
        # A compaction holds the file exclusively and then swaps it: wait for the shared lock,
        # then make sure the file we hold is still the one at ``path``.
        while True:
            create(self.path)
            fd = os.open(self.path, os.O_RDWR)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        try:
            check_file_header(self.path, os.pread(fd, FILE_HEADER.size, 0))
        except StoreError:
            os.close(fd)
            raise
        self._fd = fd

    def append(self, blob: bytes) -> int:
        """Append one entry; return its offset."""
        with self._lock:
            if fcntl is not None:
                fcntl.lockf(self._fd, fcntl.LOCK_EX, 1, 0)
            try:
                offset = os.lseek(self._fd, 0, os.SEEK_END)
                view = memoryview(blob)
                written = 0
                while written < len(blob):
                    written += os.pwrite(self._fd, view[written:], offset + written)
            finally:
                if fcntl is not None:
                    fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, 0)
            self._dirty = True
            return offset

    def read(self, key: str, offset: int, length: int) -> tuple[np.ndarray, PixelMeta]:
        """The verified array stored under ``key`` at ``offset``."""
        blob = os.pread(self._fd, length, offset)
        return decode_entry(blob, f"{self.path} (offset {offset})", key)

    def sync(self) -> None:
        """fsync appended entries (called before the database commits rows pointing at them)."""
        if self._dirty:
            os.fsync(self._fd)
            self._dirty = False

    def size(self) -> int:
        """The file's current size in bytes."""
        return os.fstat(self._fd).st_size

    def release_exclusive(self) -> None:
        """Go back to a shared lock after :meth:`try_exclusive`."""
        if fcntl is not None and self._fd >= 0:
            fcntl.flock(self._fd, fcntl.LOCK_SH)

    def read_raw(self, offset: int, length: int) -> bytes:
        """The bytes of one entry, unchecked."""
        return os.pread(self._fd, length, offset)

    def try_exclusive(self) -> bool:
        """Upgrade to an exclusive lock without waiting; ``False`` when another store holds
        the sidecar open."""
        if fcntl is None:
            return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def reopen(self) -> None:
        """Re-open the path (after compaction swapped the file) with a shared lock."""
        os.close(self._fd)
        self._fd = -1
        self._open_locked()

    def close(self) -> None:
        """fsync and close."""
        if self._fd >= 0:
            self.sync()
            os.close(self._fd)
            self._fd = -1


@dataclass
class ScannedEntry:
    """One entry found by :func:`scan`."""

    offset: int
    length: int
    key: str
    header: dict[str, Any]
    ok: bool
    error: str = ""


def scan(path: str | Path, *, verify: bool = True) -> Iterator[ScannedEntry]:
    """Walk a sidecar without the database, entry by entry (optionally checking sha256).

    A damaged entry is yielded with ``ok=False``; the walk stops where no entry header can be
    read (a truncated tail or garbage), yielding a final ``ok=False`` entry with key ``""``.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        check_file_header(path, fh.read(FILE_HEADER.size))
        offset = FILE_HEADER.size
        while True:
            prefix = fh.read(ENTRY_PREFIX.size)
            if not prefix:
                return
            where = f"{path} (offset {offset})"
            try:
                if len(prefix) < ENTRY_PREFIX.size:
                    raise StoreError(f"{where}: truncated entry header")
                magic, n = ENTRY_PREFIX.unpack(prefix)
                if magic != ENTRY_MAGIC or n > _MAX_HEADER:
                    raise StoreError(f"{where}: bad entry magic")
                head_bytes = fh.read(n)
                header = json.loads(head_bytes)
                length = ENTRY_PREFIX.size + n + int(header["length"])
            except (StoreError, ValueError, KeyError) as exc:
                yield ScannedEntry(offset, 0, "", {}, False, str(exc))
                return
            payload = fh.read(int(header["length"]))
            entry = ScannedEntry(offset, length, str(header.get("key", "")), header, True)
            if len(payload) < int(header["length"]):
                entry.ok, entry.error = False, f"{where}: truncated payload"
                yield entry
                return
            if verify:
                try:
                    decode_entry(prefix + head_bytes + payload, where)
                except (StoreError, zlib.error, ValueError) as exc:
                    entry.ok, entry.error = False, str(exc)
            yield entry
            offset += length


def read_at(path: str | Path, offset: int, length: int) -> tuple[np.ndarray, PixelMeta]:
    """Read and verify the entry at ``offset`` of a sidecar, without the database."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        blob = fh.read(length)
    return decode_entry(blob, f"{path} (offset {offset})")
