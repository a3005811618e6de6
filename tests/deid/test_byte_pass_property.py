"""Property: the byte pass and the full pipeline write the same bytes, changes and findings.

Hypothesis builds random data sets on top of a planted instance — text, date, number and UID
elements of many VRs (values drawn partly from the instance's own identifiers), nested
sequences, private blocks with and without known creators, overlays, three character sets —
and exports each under random Annex E options, once through the full pipeline
(``GANTRY_BYTE_PASS=0``) and once through the built-in redactor's byte pass (``strict``: an
error in it fails the test). The byte pass must take every one of these (a fallback is a
failure here: nothing generated is outside what it supports) and give what the full path
gives: the output path and bytes, the changes in order, the findings, the outcome.

The default profile runs a few dozen examples (well under a minute); run more with
``pytest --hypothesis-profile=thorough tests/deid/test_byte_pass_property.py``.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry import pipeline
from gantry.builtins.dicom_export import DicomFolderSink
from gantry.components import ExportTarget, IndexEntries
from gantry.context import RunSpec
from gantry.dicom.elements import LAST_FILE, forget_split
from gantry.dicom.rawheader import RawHeader
from gantry.dicom.walk import walk
from gantry.runbuild import build_run
from gantry.testing.factory import make_instance
from gantry.testing.store_contract import instance_from_header

SECRET = bytes(range(32))
OPTION_SETS = [
    (), ("retain-uids",), ("retain-longitudinal-modified-dates",),
    ("retain-longitudinal-full-dates", "retain-patient-characteristics"),
    ("retain-device-identity", "retain-institution-identity"),
    ("retain-safe-private",), ("clean-descriptors", "clean-structured-content"),
    ("retain-safe-private", "clean-descriptors", "retain-longitudinal-modified-dates"),
]
CHARSETS = {None: "ascii", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8"}
#: (tag, VR) of elements to set: identifying text, descriptions, dates, numbers, UIDs, codes
TEXT_ELEMENTS = [
    (0x00081030, "LO"), (0x0008103E, "LO"), (0x00204000, "LT"), (0x00321060, "LO"),
    (0x00102180, "SH"), (0x00101040, "LO"), (0x00081040, "LO"), (0x00080080, "LO"),
    (0x00081010, "SH"), (0x00180015, "CS"), (0x00104000, "LT"), (0x00080050, "SH"),
    (0x00101000, "LO"), (0x00081070, "PN"), (0x00321032, "PN"), (0x00400254, "LO"),
]
DATE_ELEMENTS = [(0x00080021, "DA"), (0x00100030, "DA"), (0x00080031, "TM"),
                 (0x0008002A, "DT"), (0x00181012, "DA")]
NUMBER_ELEMENTS = [(0x00101010, "AS"), (0x00101020, "DS"), (0x00200013, "IS"),
                   (0x00181151, "IS"), (0x00280030, "DS"), (0x00180060, "DS")]
UID_ELEMENTS = [(0x00081155, "UI"), (0x00200052, "UI"), (0x0020000D, "UI"),
                (0x00400554, "UI")]
CREATORS = ["SIEMENS CT VA0  COAD", "GEMS_IDEN_01", "ACME PRIVATE", "PHILIPS MR IMAGING DD 001"]
PRIVATE_VRS = ["LO", "SH", "DS", "US", "UL", "OB", "UN", "LT"]
PROFILES: dict[tuple[str, ...], Path] = {}
RUNS: dict[tuple[str, ...], Any] = {}


class _Capture(DicomFolderSink):
    """The folder sink's paths, its output kept in memory (reads only the key elements)."""

    takes_byte_pass_stub = True

    def __init__(self, target: ExportTarget, run: Any = None) -> None:
        super().__init__(target, run)
        self.written: list[tuple[str, bytes]] = []

    def write(self, relpath: str, data: bytes, dataset: Any, context: Any) -> None:
        self.written.append((relpath, bytes(data)))


def _run(options: tuple[str, ...], folder: Path) -> Any:
    found = RUNS.get(options)
    if found is None:
        path = folder / f"profile-{len(PROFILES)}.yaml"
        path.write_text("extends: ps3.15/basic\noptions: [" + ", ".join(options) + "]\n")
        PROFILES[options] = path
        found = RUNS[options] = build_run(RunSpec(profile=str(path), secret=SECRET))
    return found


def _text(draw: Any, encoding: str, pieces: list[str], limit: int = 40) -> str:
    alphabet = st.characters(codec=encoding, exclude_characters="\\\x00\r\n\x1b",
                             exclude_categories=("Cc", "Cs"))
    parts = draw(st.lists(st.one_of(st.sampled_from(pieces), st.text(alphabet, max_size=12)),
                          max_size=4))
    return " ".join(parts)[:limit].strip()


@st.composite
def datasets(draw: Any) -> Dataset:
    """A planted instance with random elements, sequences, private blocks and a charset."""
    patient, instance = draw(st.integers(0, 5)), draw(st.integers(0, 3))
    ds = make_instance(patient=patient, study=draw(st.integers(0, 1)), series=0,
                       instance=instance, rows=4, cols=4)
    charset = draw(st.sampled_from(sorted(CHARSETS, key=str)))
    encoding = CHARSETS[charset]
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    pieces = [str(ds.PatientName).replace("^", " "), str(ds.PatientID), str(ds.SOPInstanceUID),
              str(ds.StudyInstanceUID), ds.StudyDate, "Müller" if encoding != "ascii" else "Mx",
              "CT CHEST", "1.2.3.4"]
    for tag, vr in draw(st.lists(st.sampled_from(TEXT_ELEMENTS), max_size=6, unique=True)):
        limit = 16 if vr in ("SH", "CS") else 64
        value = _text(draw, encoding, pieces, limit)
        if vr == "CS":
            value = value.upper().encode("ascii", "ignore").decode()[:16]
        ds.add_new(tag, vr, value)
    for tag, vr in draw(st.lists(st.sampled_from(DATE_ELEMENTS), max_size=3, unique=True)):
        value = {"DA": draw(st.sampled_from([ds.StudyDate, "19700101", "20231231", ""])),
                 "TM": draw(st.sampled_from(["101500", "235959.123", ""])),
                 "DT": draw(st.sampled_from(["20190314101500", "2019", ""]))}[vr]
        ds.add_new(tag, vr, value)
    for tag, vr in draw(st.lists(st.sampled_from(NUMBER_ELEMENTS), max_size=3, unique=True)):
        value = {"AS": "045Y", "DS": draw(st.sampled_from(["1.5", "0.5\\0.5", "70", ""])),
                 "IS": draw(st.sampled_from(["1", "42", "-3", ""]))}[vr]
        ds.add_new(tag, vr, value)
    for tag, vr in draw(st.lists(st.sampled_from(UID_ELEMENTS), max_size=2, unique=True)):
        ds.add_new(tag, vr, draw(st.sampled_from([ds.SOPInstanceUID, ds.SeriesInstanceUID,
                                                  "1.2.840.10008.5.1.4.1.1.2", "2.25.7"])))
    if draw(st.booleans()):  # a sequence, maybe nested, holding UIDs and text
        items = []
        for _ in range(draw(st.integers(1, 2))):
            item = Dataset()
            item.ReferencedSOPClassUID = ds.SOPClassUID
            item.ReferencedSOPInstanceUID = draw(st.sampled_from([ds.SOPInstanceUID,
                                                                  "1.2.3.4.5"]))
            if draw(st.booleans()):
                inner = Dataset()
                inner.CodeValue = draw(st.sampled_from(["T-D3000", str(ds.PatientID)]))
                inner.CodeMeaning = _text(draw, encoding, pieces)
                item.PurposeOfReferenceCodeSequence = Sequence([inner])
            items.append(item)
        ds.add_new(draw(st.sampled_from([0x00081140, 0x00081115, 0x00081250])), "SQ",
                   Sequence(items))
    for group in draw(st.lists(st.sampled_from([0x0009, 0x0011, 0x0029]), max_size=2,
                               unique=True)):
        block = draw(st.integers(0x10, 0x12))
        ds.add_new(group << 16 | block, "LO", draw(st.sampled_from(CREATORS)))
        for element in draw(st.lists(st.integers(0, 8), max_size=3, unique=True)):
            vr = draw(st.sampled_from(PRIVATE_VRS))
            tag = group << 16 | block << 8 | element
            if vr in ("US", "UL"):
                ds.add_new(tag, vr, draw(st.integers(0, 60000)))
            elif vr in ("OB", "UN"):
                ds.add_new(tag, vr, _text(draw, "ascii", pieces).encode().ljust(2)[:40])
            elif vr == "DS":
                ds.add_new(tag, vr, "2.5")
            else:
                ds.add_new(tag, vr, _text(draw, encoding, pieces, 16 if vr == "SH" else 64))
    if draw(st.booleans()):  # an overlay plane, with or without its data
        ds.add_new(0x60000010, "US", 4)
        ds.add_new(0x60000011, "US", 4)
        if draw(st.booleans()):
            ds.add_new(0x60003000, "OW", b"\x00\x01" * 2)
    if draw(st.booleans()):
        ds.preamble = bytes(draw(st.binary(min_size=128, max_size=128)))
    return ds


_TOKEN = object()
#: a backend's index entries as the kernel finds them (the entry: the element's tag)
_INDEX = IndexEntries(lambda: _TOKEN, lambda header, span: span.tag,
                      lambda header, entries: entries)


def _export(run: Any, data: bytes, ds: Dataset, mode: str, walked: bool = False
            ) -> tuple[Any, list]:
    """One instance through ``process_instance`` with ``GANTRY_BYTE_PASS=mode``; ``walked``:
    after the one-shot ingest's walk of its header (the pass then reuses its records)."""
    previous = os.environ.get("GANTRY_BYTE_PASS")
    os.environ["GANTRY_BYTE_PASS"] = mode
    forget_split()
    try:
        if walked:
            header = RawHeader.parse(data)
            assert header is not None
            assert walk(header, _INDEX) == [span.tag for span in header.spans]
            records = LAST_FILE.walked[2]
            assert [r.raw for r in records] == [data[s.start:s.end] for s in header.spans]
        target = ExportTarget(to="/nonexistent/never-written")
        unit = pipeline.WorkUnit(run.spec, "export", [], targets=[target], with_audit=True)
        sink = _Capture(target, run)
        instance = instance_from_header(ds, "generated.dcm", len(data))
        result = pipeline.process_instance(instance, unit, run, [sink],
                                           opener=lambda source: io.BytesIO(data))
        if walked:  # the pass found its facts on the walk's records
            assert any(r.facts is not None for r in records)
        return result, sink.written
    finally:
        forget_split()
        if previous is None:
            del os.environ["GANTRY_BYTE_PASS"]
        else:
            os.environ["GANTRY_BYTE_PASS"] = previous


@pytest.fixture(scope="module")
def profile_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("profiles")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                HealthCheck.function_scoped_fixture])
@given(ds=datasets(), options=st.sampled_from(OPTION_SETS))
def test_byte_pass_writes_what_the_full_pipeline_writes(ds: Dataset, options: tuple[str, ...],
                                                        profile_dir: Path) -> None:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    run = _run(options, profile_dir)
    full, full_out = _export(run, data, ds, "0")
    fast, fast_out = _export(run, data, ds, "strict")
    after_walk, after_walk_out = _export(run, data, ds, "strict", walked=True)
    assert after_walk_out == fast_out
    assert (after_walk.changes, after_walk.findings) == (fast.changes, fast.findings)
    assert after_walk.byte_pass and not after_walk.fallback
    assert not full.byte_pass
    assert fast.byte_pass and not fast.fallback, f"the byte pass declined: {fast.fallback}"
    assert (fast.ok, fast.stage, fast.error) == (full.ok, full.stage, full.error)
    assert fast_out == full_out
    assert fast.new_sop_instance_uid == full.new_sop_instance_uid
    assert fast.changes == full.changes
    assert fast.findings == full.findings
