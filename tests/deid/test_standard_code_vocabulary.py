"""The meaning of a code of a public coding scheme (DCM, SCT, LN...) is the standard's
vocabulary: a family name that is also an English word ("Long", "Mass", "White") meets it in
SR concept names ("Long Axis"). Names, institutions, addresses and devices are not leaks
there (as in a coded string), for the instance's own values and the roster of every patient
alike, and the engine does not scrub them out of the code; IDs and dates still are. A code of
a local scheme is not vocabulary: another patient's name in it is still refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry import Session
from gantry.testing.iods import make_iod


def _concept(meaning: str, scheme: str = "SCT") -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "NUM"
    code = Dataset()
    code.CodeValue = "103339001" if scheme == "SCT" else "L0001"
    code.CodingSchemeDesignator = scheme
    code.CodeMeaning = meaning
    item.ConceptNameCodeSequence = Sequence([code])
    return item


def _report(patient: int, name: str, meaning: str, scheme: str = "SCT") -> Dataset:
    ds = make_iod("sr", patient=patient, instance=patient)
    ds.PatientName = name
    ds.ContentSequence.append(_concept(meaning, scheme))
    return ds


def _run(tmp_path: Path, *datasets: Dataset, profile: str = "ps3.15/basic"):
    src = tmp_path / "in"
    src.mkdir()
    for n, ds in enumerate(datasets):
        ds.save_as(src / f"{n}.dcm", enforce_file_format=True)
    with Session("memory://", profile=profile, workers=1) as session:
        _, export = session.deidentify(src, tmp_path / "out")
        return export, session.refused()


def _meanings(tmp_path: Path) -> set[str]:
    out = set()
    for path in (tmp_path / "out").rglob("*.dcm"):
        for item in dcmread(path).ContentSequence:
            out.update(str(c.CodeMeaning) for c in item.ConceptNameCodeSequence)
    return out


@pytest.fixture(params=["1", "0"])
def memo(request, monkeypatch):
    monkeypatch.setenv("GANTRY_BYTE_PASS", request.param)


@pytest.mark.parametrize("profile", ["ps3.15/basic", "ps3.15/research"])
def test_another_patients_family_name_in_a_standard_concept(tmp_path, memo, profile):
    export, refused = _run(tmp_path, _report(0, "Long^Wei", "Width"),
                           _report(1, "Quillfeather^Ermengarde", "Long Axis"), profile=profile)
    assert refused == [] and export.done == 2, refused
    assert "Long Axis" in _meanings(tmp_path)


def test_the_patients_own_family_name_in_a_standard_concept(tmp_path, memo):
    export, refused = _run(tmp_path, _report(0, "Long^Wei", "Long Axis"))
    assert refused == [] and export.done == 1, refused
    assert "Long Axis" in _meanings(tmp_path)  # vocabulary, not scrubbed to "*** Axis"


def test_another_patients_name_in_a_local_code_is_still_refused(tmp_path, memo):
    """(A local code in an attribute the basic profile keeps: Procedure Code Sequence.)"""
    other = _report(1, "Quillfeather^Ermengarde", "Width")
    other.ProcedureCodeSequence = _concept("Long Axis", "99LOCAL").ConceptNameCodeSequence
    export, refused = _run(tmp_path, _report(0, "Long^Wei", "Width"), other)
    assert export.refused == 1 and "of another patient" in refused[0][1], refused
    assert "ProcedureCodeSequence" in refused[0][1]


@pytest.mark.parametrize("meaning", ["Wei Long", "Long Wei", "Long^Wei"])
def test_a_whole_name_in_a_standard_code_is_never_vocabulary(tmp_path, memo, meaning):
    """One word of a name may be the standard's ("Long Axis"); the whole name in a code of a
    public scheme is the person's: refused, for the patient's own name and another's."""
    export, refused = _run(tmp_path, _report(0, "Long^Wei", meaning))
    assert export.refused == 1 and "CodeMeaning" in refused[0][1], refused
    (tmp_path / "two").mkdir()
    export, refused = _run(tmp_path / "two", _report(0, "Long^Wei", "Width"),
                           _report(1, "Quillfeather^Ermengarde", meaning))
    assert export.refused == 1 and "of another patient" in refused[0][1], refused
