"""Built-in export: a folder of DICOM Part 10 files laid out by pseudonymous values only.

Layout: ``<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` taken from
the *redacted* dataset; every component is reduced to a safe character set so no header value
can escape the destination. Writes are atomic and re-runnable: a file appears whole or not at
all (written unnamed, then linked in; or a temporary file renamed over an older output).
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gantry.components import Exporter
from gantry.dicom.streamed import Streamed, sha256_hex
from gantry.errors import ExportError
from gantry.hookspecs import hookimpl
from gantry.records import ExportRecord

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.components import ExportTarget
    from gantry.context import InstanceContext, Run

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_component(value: object, fallback: str = "unknown", limit: int = 64) -> str:
    """One path component from a header value: safe characters only, never ``.``/``..``."""
    text = _UNSAFE.sub("_", str(value or "")).strip("._-")[:limit]
    return text or fallback


def local_path(to: str) -> Path:
    """The folder a ``file`` destination names."""
    return Path(to[len("file://"):] if to.startswith("file://") else to)


class DicomFolderSink:
    """Writes each redacted instance as a Part 10 file under the destination folder."""

    #: reads only the key elements (patient ID, study, series and SOP instance UIDs) of the
    #: dataset it is handed, so a redactor's byte pass may hand it a stub; a subclass that
    #: reads more must not declare it (the pipeline looks in each class's own namespace)
    takes_byte_pass_stub = True
    #: writes and hashes a :class:`~gantry.dicom.streamed.Streamed` file piece by piece
    takes_streamed = True

    def __init__(self, target: ExportTarget, run: Run | None = None) -> None:
        self.destination = target.to
        self.root = local_path(target.to).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{self.root}: cannot create export folder ({exc.strerror})") from exc
        self._folders: set[str] = set()  # folders made and checked (inside the root)
        self._unnamed = _UNNAMED_FILES  # until the file system says it cannot

    def target_path(self, dataset: Dataset, context: InstanceContext) -> str:
        """``patient/study/series/sop.dcm`` from the redacted dataset's values."""
        from gantry.dicom.values import value_of

        parts = [  # the values ``dataset.get`` gives, raw ones decoded through the cache
            safe_component(value_of(dataset, 0x00100020, "PatientID")),
            safe_component(value_of(dataset, 0x0020000D, "StudyInstanceUID")),
            safe_component(value_of(dataset, 0x0020000E, "SeriesInstanceUID")),
            safe_component(value_of(dataset, 0x00080018, "SOPInstanceUID")) + ".dcm",
        ]
        return "/".join(parts)

    def _folder(self, relpath: str) -> str:
        """The absolute folder of ``relpath``, made once and checked to be inside the root
        (symbolic links resolved) the first time it is seen."""
        folder, _, name = relpath.rpartition("/")
        if not name or name in (".", "..") or relpath.startswith("/") or "\\" in relpath:
            raise ExportError(f"{relpath}: not a file path inside the export folder")
        path = os.path.join(str(self.root), folder) if folder else str(self.root)
        if path not in self._folders:
            resolved = Path(path).resolve()
            if not resolved.is_relative_to(self.root):
                raise ExportError(f"{relpath}: output path escapes the export folder")
            try:
                resolved.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ExportError(f"{resolved}: cannot create folder ({exc.strerror})") from exc
            if Path(path).resolve() != resolved:
                raise ExportError(f"{relpath}: output path escapes the export folder")
            self._folders.add(path)
        return path

    def write(self, relpath: str, data: bytes | Streamed, dataset: Dataset,
              context: InstanceContext) -> ExportRecord:
        """Write atomically, fsync-free: an unnamed file in the folder linked in under its
        name, or (name taken, or unnamed files unsupported) a temporary file renamed."""
        folder = self._folder(relpath)
        name = relpath.rpartition("/")[2]
        path = os.path.join(folder, name)
        if self._unnamed:
            try:
                mtime_ns = _write_linked(folder, path, data)
            except FileExistsError:  # an older output: replaced by a rename below
                mtime_ns = 0
            except OSError as exc:
                raise ExportError(f"{path}: write failed ({exc.strerror or exc})") from exc
            if mtime_ns is None:
                self._unnamed = False
            elif mtime_ns:
                return self._record(relpath, data, dataset, context, mtime_ns)
        tmp = os.path.join(folder, f".gantry-{name}.{os.getpid()}.part")
        try:
            mtime_ns = _write_new(tmp, data)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise ExportError(f"{path}: write failed ({exc.strerror or exc})") from exc
        except BaseException:  # interrupted (Ctrl-C reaches the workers too): no stray part
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
        return self._record(relpath, data, dataset, context, mtime_ns)

    def _record(self, relpath: str, data: bytes | Streamed, dataset: Dataset,
                context: InstanceContext, mtime_ns: int) -> ExportRecord:
        from gantry.dicom.values import value_of

        return ExportRecord(
            sop_instance_uid=context.instance.sop_instance_uid,
            new_sop_instance_uid=str(value_of(dataset, 0x00080018, "SOPInstanceUID") or ""),
            destination=self.destination, path=relpath, size=len(data),
            sha256=sha256_hex(data), format="dicom", mtime_ns=mtime_ns,
            fields=tuple(getattr(context, "notes", {}).get("output_fields", ())),
        )

    def close(self) -> None:
        """Nothing to flush: every file is complete when written."""


#: Whether this platform may write unnamed files (``O_TMPFILE``, linked in through ``/proc``).
_UNNAMED_FILES = hasattr(os, "O_TMPFILE") and os.path.isdir("/proc/self/fd")

#: errno values of a file system or kernel without ``O_TMPFILE`` (or without ``/proc``).
_NO_UNNAMED = (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, errno.ENOENT, errno.EXDEV,
               errno.EPERM, errno.ENOSYS)


def _write_linked(folder: str, path: str, data: bytes | Streamed) -> int | None:
    """Write ``data`` to a new unnamed file in ``folder`` and link it in as ``path``: the
    file appears whole or not at all, with one change to the folder instead of the two of a
    temporary file and a rename (parallel writers into one folder mostly wait on those).
    Returns the file's modification time (ns); ``None`` when this file system cannot do it;
    raises :class:`FileExistsError` when ``path`` exists already."""
    flags = os.O_TMPFILE | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(folder, flags, 0o644)
    except OSError as exc:
        if exc.errno in _NO_UNNAMED:
            return None
        raise
    try:
        _write_all(fd, data)
        mtime_ns = os.fstat(fd).st_mtime_ns  # linking the file in does not change it
        # linkat(2) with AT_SYMLINK_FOLLOW, which CPython asks for only when a dir_fd is
        # given: the source path is absolute, so that descriptor is never used.
        os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=fd, follow_symlinks=True)
        return mtime_ns or 1
    except OSError as exc:  # (a name that exists, EEXIST, is raised to the caller)
        if exc.errno in _NO_UNNAMED:
            return None
        raise
    finally:
        os.close(fd)  # an unlinked file is gone with its descriptor


def _write_new(path: str, data: bytes | Streamed) -> int:
    """Create ``path`` (replacing a stale one) and write ``data`` to it (no Python file
    object: creating many small files is the cost that matters here); its modification time
    (ns), which renaming it keeps."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    try:
        _write_all(fd, data)
        return os.fstat(fd).st_mtime_ns or 1
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes | Streamed) -> None:
    """Write all of ``data``: a :class:`Streamed` file's pieces in one ``writev`` (no join),
    resumed where a short write stopped."""
    if isinstance(data, Streamed) and _WRITEV is not None:
        views = [memoryview(piece) for piece in data.pieces() if len(piece)]
        while views:
            written = _WRITEV(fd, views)
            while views and written >= len(views[0]):
                written -= len(views[0])
                del views[0]
            if written:
                views[0] = views[0][written:]
        return
    for piece in data.pieces() if isinstance(data, Streamed) else (data,):
        view = memoryview(piece)
        while view:
            written = os.write(fd, view)
            view = view[written:]


#: ``os.writev`` where the platform has it (POSIX).
_WRITEV = getattr(os, "writev", None)


@hookimpl
def gantry_exporters():
    """Register the ``dicom`` exporter (a folder of Part 10 files)."""
    yield Exporter("dicom", factory=DicomFolderSink, schemes=("file",),
                   description="folder of DICOM files named by pseudonymous UIDs")
