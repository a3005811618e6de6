"""Re-de-identifying what Gantry wrote: ``deidentify IN OUT1`` then ``deidentify OUT1 OUT2``
passes the gate (the markers' codes and SR concept codes are vocabulary, not a PersonID),
while a real identifier planted in OUT1 is still refused."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydicom import dcmread

from gantry import Session
from gantry.testing.factory import bundled_test_files, make_instance
from gantry.testing.iods import FAMILIES, make_iod


def _deidentify(src: Path, dest: Path, profile: str):
    with Session("memory://", profile=profile, workers=1) as session:
        _, export = session.deidentify(src, dest)
        return export, session.refused()


@pytest.mark.parametrize("profile", ["ps3.15/basic", "ps3.15/research"])
def test_deidentified_outputs_pass_the_gate_again(tmp_path: Path, profile: str):
    src = tmp_path / "in"
    src.mkdir()
    for n, path in enumerate(bundled_test_files("*.dcm")):
        shutil.copy(path, src / f"t{n:03d}.dcm")
    for n, family in enumerate(FAMILIES):  # SR, RT, SEG, ECG... with their coded content
        make_iod(family, patient=n % 3, instance=n).save_as(src / f"iod{n:02d}.dcm",
                                                            enforce_file_format=True)
    first, _ = _deidentify(src, tmp_path / "out1", profile)
    assert first.done >= 20
    second, refused = _deidentify(tmp_path / "out1", tmp_path / "out2", profile)
    assert refused == [] and second.refused == 0, refused
    assert second.done == first.done, second.errors


def test_a_planted_identifier_is_still_refused_on_the_second_run(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    make_instance(patient=2).save_as(src / "a.dcm", enforce_file_format=True)
    first, _ = _deidentify(src, tmp_path / "out1", "ps3.15/basic")
    assert first.done == 1
    written = next((tmp_path / "out1").rglob("*.dcm"))
    ds = dcmread(written)
    ds.add_new(0x00143080, "OB", f"prior {ds.PatientID}".encode("utf-16-le"))  # unknown: kept
    ds.save_as(written, enforce_file_format=True)
    second, refused = _deidentify(tmp_path / "out1", tmp_path / "out2", "ps3.15/basic")
    assert second.refused == 1 and "BadPixelImage" in refused[0][1]


def _audit_errors(src: Path, profile: str) -> list:
    with Session("memory://", profile=profile, workers=1) as session:
        session.ingest(src)
        session.audit()
        return [(uid, finding) for uid, _stage, finding in session.store.iter_findings()
                if finding.severity == "error"]


@pytest.mark.parametrize("profile", ["ps3.15/basic", "ps3.15/research"])
def test_auditing_what_gantry_wrote_finds_nothing_remaining(tmp_path: Path, profile: str):
    """``gantry audit`` on outputs (PatientIdentityRemoved YES: verified as they are) does not
    count an attribute's own value (its pseudonym, its mapped UID, its shifted date) as an
    identifying value remaining in it; the same value elsewhere still is."""
    src = tmp_path / "in"
    src.mkdir()
    for n in range(2):
        make_instance(patient=n, instance=n).save_as(src / f"a{n}.dcm",
                                                     enforce_file_format=True)
    first, _ = _deidentify(src, tmp_path / "out1", profile)
    assert first.done == 2
    assert _audit_errors(tmp_path / "out1", profile) == []
    written = sorted((tmp_path / "out1").rglob("*.dcm"))[0]
    ds = dcmread(written)
    ds.ImageComments = f"see {ds.PatientID}"  # the pseudonym where it does not belong
    ds.save_as(written, enforce_file_format=True)
    errors = _audit_errors(tmp_path / "out1", profile)
    assert {f.keyword for _uid, f in errors if f.code == "phi-remaining"} == {"ImageComments"}
