"""Every person an instance names in a PN value is an identifier searched in every text the
profile keeps: under ``ps3.15/research`` (descriptions kept, cleaned) an investigator,
physician or operator named in a PN element — top level, multi-valued, in nested sequences,
in a private element, and a private PN whose VR the reader does not know (UN: implicit VR,
or written as UN) — is scrubbed from StudyDescription, SeriesDescription, ProtocolName,
ImageComments and the procedure descriptions (a heudiconv-style ``Investigators^Winawer``),
by the byte pass and the full pipeline alike; a name glued to a number (``Quorwick2``) is
still that name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from gantry import Session
from gantry.deid.identifiers import collect_identifiers, un_person_names
from gantry.deid.roster import build_roster
from gantry.testing.factory import make_instance

#: where each planted person is named (a PN value) -> the kept text that names them too
PLANTED = {
    "Winawer": ("ReferringPhysicianName", "StudyDescription", "Investigators^Winawer"),
    "Quorwick": ("OperatorsName", "SeriesDescription", "dMRI Quorwick2"),  # glued: digits
    "Dunmore": ("PerformingPhysicianName", "ProtocolName", "Dunmore_protocol"),
    "Ashgrove": ("NameOfPhysiciansReadingStudy", "ImageComments", "read by Dr. Ashgrove"),
    "Pellingham": ("nested", "PerformedProcedureStepDescription", "Pellingham protocol"),
    "Tamberlane": ("private", "RequestedProcedureDescription", "Tamberlane clinic MRI"),
}
KEPT = [kept for _, kept, _ in PLANTED.values()]


def _instance(syntax: str, uid: str, private_vr: str) -> Dataset:
    ds = make_instance(patient=4)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = syntax
    ds.ReferringPhysicianName = "Winawer^Jonathan"
    ds.OperatorsName = ["Smith^Al", "Quorwick^Beatrice"]
    ds.PerformingPhysicianName = "Dunmore^Ray"
    ds.NameOfPhysiciansReadingStudy = "Ashgrove^Lee"
    inner = Dataset()
    inner.PersonName = "Pellingham^Ann"
    outer = Dataset()
    outer.ContentSequence = Sequence([inner])
    ds.ContentSequence = Sequence([outer])
    block = ds.private_block(0x0029, "ZZVENDOR 1.0", create=True)
    if private_vr == "UN":
        block.add_new(0x10, "UN", b"Tamberlane^Jo")
    else:
        block.add_new(0x10, "PN", "Tamberlane^Jo")
    for _, kept, text in PLANTED.values():
        setattr(ds, kept, text)
    return ds


@pytest.mark.parametrize("byte_pass", ["1", "0"])
def test_every_person_named_in_a_pn_is_scrubbed_from_kept_text(tmp_path: Path, monkeypatch,
                                                                byte_pass: str) -> None:
    monkeypatch.setenv("GANTRY_BYTE_PASS", byte_pass)
    src = tmp_path / "in"
    src.mkdir()
    # explicit VR: the private PN read as PN, then written as UN; implicit VR: read as UN
    _instance(ExplicitVRLittleEndian, "2.25.88001", "PN").save_as(
        src / "explicit.dcm", enforce_file_format=True)
    _instance(ExplicitVRLittleEndian, "2.25.88002", "UN").save_as(
        src / "explicit-un.dcm", enforce_file_format=True)
    _instance(ImplicitVRLittleEndian, "2.25.88003", "PN").save_as(
        src / "implicit.dcm", enforce_file_format=True)
    with Session("memory://", profile="ps3.15/research", workers=1) as session:
        _, export = session.deidentify(src, tmp_path / "out")
        refused = session.refused()
    assert export.done == 3, (export.errors, refused)
    for written in (tmp_path / "out").rglob("*.dcm"):
        ds = dcmread(written)
        data = written.read_bytes().lower()
        for name in PLANTED:
            assert name.lower().encode() not in data, (written, name)
        assert [str(ds.get(k)) for k in KEPT] == [
            "Investigators^***", "dMRI ***2", "***_protocol", "read by Dr. ***",
            "*** protocol", "*** clinic MRI"]


def test_a_pn_read_as_un_names_a_person() -> None:
    ds = make_instance()
    ds.add_new(0x00291010, "UN", b"Tamberlane^Jo\\Hollowell^Max ")
    ds.add_new(0x00291011, "UN", b"\x01\x02^\x00binary")  # not text: no name
    found = collect_identifiers(ds)
    assert found.kind_of("tamberlane") == found.kind_of("hollowell") == "PersonName"
    assert un_person_names("\x01\x02^\x00binary") == []


def test_a_name_glued_to_digits_is_that_name_not_inside_a_word() -> None:
    ds = make_instance()
    ds.ReferringPhysicianName = "Winawer^Jon"
    found = collect_identifiers(ds)
    roster = build_roster([("PID000111", "Winawer^Jon")])
    for text, hit in (("Winawer01 run", True), ("run 2Winawer", True), ("Winawers", False),
                      ("Kwinawer", False), ("Jon2", False)):  # (3 letters still stand alone)
        assert ("winawer" in found.matches(text)) is hit, text
        assert ("winawer" in roster.matches(text)) is hit, text
