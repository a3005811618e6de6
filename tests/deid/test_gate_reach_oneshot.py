"""The gate's reach in one-shot ``gantry deidentify``: an instance written early in the pass is
checked against a patient the pass meets only later (the workers read every input's patient
identity before anything is written)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry import Session
from gantry.testing.factory import make_instance


@pytest.mark.parametrize("workers", [1, 2])
def test_an_early_instance_naming_a_later_patient_is_refused(tmp_path: Path, workers: int):
    src = tmp_path / "in"
    src.mkdir()
    later = make_instance(patient=7, instance=9)
    later.PatientName, later.PatientID = "Quillfeather^Ambrose", "MRN48213000"
    early = make_instance(patient=1, instance=1)
    early.add_new(0x00143080, "OB", b"comparison: Quillfeather MRN48213000")
    early.save_as(src / "a-early.dcm", enforce_file_format=True)  # read and written first
    make_instance(patient=1, instance=2).save_as(src / "b-clean.dcm", enforce_file_format=True)
    later.save_as(src / "z-later.dcm", enforce_file_format=True)
    with Session("memory://", profile="ps3.15/basic", workers=workers) as session:
        ingest, export = session.deidentify(src, tmp_path / "out")
        refused = session.refused()
    assert ingest.done == 3
    assert export.done == 2 and export.refused == 1, (export.errors, refused)
    assert "of another patient" in refused[0][1] and "BadPixelImage" in refused[0][1]
    written = [p.read_bytes() for p in (tmp_path / "out").rglob("*.dcm")]
    assert len(written) == 2 and not any(later.PatientID.encode() in data for data in written)
