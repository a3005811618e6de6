"""The export gate's reach: every identifying value of every patient the run (or its store)
has seen, not only the instance's own — an instance carrying another patient's name or ID is
refused with the same one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry import Session
from gantry.deid.roster import build_roster, patient_values
from gantry.testing.factory import make_instance

PROFILE = "ps3.15/research"  # clean-descriptors: descriptions are kept, cleaned of own values


def _mislabelled(root: Path, other: str, where: str = "z") -> None:
    """Patient 0's instance whose description names patient 1 (a comparison)."""
    ds = make_instance(patient=0, instance=9)
    ds.SeriesDescription = f"compared with prior of {other}"
    (root / where).mkdir(parents=True, exist_ok=True)
    ds.save_as(root / where / "compare.dcm", enforce_file_format=True)


def _cohort(root: Path) -> str:
    for patient in (0, 1):
        (root / f"p{patient}").mkdir(parents=True, exist_ok=True)
        make_instance(patient=patient).save_as(root / f"p{patient}" / "a.dcm",
                                               enforce_file_format=True)
    other = make_instance(patient=1)
    return str(other.PatientName).split("^")[0]


@pytest.mark.parametrize("memo", ["1", "0"])
def test_another_patients_name_is_refused_after_ingest(tmp_path, monkeypatch, memo):
    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)
    family = _cohort(tmp_path / "in")
    _mislabelled(tmp_path / "in", family)
    with Session("memory://", profile=PROFILE, workers=1) as session:
        session.ingest(tmp_path / "in")
        summary = session.export(tmp_path / "out")
        reasons = session.refused()
    assert summary.done == 2 and summary.refused == 1, summary.errors
    assert "of another patient" in reasons[0][1] and family not in reasons[0][1]
    assert "SeriesDescription" in reasons[0][1] and "\n" not in reasons[0][1]


def test_one_shot_deidentify_checks_every_patient_seen_so_far(tmp_path):
    family = _cohort(tmp_path / "in")
    _mislabelled(tmp_path / "in", f"{family} MRN0017Q07919")  # patient 1's ID too
    with Session("memory://", profile=PROFILE, workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
    assert export.done == 2 and export.refused == 1, export.errors


def test_a_lone_given_name_or_a_number_is_not_a_patient():
    roster = build_roster([("12345678", "Quillfeather^Mark^Zed"), ("GX-77", "Li^Na")])
    values = dict(roster.values)
    assert values["quillfeather"] == "PatientName" and "mark quillfeather" in values
    assert "mark" not in values and "zed" in values  # the middle name is distinctive enough
    assert "li" not in values and "gx-77" in values
    assert {v for v, _ in patient_values("", "")} == set()
    assert "IS" in roster.exempt_vrs and "DS" in roster.exempt_vrs


def test_the_roster_is_written_again_after_a_new_patient_is_ingested(tmp_path):
    """The snapshot is reused while no new patient came in (counting the store flushes it),
    and rewritten once one did: a later export checks the new patient's values too."""
    (tmp_path / "a").mkdir()
    make_instance(patient=0).save_as(tmp_path / "a" / "a.dcm", enforce_file_format=True)
    (tmp_path / "b").mkdir()
    make_instance(patient=1).save_as(tmp_path / "b" / "b.dcm", enforce_file_format=True)
    family = str(make_instance(patient=1).PatientName).split("^")[0]
    _mislabelled(tmp_path / "b", family)
    with Session("memory://", profile=PROFILE, workers=1) as session:
        session.ingest(tmp_path / "a")
        first = session.export(tmp_path / "out1")
        session.ingest(tmp_path / "b")
        second = session.export(tmp_path / "out2")
    assert first.done == 1 and first.refused == 0, first.errors
    assert second.done == 2 and second.refused == 1, second.errors
