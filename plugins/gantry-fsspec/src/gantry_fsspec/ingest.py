"""Discover and open DICOM inputs on any fsspec file system.

Inputs are named by URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``): a single
object, or every object under a prefix, listed one level at a time in name order (the order of
the built-in folder ingestor, and as little held in memory as one level's listing). Each input's
source is its full URL, so workers, on this machine or on a Dask cluster, open it themselves.

Credentials and endpoints come from fsspec's own configuration: the file system's usual
environment (``AWS_ACCESS_KEY_ID``, ``AWS_ENDPOINT_URL``, ...), ``FSSPEC_<PROTOCOL>_<OPTION>``
variables (``FSSPEC_S3_ENDPOINT_URL=http://127.0.0.1:9000``) or ``~/.config/fsspec/*.json``.
Every process that opens inputs (each worker) reads the same configuration.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gantry.api import InputError, PluginError, SourceItem

if TYPE_CHECKING:
    from gantry.api import Run

#: Keys under which fsspec implementations report a modification time, in order of preference.
_MTIME_KEYS = ("mtime", "LastModified", "last_modified", "updated", "modified", "created",
               "time_modified")
#: Packages to install for a protocol fsspec names but cannot import.
_EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs", "az": "azure", "abfs": "azure",
           "abfss": "azure", "adl": "azure"}


def file_system(uri: str) -> tuple[Any, str]:
    """``(file system, path)`` of ``uri``; a protocol whose package is missing is a
    :class:`~gantry.errors.PluginError` saying what to install."""
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(uri)
    except (ImportError, ValueError) as exc:
        scheme = uri.partition("://")[0].lower()
        extra = _EXTRAS.get(scheme)
        hint = f" (pip install 'gantry-fsspec[{extra}]')" if extra else ""
        raise PluginError(f"{uri}: fsspec cannot open {scheme}:// URLs: {exc}{hint}") from None


def discover(uri: str, run: Run | None = None) -> Iterator[SourceItem]:
    """Yield the object at ``uri``, or every object under it (sorted by name at each level,
    recursively); :class:`FileNotFoundError` when there is nothing there, and an
    :class:`~gantry.errors.InputError` naming ``uri`` when the store cannot be listed."""
    fs, path = file_system(uri)
    info = _info(fs, path, uri)
    if info.get("type") != "directory":
        yield _item(fs, info)
        return
    yield from _walk(fs, path, uri)


def count(uri: str) -> int | None:
    """How many objects :func:`discover` yields for ``uri`` (one listing per level, no
    contents read); ``None`` when the input is missing or cannot be listed."""
    try:
        fs, path = file_system(uri)
        info = _info(fs, path, uri)
        if info.get("type") != "directory":
            return 1
        return sum(1 for _ in _walk(fs, path, uri))
    except (OSError, InputError, PluginError):
        return None


def open_source(source: str) -> io.BytesIO:
    """The bytes of the object ``source`` (a URL), read whole; any failure of the store is an
    :class:`OSError` naming ``source`` (the run records the input as unreadable and goes on)."""
    fs, path = file_system(source)
    try:
        return io.BytesIO(fs.cat_file(path))
    except OSError as exc:
        raise OSError(exc.errno, f"{source}: {exc.strerror or exc}") from None
    except Exception as exc:  # a store's own error types (connection, credentials, ...)
        raise OSError(f"{source}: {type(exc).__name__}: {exc}") from None


def _info(fs: Any, path: str, uri: str) -> dict[str, Any]:
    try:
        return fs.info(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"input not found: {uri}") from None
    except Exception as exc:
        raise InputError(uri, f"cannot list: {type(exc).__name__}: {exc}") from None


def _walk(fs: Any, path: str, uri: str) -> Iterator[SourceItem]:
    try:
        entries = sorted(fs.ls(path, detail=True), key=lambda e: e["name"])
    except FileNotFoundError:
        return
    except Exception as exc:
        raise InputError(uri, f"cannot list {fs.unstrip_protocol(path)}: "
                              f"{type(exc).__name__}: {exc}") from None
    folders = []
    for entry in entries:
        if entry.get("type") == "directory":
            if entry["name"].rstrip("/") != path.rstrip("/"):  # some stores list the prefix
                folders.append(entry["name"])
        else:
            yield _item(fs, entry)
    for folder in folders:
        yield from _walk(fs, folder, uri)


def _item(fs: Any, info: dict[str, Any]) -> SourceItem:
    url = fs.unstrip_protocol(info["name"])
    size = info.get("size")
    return SourceItem(url, size=int(size) if size is not None else -1, mtime=_mtime(info),
                      display=url)


def _mtime(info: dict[str, Any]) -> float:
    """The object's modification time as a POSIX timestamp, 0.0 when the store gives none."""
    for key in _MTIME_KEYS:
        value = info.get(key)
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return 0.0
