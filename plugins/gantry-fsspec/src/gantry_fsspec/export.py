"""Write de-identified DICOM files to any fsspec file system (``s3://bucket/prefix``, ...).

The layout is the built-in folder exporter's (``<PatientID>/<StudyInstanceUID>/
<SeriesInstanceUID>/<SOPInstanceUID>.dcm``, from the redacted values only); each file is one
``put`` of its whole bytes, which object stores make visible whole or not at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gantry.api import DicomFolderSink, ExportError, ExportRecord

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import ExportTarget, InstanceContext, Run


#: fsspec protocols of object stores (flat key spaces inside buckets or containers).
OBJECT_STORES = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "oci", "oss"})


class FsspecDicomSink(DicomFolderSink):
    """The folder exporter's files, written through fsspec under the destination URL."""

    #: like the folder sink, reads only the dataset's key elements (see DicomFolderSink)
    takes_byte_pass_stub = True

    def __init__(self, target: ExportTarget, run: Run | None = None) -> None:
        from gantry_fsspec.ingest import file_system

        self.destination = target.to
        self.fs, root = file_system(target.to)
        self.root_path = root.rstrip("/")
        protocols = self.fs.protocol if isinstance(self.fs.protocol, tuple) else \
            (self.fs.protocol,)
        #: object stores have no folders to make, and a bucket is never created as a side
        #: effect of a mistyped name: it has to exist
        self.object_store = bool(set(protocols) & OBJECT_STORES)
        self._made: set[str] = set()
        try:
            if self.object_store:
                bucket = self.root_path.split("/", 1)[0]
                if not self.fs.exists(bucket):
                    raise ExportError(f"{target.to}: no bucket or container {bucket!r} "
                                      "(create it first)")
            else:
                self.fs.makedirs(self.root_path, exist_ok=True)
                self._made.add(self.root_path)
        except ExportError:
            raise
        except Exception as exc:  # a store's own errors: no rights, no connection
            raise ExportError(f"{target.to}: cannot write here ({type(exc).__name__}: "
                              f"{exc})") from None

    def write(self, relpath: str, data: bytes, dataset: Dataset,
              context: InstanceContext) -> ExportRecord:
        """Put the file's bytes under ``relpath`` (one request; on a file system with folders,
        its folder made first, once)."""
        parts = relpath.split("/")
        if not relpath or relpath.startswith("/") or "\\" in relpath or \
                any(p in ("", ".", "..") for p in parts):
            raise ExportError(f"{relpath}: not a file path inside the export destination")
        url = f"{self.destination.rstrip('/')}/{relpath}"
        path = f"{self.root_path}/{relpath}"
        try:
            folder = path.rpartition("/")[0]
            if not self.object_store and folder not in self._made:
                self.fs.makedirs(folder, exist_ok=True)
                self._made.add(folder)
            self.fs.pipe_file(path, data)
        except Exception as exc:
            raise ExportError(f"{url}: write failed ({type(exc).__name__}: {exc})") from None
        return self._record(relpath, data, dataset, context, 0)

    def _url_path(self, relpath: str) -> tuple[str, str]:
        parts = relpath.split("/")
        if not relpath or relpath.startswith("/") or "\\" in relpath or \
                any(p in ("", ".", "..") for p in parts):
            raise ExportError(f"{relpath}: not a file path inside the export destination")
        return f"{self.destination.rstrip('/')}/{relpath}", f"{self.root_path}/{relpath}"

    def read(self, relpath: str) -> bytes | None:
        """The bytes of a file under the destination as they are now (``None`` if absent):
        what the manifests describe."""
        url, path = self._url_path(relpath)
        try:
            return self.fs.cat_file(path)
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise ExportError(f"{url}: read failed ({type(exc).__name__}: {exc})") from None

    def put(self, relpath: str, data: bytes) -> str:
        """Put a file that is not an instance (a manifest, a report) under the destination,
        as instances are put (one request); returns its URL."""
        url, path = self._url_path(relpath)
        try:
            folder = path.rpartition("/")[0]
            if not self.object_store and folder not in self._made:
                self.fs.makedirs(folder, exist_ok=True)
                self._made.add(folder)
            self.fs.pipe_file(path, data)
        except Exception as exc:
            raise ExportError(f"{url}: write failed ({type(exc).__name__}: {exc})") from None
        return url

    def present(self) -> set[str]:
        """The relative paths of the files under the destination (one listing), so that a
        resumed run puts again what was removed since."""
        prefix = f"{self.root_path}/"
        try:
            found = self.fs.find(self.root_path)
        except FileNotFoundError:
            return set()
        except Exception as exc:
            raise ExportError(f"{self.destination}: cannot list ({type(exc).__name__}: "
                              f"{exc})") from None
        return {path[len(prefix):] for path in found if path.startswith(prefix)}

    def close(self) -> None:
        """Nothing to flush: every object is complete when put."""
