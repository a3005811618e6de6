"""Built-in export: a folder of DICOM Part 10 files laid out by pseudonymous values only.

Layout: ``<PatientID>/<StudyInstanceUID>/<SeriesInstanceUID>/<SOPInstanceUID>.dcm`` taken from
the *redacted* dataset; every component is reduced to a safe character set so no header value
can escape the destination. Writes are atomic (temporary file + rename) and re-runnable.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

from gantry.errors import ExportError
from gantry.hookspecs import hookimpl
from gantry.records import Exporter, ExportRecord

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.context import InstanceContext, Run
    from gantry.records import ExportTarget

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

    def __init__(self, target: ExportTarget, run: Run | None = None) -> None:
        self.destination = target.to
        self.root = local_path(target.to).resolve()
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{self.root}: cannot create export folder ({exc.strerror})") from exc
        self._folders: set[str] = set()  # folders made and checked (inside the root)

    def target_path(self, dataset: Dataset, context: InstanceContext) -> str:
        """``patient/study/series/sop.dcm`` from the redacted dataset's values."""
        from gantry.deid.fast import value_of

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

    def write(self, relpath: str, data: bytes, dataset: Dataset,
              context: InstanceContext) -> ExportRecord:
        """Write atomically: a temporary file in the same folder, fsync-free, then rename."""
        from gantry.deid.fast import value_of

        folder = self._folder(relpath)
        name = relpath.rpartition("/")[2]
        path = os.path.join(folder, name)
        tmp = os.path.join(folder, f".gantry-{name}.{os.getpid()}.part")
        try:
            _write_new(tmp, data)
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
        return ExportRecord(
            sop_instance_uid=context.instance.sop_instance_uid,
            new_sop_instance_uid=str(value_of(dataset, 0x00080018, "SOPInstanceUID") or ""),
            destination=self.destination, path=relpath, size=len(data),
            sha256=hashlib.sha256(data).hexdigest(), format="dicom",
        )

    def close(self) -> None:
        """Nothing to flush: every file is complete when written."""


def _write_new(path: str, data: bytes) -> None:
    """Create ``path`` (replacing a stale one) and write ``data`` to it (no Python file
    object: creating many small files is the cost that matters here)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags, 0o644)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


@hookimpl
def gantry_exporters():
    """Register the ``dicom`` exporter (a folder of Part 10 files)."""
    yield Exporter("dicom", factory=DicomFolderSink, schemes=("file",),
                   description="folder of DICOM files named by pseudonymous UIDs")
