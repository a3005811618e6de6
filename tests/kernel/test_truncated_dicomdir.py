"""A DICOMDIR is an index, not an input image, whether it is whole or not: a truncated one is
skipped as an index by every ingest path (a store that indexes from the bytes read checked
their structure first and called it a rejected input: exit 3 on one store, 0 on another)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

from gantry import Session
from gantry.testing.factory import make_instance


def _dicomdir(path: Path) -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.1.3.10"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.999.77.1"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.FileSetID = "TEST"
    records = []
    for n in range(4):
        record = Dataset()
        record.OffsetOfTheNextDirectoryRecord = 0
        record.RecordInUseFlag = 0xFFFF
        record.OffsetOfReferencedLowerLevelDirectoryEntity = 0
        record.DirectoryRecordType = "IMAGE"
        record.ReferencedFileID = ["IMAGES", f"IM{n}"]
        record.ReferencedSOPInstanceUIDInFile = f"1.2.826.0.1.3680043.10.999.77.{n + 2}"
        records.append(record)
    ds.DirectoryRecordSequence = Sequence(records)
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # the last record cut short


@pytest.mark.parametrize("store", ["memory://", "sqlite"])
def test_a_truncated_dicomdir_is_an_index_not_a_rejected_input(tmp_path: Path, store: str):
    if store == "sqlite":
        pytest.importorskip("gantry_sqlite")
        store = f"sqlite:///{tmp_path / 'w.db'}"
    src = tmp_path / "in"
    src.mkdir()
    _dicomdir(src / "DICOMDIR")
    make_instance().save_as(src / "a.dcm", enforce_file_format=True)
    with Session(store, workers=1) as session:
        summary = session.ingest(src)
        stages = {Path(r.source).name: r.stage for r in session.store.iter_rejected()}
    assert summary.rejected == 0 and summary.done == 1, summary.errors
    assert stages == {"DICOMDIR": "index"}
