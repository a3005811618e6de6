"""The export pass's audit never refuses what the gate and the engine deliberately keep.

The engine keeps a name, institution or device word inside a coded string (``PERFUSION`` in
ImageType for a patient called Perfusion, ``BRAIN`` in BodyPartExamined for an institution
named "... Brain Imaging") and, under Retain UIDs, every UID as it is (a UID may embed the
study date). The gate does not count those as leaks; the audit of the same pass must not
either, or its ``phi-remaining`` verdict withholds an instance that holds nothing identifying.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread

from gantry import Session
from gantry.testing.factory import make_instance


def _deidentify(src: Path, dest: Path, profile: str):
    with Session("memory://", profile=profile, workers=1) as session:
        _, export = session.deidentify(src, dest)
        return export, session.refused()


@pytest.fixture(params=["byte-pass", "full-pipeline"])
def path_kind(request, monkeypatch):
    if request.param == "full-pipeline":
        monkeypatch.setenv("GANTRY_BYTE_PASS", "0")
    return request.param


def test_vocabulary_in_coded_strings_is_not_phi_remaining(tmp_path: Path, path_kind: str):
    src = tmp_path / "in"
    src.mkdir()
    ds = make_instance(patient=1)
    ds.PatientName = "Perfusion^Stroke"
    ds.ImageType = ["DERIVED", "PRIMARY", "PERFUSION"]
    ds.InstitutionName = "Wexcombe Center for Brain Imaging"
    ds.BodyPartExamined = "BRAIN"
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    export, refused = _deidentify(src, tmp_path / "out", "ps3.15/basic")
    assert refused == [] and export.done == 1, refused
    out = dcmread(next((tmp_path / "out").rglob("*.dcm")))
    assert list(out.ImageType) == ["DERIVED", "PRIMARY", "PERFUSION"]
    assert out.BodyPartExamined == "BRAIN"
    assert "Perfusion" not in str(out.PatientName)


def test_an_id_in_a_coded_string_is_still_scrubbed(tmp_path: Path, path_kind: str):
    src = tmp_path / "in"
    src.mkdir()
    ds = make_instance(patient=1)
    ds.add_new(0x00180015, "CS", ds.PatientID)  # BodyPartExamined holding the MRN
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    export, refused = _deidentify(src, tmp_path / "out", "ps3.15/basic")
    assert refused == [] and export.done == 1, refused
    out = dcmread(next((tmp_path / "out").rglob("*.dcm")))
    assert out.BodyPartExamined == "REMOVED"  # an ID is scrubbed from a coded string


def test_retained_uids_embedding_a_date_are_not_phi_remaining(tmp_path: Path, path_kind: str):
    src = tmp_path / "in"
    src.mkdir()
    ds = make_instance(patient=1)
    series = f"1.2.826.0.1.3680043.10.999.{ds.StudyDate}.7"  # a UID naming the study date
    ds.SeriesInstanceUID = series
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    export, refused = _deidentify(src, tmp_path / "out", "ps3.15/retain-uids")
    assert refused == [] and export.done == 1, refused
    out = dcmread(next((tmp_path / "out").rglob("*.dcm")))
    assert out.SeriesInstanceUID == series


def test_retained_uids_naming_another_patients_number_are_not_refused(tmp_path: Path,
                                                                       path_kind: str):
    """A numeric patient ID of one patient is a UID component of another's series (vendors
    put serial numbers in UIDs): the roster does not count hits in UI values, nor in the
    UID segments of the output path they name under Retain UIDs."""
    src = tmp_path / "in"
    src.mkdir()
    first = make_instance(patient=1)
    first.PatientID = "4166018"
    first.save_as(src / "a.dcm", enforce_file_format=True)
    second = make_instance(patient=2)
    second.SeriesInstanceUID = "1.3.12.2.1107.5.2.43.4166018.30000019011112345"
    second.save_as(src / "b.dcm", enforce_file_format=True)
    export, refused = _deidentify(src, tmp_path / "out", "ps3.15/retain-uids")
    assert refused == [] and export.done == 2, refused
