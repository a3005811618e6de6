"""The files gantry-parquet writes, as :class:`~gantry.api.OwnFile` records: an output folder
taken as input (``gantry deidentify OUT1 OUT2``) skips them as Gantry's own (by name and
content), instead of rejecting each as "not DICOM"."""

from __future__ import annotations

from collections.abc import Iterator

from gantry.api import OwnFile

#: the magic a parquet file starts with
PARQUET_MAGIC = b"PAR1"


def _parquet(head: bytes) -> bool:
    return head.startswith(PARQUET_MAGIC)


def _marker(head: bytes) -> bool:
    return head.startswith(b'{\n "partition_by": ') and b'\n "plugin": "gantry-parquet",' in head


def own_files() -> Iterator[OwnFile]:
    """The kinds of file the ``parquet`` exporter writes: the table's files (a single file, a
    folder's parts and partitions, the staged parts and temporary copies of an export under
    way) and a folder table's marker."""
    from gantry_parquet.sink import MARKER

    yield OwnFile("parquet table", ("*.parquet", ".*.parquet.tmp-*", ".*.parquet.old"), _parquet)
    yield OwnFile("parquet table marker", (MARKER,), _marker)
