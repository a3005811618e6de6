"""Built-in ingest: folders (recursively, any file name), zip archives and single files."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from gantry.hookspecs import hookimpl
from gantry.records import Ingestor, SourceItem
from gantry.sources import open_source, zip_source

if TYPE_CHECKING:
    from gantry.context import Run


def _is_zip(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04" and zipfile.is_zipfile(path)
    except OSError:
        return False


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
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    root = Path(uri)
    if not root.exists():
        raise FileNotFoundError(f"input not found: {root}")
    if root.is_file():
        paths: list[Path] = [root]
    else:
        paths = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            paths.extend(Path(dirpath) / f for f in sorted(filenames))
    for path in paths:
        if path.is_symlink() and not path.exists():
            continue
        absolute = path.resolve()
        if _is_zip(absolute):
            yield from _zip_members(absolute)
            continue
        stat = absolute.stat()
        yield SourceItem(str(absolute), size=stat.st_size, mtime=stat.st_mtime, display=str(path))


@hookimpl
def gantry_ingestors():
    """Register the ``folder`` ingestor for plain paths."""
    yield Ingestor("folder", schemes=("file", "zip"), discover=discover, open=open_source,
                   description="folders (recursive, any file name), zip archives, single files")
