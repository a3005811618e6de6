"""Received instances on disk: written whole or not at all, before the peer hears Success.

Each instance is written to a hidden temporary file in its final folder, optionally
``fsync``-ed, then renamed over its final name: a reader (the ingest workers, a restarted
listener) never sees half a file, and a crash leaves at most a ``.part`` file, which is
removed on the next start.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

PART = ".part"


def write_instance(folder: str, name: str, data: bytes | memoryview, *,
                   fsync: bool = False) -> str:
    """Write ``data`` as ``folder/name`` atomically; return the path."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    final = os.path.join(folder, name)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.{id(data):x}{PART}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, final)
    return final


def encoded_instance(event: Any) -> bytes:
    """The Part 10 bytes of a C-STORE request as the peer sent them (file meta made from the
    command and the accepted transfer syntax; the data set not decoded)."""
    return event.encoded_dataset(include_meta=True)


def remove_partials(root: str) -> int:
    """Delete the ``.part`` files a crash left under ``root``; return how many."""
    removed = 0
    for path in walk(root, include_partials=True):
        if path.endswith(PART):
            try:
                os.unlink(path)
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def walk(root: str, *, include_partials: bool = False) -> Iterator[str]:
    """Every file under ``root`` in name order (``.part`` files left out unless asked)."""
    try:
        entries = sorted(os.scandir(root), key=lambda e: e.name)
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from walk(entry.path, include_partials=include_partials)
        elif entry.is_file(follow_symlinks=False) and \
                (include_partials or not entry.name.endswith(PART)):
            yield entry.path
