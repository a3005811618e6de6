"""Hook implementations of gantry-fsspec (cheap imports only: fsspec loads on first use)."""

from __future__ import annotations

from collections.abc import Iterator

from gantry import hookimpl
from gantry.api import Exporter, Ingestor

#: URL schemes handed to fsspec. Plain paths, ``file://`` and zip archives stay with the
#: built-in folder ingestor; ``http(s)`` is left to web protocols (DICOMweb).
SCHEMES = ("s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "adl", "memory", "ftp", "sftp",
           "ssh", "hdfs", "webhdfs", "smb", "oci", "oss", "hf")


def _discover(uri, run=None):
    from gantry_fsspec.ingest import discover

    return discover(uri, run)


def _open(source):
    from gantry_fsspec.ingest import open_source

    return open_source(source)


def _count(uri):
    from gantry_fsspec.ingest import count

    return count(uri)


@hookimpl
def gantry_ingestors() -> Iterator[Ingestor]:
    """Register the ``fsspec`` ingestor for object stores and remote file systems."""
    yield Ingestor("fsspec", schemes=SCHEMES, discover=_discover, open=_open, count=_count,
                   description="object stores and remote file systems through fsspec "
                               "(s3://, gs://, az://, memory://, sftp://, ...)")


def _make_sink(target, run):
    from gantry_fsspec.export import FsspecDicomSink

    return FsspecDicomSink(target, run)


@hookimpl
def gantry_exporters() -> Iterator[Exporter]:
    """Register ``dicom-fsspec``: the ``dicom`` format written to object stores and remote
    file systems (``--format dicom`` with an ``s3://`` destination picks it)."""
    yield Exporter("dicom-fsspec", format="dicom", factory=_make_sink, schemes=SCHEMES,
                   description="DICOM files (the folder layout) written through fsspec to "
                               "s3://, gs://, az://, sftp://, memory://, ...")
