"""Built-in ingest: folders (recursively, any file name), zip archives and single files."""

from __future__ import annotations

import errno
import os
import stat as stat_module
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from stat import S_ISREG
from typing import TYPE_CHECKING

from gantry.components import Ingestor
from gantry.hookspecs import hookimpl
from gantry.records import SourceItem
from gantry.sources import ZipLimits, open_archive, open_source, zip_source

if TYPE_CHECKING:
    from gantry.context import Run


def _probe(path: str) -> tuple[bool, bool, os.stat_result]:
    """Whether the regular file ``path`` starts as a zip archive does (a local file header),
    whether it is one (its directory readable too), and its status, from one open (a file
    that cannot be opened is no zip; its status is still read, and may raise). Never blocks:
    a FIFO put in its place since the walk is opened without waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) |
                     getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False, os.stat(path)
    try:
        stat = os.fstat(fd)
        head = os.read(fd, 4) if S_ISREG(stat.st_mode) else b""
    except OSError:
        head = b""
        stat = os.stat(path)
    finally:
        os.close(fd)
    zip_head = head == b"PK\x03\x04"
    return zip_head, zip_head and zipfile.is_zipfile(path), stat


def _zip_members(path: Path) -> Iterator[SourceItem]:
    """The members of a zip archive, sorted by name (members of one name by position, each
    its own input); an encrypted member, or one past the archive's total limit, is refused
    with the reason; an archive whose directory cannot be read is one refused input."""
    stat = path.stat()
    try:
        _zf, infos = open_archive(str(path))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        yield SourceItem(str(path), display=str(path),
                         refused=f"corrupt zip archive ({exc})")
        return
    names = Counter(info.filename for info in infos)
    limits = ZipLimits()
    total = 0
    members = sorted(((info.filename, n, info) for n, info in enumerate(infos)
                      if not info.is_dir()), key=lambda m: (m[0], m[1]))
    for name, position, info in members:
        unique = names[name] == 1 and not name.startswith("#")
        source = zip_source(str(path), name, None if unique else position)
        display = f"{path}!{name}" if unique else f"{path}!{name} (member {position + 1})"
        total += info.file_size
        refused = ""
        if info.flag_bits & 1:
            refused = "encrypted zip member (password required); not read"
        elif total > limits.total:
            refused = (f"the archive's members inflate to more than {limits.total} bytes in "
                       "all; refused as a possible zip bomb (set GANTRY_ZIP_MAX_TOTAL_BYTES)")
        yield SourceItem(source, size=info.file_size, mtime=stat.st_mtime, display=display,
                         refused=refused)


def discover(uri: str, run: Run | None = None) -> Iterator[SourceItem]:
    """Yield every file under a folder (sorted, recursive), zip members, or the file itself;
    what the walk cannot read (a folder, a link) or must not open (a FIFO, a device, a
    socket) is yielded as a refused item with the reason."""
    for path, resolved, refused in _inputs(uri):
        if refused is not None:
            reason, kind = refused
            yield SourceItem(path, display=path, refused=reason, refused_as=kind)
            continue
        try:
            zip_head, is_zip, stat = _probe(resolved)
        except OSError as exc:
            yield SourceItem(path, display=path, refused=f"cannot read ({exc.strerror or exc})")
            continue
        if not S_ISREG(stat.st_mode):  # replaced since the walk
            yield SourceItem(path, display=path, refused_as="skipped",
                             refused=f"not a regular file ({_kind(stat.st_mode)}); not opened")
            continue
        if is_zip:
            yield from _zip_members(Path(resolved))
            continue
        if zip_head:  # a zip's local header, but no readable directory
            yield SourceItem(resolved, display=path, refused="truncated or corrupt zip "
                             "archive (its central directory cannot be read)")
            continue
        yield SourceItem(resolved, size=stat.st_size, mtime=stat.st_mtime, display=path)


def count(uri: str) -> int | None:
    """About how many items :func:`discover` yields for ``uri``, from names alone: every file
    (a refused one too), and for a file named ``*.zip`` its members (a zip archive under
    another name counts as one). ``None`` when the input is missing."""
    try:
        return sum(1 if refused is not None else _count_file(resolved)
                   for _path, resolved, refused in _inputs(uri))
    except FileNotFoundError:
        return None


Refusal = tuple[str, str]  # (reason, "rejected" or "skipped")


def _kind(mode: int) -> str:
    """What a file that is not a regular file is."""
    if stat_module.S_ISFIFO(mode):
        return "a FIFO"
    if stat_module.S_ISCHR(mode):
        return "a character device"
    if stat_module.S_ISBLK(mode):
        return "a block device"
    if stat_module.S_ISSOCK(mode):
        return "a socket"
    if stat_module.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def _inputs(uri: str) -> Iterator[tuple[str, str, Refusal | None]]:
    """``(path, resolved path, refusal)`` of every file behind ``uri`` (a folder, walked as
    :func:`_files` does, or a file); the refusal, when set, says why it cannot be read (a
    folder that cannot be listed, a dangling or looped link, a link to a folder) or must not
    be opened (not a regular file); :class:`FileNotFoundError` when there is nothing at
    ``uri``."""
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    root = Path(uri)
    if not root.exists():
        raise FileNotFoundError(f"input not found: {root}")
    if not root.is_dir():
        found: Iterator[tuple[str, str | None, Refusal | None]] = \
            iter([(str(root), None, None)])
    else:
        found = _files(str(root), str(root.resolve()))
    for path, resolved, refused in found:
        if refused is None and resolved is None:  # a symbolic link (or the input itself)
            resolved, refused = _resolve(path)
        elif refused is None:
            refused = _not_regular(resolved)  # type: ignore[arg-type]
        yield path, resolved or path, refused


def _resolve(path: str) -> tuple[str | None, Refusal | None]:
    """The target of a link (or the path given as input) and why it is refused, if it is."""
    try:
        target = os.stat(path)  # follows links
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, ("link loop (the link resolves to itself); not followed", "rejected")
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return None, (f"dangling link (its target {os.readlink(path)!r} does not "
                          "exist)", "rejected")
        return None, (f"cannot read ({exc.strerror or exc})", "rejected")
    if stat_module.S_ISDIR(target.st_mode):
        return None, ("link to a folder; not followed", "skipped")
    if not S_ISREG(target.st_mode):
        return None, (f"not a regular file ({_kind(target.st_mode)}); not opened", "skipped")
    return str(Path(path).resolve()), None


def _not_regular(path: str) -> Refusal | None:
    """Why a path the walk found is refused: not a regular file (``None``: it is one)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})", "rejected"
    if S_ISREG(mode):
        return None
    return f"not a regular file ({_kind(mode)}); not opened", "skipped"


def _count_file(path: str) -> int:
    if not path.lower().endswith(".zip"):
        return 1
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(1 for info in zf.infolist() if not info.is_dir())
    except (OSError, zipfile.BadZipFile):
        return 1  # not an archive after all (discover will say what it is)


def _files(folder: str, resolved: str) -> Iterator[tuple[str, str | None, Refusal | None]]:
    """``(path, resolved path, refusal)`` of every file under ``folder`` (``resolved``: the
    folder with its links resolved), sorted by name at each level, as ``os.walk`` visits
    them: links to folders are not followed; a link's resolved path is ``None`` (left to the
    caller); a folder that cannot be listed is refused with the reason. Below a resolved
    folder, a path that is no link resolves to itself: no ``resolve()`` per file."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as exc:
        yield folder, folder, (f"cannot read folder ({exc.strerror or exc})", "rejected")
        return
    subfolders = []
    for entry in entries:
        link = entry.is_symlink()
        try:
            is_dir = not link and entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            subfolders.append(entry)
            continue
        yield entry.path, None if link else os.path.join(resolved, entry.name), None
    for entry in subfolders:
        yield from _files(entry.path, os.path.join(resolved, entry.name))


@hookimpl
def gantry_ingestors():
    """Register the ``folder`` ingestor for plain paths."""
    yield Ingestor("folder", schemes=("file", "zip"), discover=discover, open=open_source,
                   count=count,
                   description="folders (recursive, any file name), zip archives, single files")
