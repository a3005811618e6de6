"""End to end: planted identifiers anywhere (nested sequences, SR trees, private tags, overlays,
free text) never survive into the encoded output; pydicom's bundled files pass the gate."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry.deid.gate import find_leaks
from gantry.deid.identifiers import collect_identifiers
from gantry.deid.standalone import patient_key
from gantry.testing.factory import make_instance, planted_tokens

OPTION_SETS = [
    (),
    ("retain-longitudinal-modified-dates", "clean-descriptors", "clean-structured-content"),
    ("retain-safe-private", "retain-patient-characteristics", "clean-graphics"),
]


def _content_item(value_type: str, **values) -> Dataset:
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = value_type
    name = Dataset()
    name.CodeValue = "121106"
    name.CodingSchemeDesignator = "DCM"
    name.CodeMeaning = "Comment"
    item.ConceptNameCodeSequence = Sequence([name])
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def planted_sr(patient: int = 0) -> tuple[Dataset, set[str]]:
    """A CT instance with an SR-like content tree, deep nesting and extra free text."""
    ds = make_instance(patient=patient)
    tokens = planted_tokens(ds)
    last, first = str(ds.PatientName).split("^")[:2]
    mrn = str(ds.PatientID)
    deep = _content_item("TEXT", TextValue=f"{first.upper()} {last.lower()} MRN {mrn}, "
                                             "call 555-0100-7788")
    code = Dataset()
    code.CodeValue = "LOCAL123"
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = f"Ward of {last}"
    coded = _content_item("CODE", ConceptCodeSequence=Sequence([code]))
    pname = _content_item("PNAME", PersonName=f"{last}^{first}")
    date = _content_item("DATE", Date=str(ds.StudyDate))
    uidref = _content_item("UIDREF", UID=str(ds.StudyInstanceUID))
    container = _content_item("CONTAINER", ContinuityOfContent="SEPARATE")
    container.ContentSequence = Sequence([deep, coded, pname, date, uidref])
    ds.ContentSequence = Sequence([container])
    # an identifier three sequences deep, in a sequence the table does not name
    inner = Dataset()
    inner.PatientComments = f"Brother of {first} {last}"
    middle = Dataset()
    middle.ReferencedSeriesSequence = Sequence([inner])
    ds.add_new(0x00081250, "SQ", Sequence([middle]))  # RelatedSeriesSequence
    ds.ProtocolName = f"{last} protocol {mrn}"
    return ds, tokens


def _brute(data: bytes, tokens: set[str]) -> list[str]:
    low = data.lower()
    return sorted(t for t in tokens if t and t.lower().encode() in low)


@pytest.mark.parametrize("options", OPTION_SETS, ids=["basic", "dates+clean", "safe+graphics"])
@pytest.mark.parametrize("patient", [0, 1, 3])
def test_planted_identifiers_never_survive(options, patient, make_engine, deidentify, encoder):
    ds, tokens = planted_sr(patient)
    identifiers = collect_identifiers(ds, patient_key(ds))
    engine = make_engine(options=options)
    deidentify(engine, ds)
    data = encoder(ds)
    assert _brute(data, tokens) == []
    assert find_leaks(data, "out/GP-X/1.dcm", identifiers) == []


def test_clean_structured_content_keeps_the_tree(make_engine, deidentify):
    ds, _ = planted_sr()
    deidentify(make_engine(options=("clean-structured-content",)), ds)
    container = ds.ContentSequence[0]
    items = container.ContentSequence
    assert [i.ValueType for i in items] == ["TEXT", "CODE", "PNAME", "DATE", "UIDREF"]
    assert "***" in items[0].TextValue  # cleaned, not dropped
    assert items[0].ConceptNameCodeSequence[0].CodeMeaning == "Comment"  # standard code kept
    assert items[4].UID.startswith("2.25.")


def test_basic_profile_dummies_sr_text(make_engine, deidentify):
    ds, _ = planted_sr()
    deidentify(make_engine(), ds)
    items = ds.ContentSequence[0].ContentSequence
    assert items[0].TextValue == "ANONYMIZED"
    assert items[2].PersonName == "ANONYMIZED"


def test_references_stay_consistent(make_engine, deidentify):
    a = make_instance(patient=2, instance=0)
    b = make_instance(patient=2, instance=1)
    b.ReferencedImageSequence = Sequence([Dataset()])
    b.ReferencedImageSequence[0].ReferencedSOPClassUID = a.SOPClassUID
    b.ReferencedImageSequence[0].ReferencedSOPInstanceUID = a.SOPInstanceUID
    engine = make_engine()
    deidentify(engine, a)
    deidentify(engine, b)
    assert b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID
    assert b.ReferencedImageSequence[0].ReferencedSOPClassUID == a.SOPClassUID  # class kept
    assert a.StudyInstanceUID == b.StudyInstanceUID
    assert a.FrameOfReferenceUID == b.FrameOfReferenceUID
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID
    assert a.PatientID == b.PatientID and a.PatientName == b.PatientName


def _bundled():
    import pydicom.data

    root = Path(pydicom.data.__file__).parent / "test_files"  # local only: no download
    out = []
    for path in sorted(str(p) for p in root.rglob("*.dcm")):
        try:
            ds = dcmread(path, force=True)
            ds.PatientName  # noqa: B018 - parse check
        except Exception:
            continue
        out.append(path)
    return out


BUNDLED = _bundled()


def test_bundled_files_found():
    assert len(BUNDLED) > 50


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: p.rsplit("/", 1)[-1])
def test_bundled_file_passes_the_gate(path, make_engine, deidentify):
    import io

    ds = dcmread(path, force=True)
    identifiers = collect_identifiers(ds, patient_key(ds))
    deidentify(make_engine(), ds)
    buf = io.BytesIO()
    try:
        ds.save_as(buf, enforce_file_format="TransferSyntaxUID" in getattr(ds, "file_meta", {}))
    except Exception as exc:
        pytest.skip(f"pydicom cannot re-encode: {type(exc).__name__}")
    leaks = find_leaks(buf.getvalue(), "out/x.dcm", identifiers)
    assert leaks == [], [str(leak) for leak in leaks]
    assert ds.PatientIdentityRemoved == "YES"
