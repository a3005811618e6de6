"""Built-in ingest: folders (recursively, any file name), zip archives and single files."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gantry.components import Ingestor
from gantry.hookspecs import hookimpl
from gantry.records import SourceItem
from gantry.sources import open_source, zip_source

if TYPE_CHECKING:
    from gantry.context import Run


def _probe(path: str) -> tuple[bool, os.stat_result]:
    """Whether the file ``path`` is a zip archive, and its status, from one open (a file
    that cannot be opened is no zip; its status is still read, and may raise)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False, os.stat(path)
    try:
        stat = os.fstat(fd)
        head = os.read(fd, 4)
    except OSError:
        head = b""
        stat = os.stat(path)
    finally:
        os.close(fd)
    return head == b"PK\x03\x04" and zipfile.is_zipfile(path), stat


def _zip_members(path: Path) -> Iterator[SourceItem]:
    stat = path.stat()
    with zipfile.ZipFile(path) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            if info.is_dir():
                continue
            yield SourceItem(zip_source(str(path), info.filename), size=info.file_size,
                             mtime=stat.st_mtime, display=f"{path}!{info.filename}")


def discover(uri: str, run: Run | None = None) -> Iterator[SourceItem]:
    """Yield every file under a folder (sorted, recursive), zip members, or the file itself."""
    for path, resolved in _inputs(uri):
        is_zip, stat = _probe(resolved)
        if is_zip:
            yield from _zip_members(Path(resolved))
            continue
        yield SourceItem(resolved, size=stat.st_size, mtime=stat.st_mtime, display=path)


def count(uri: str) -> int | None:
    """About how many items :func:`discover` yields for ``uri``, from names alone: every file
    (a broken link is none), and for a file named ``*.zip`` its members (a zip archive under
    another name counts as one). ``None`` when the input is missing."""
    try:
        return sum(_count_file(resolved) for _path, resolved in _inputs(uri))
    except FileNotFoundError:
        return None


def _inputs(uri: str) -> Iterator[tuple[str, str]]:
    """``(path, resolved path)`` of every file behind ``uri`` (a folder, walked as
    :func:`_files` does, or a file), broken links left out; :class:`FileNotFoundError` when
    there is nothing at ``uri``."""
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    root = Path(uri)
    if not root.exists():
        raise FileNotFoundError(f"input not found: {root}")
    if root.is_file():
        found: Iterator[tuple[str, str | None]] = iter([(str(root), None)])
    else:
        found = _files(str(root), str(root.resolve()))
    for path, resolved in found:
        if resolved is None:  # a symbolic link (or the input itself): resolved here
            linked = Path(path)
            if linked.is_symlink() and not linked.exists():
                continue
            resolved = str(linked.resolve())
        yield path, resolved


def _count_file(path: str) -> int:
    if not path.lower().endswith(".zip"):
        return 1
    try:
        with zipfile.ZipFile(path) as zf:
            return sum(1 for info in zf.infolist() if not info.is_dir())
    except (OSError, zipfile.BadZipFile):
        return 1  # not an archive after all (discover will say what it is)


def _files(folder: str, resolved: str) -> Iterator[tuple[str, str | None]]:
    """``(path, resolved path)`` of every file under ``folder`` (``resolved``: the folder with
    its links resolved), sorted by name at each level, as ``os.walk`` visits them: links to
    folders are not followed; a linked file's resolved path is ``None`` (left to the caller).
    Below a resolved folder, a path that is no link resolves to itself: no ``resolve()`` per
    file."""
    try:
        with os.scandir(folder) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError:
        return
    subfolders = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            if not entry.is_symlink():
                subfolders.append(entry)
            continue
        link = entry.is_symlink()
        yield entry.path, None if link else os.path.join(resolved, entry.name)
    for entry in subfolders:
        yield from _files(entry.path, os.path.join(resolved, entry.name))


@hookimpl
def gantry_ingestors():
    """Register the ``folder`` ingestor for plain paths."""
    yield Ingestor("folder", schemes=("file", "zip"), discover=discover, open=open_source,
                   count=count,
                   description="folders (recursive, any file name), zip archives, single files")
