"""The built-in redactor's byte pass (``gantry.deid.byte_pass``) against the full pipeline.

Every instance is exported twice in the same run — once by the full pipeline (pydicom dataset,
engine, encoder), once by the byte pass — and everything the kernel records must be the
same: the file's bytes (sha256), its path, the changes, the findings, the errors.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

from gantry import pipeline
from gantry.dicom.elements import split
from gantry.dicom.errors import DicomFormatError
from gantry.session import Session
from gantry.testing.factory import make_instance, write_cohort

SECRET = bytes(range(32))


def _compare_both_ways(monkeypatch: pytest.MonkeyPatch, src: Path, dest: Path,
                       profile: str = "ps3.15/basic") -> Counter:
    """Export ``src`` with each instance done by both paths; return how the byte pass fared
    (``byte pass`` / ``fallback`` counts, and each fallback reason)."""
    outcome: Counter = Counter()
    original = pipeline.process_instance

    def both(instance, unit, run, sinks, opener=None):
        monkeypatch.setenv("GANTRY_BYTE_PASS", "0")
        full = original(instance, unit, run, sinks, opener)
        monkeypatch.setenv("GANTRY_BYTE_PASS", "strict")  # a bug fails the test, not falls back
        fast = original(instance, unit, run, sinks, opener)
        outcome["byte pass" if fast.byte_pass else "fallback"] += 1
        if fast.fallback:
            outcome[f"reason: {fast.fallback}"] += 1
        where = instance.source
        assert not full.byte_pass and not full.fallback, where
        assert fast.ok == full.ok, (where, full.error, fast.error)
        assert fast.error == full.error, where
        assert fast.stage == full.stage, where
        assert fast.new_sop_instance_uid == full.new_sop_instance_uid, where
        assert [e.sha256 for e in fast.exports] == [e.sha256 for e in full.exports], where
        assert [e.path for e in fast.exports] == [e.path for e in full.exports], where
        assert fast.changes == full.changes, where
        assert fast.findings == full.findings, where
        assert fast.bytes_in == full.bytes_in, where
        return fast

    monkeypatch.setattr(pipeline, "process_instance", both)
    session = Session("memory://", profile=profile, secret=SECRET, workers=1)
    try:
        session.ingest(str(src))
        summary = session.export(str(dest), audit=True)
    finally:
        session.close()
    assert (summary.byte_pass, summary.fallbacks) == (outcome["byte pass"], outcome["fallback"])
    return outcome


def test_factory_cohort_same_bytes_changes_and_findings(tmp_path, monkeypatch):
    write_cohort(tmp_path / "src", patients=2, series=2, instances=4)
    outcome = _compare_both_ways(monkeypatch, tmp_path / "src", tmp_path / "out")
    assert outcome["byte pass"] == 16 and not outcome["fallback"]


def test_ct_sized_pixels_are_streamed_to_the_folder_sink_unjoined(tmp_path, monkeypatch):
    """A CT-sized pixel value (128 KiB here) kept as read reaches the folder sink as a
    :class:`~gantry.dicom.streamed.Streamed` file (header, the value as read, tail: no join
    copy), with the same bytes and sha256 as the full pipeline writes."""
    from gantry.builtins.dicom_export import DicomFolderSink
    from gantry.dicom.streamed import STREAM_ABOVE, Streamed

    assert STREAM_ABOVE <= 256 * 256 * 2  # (a CT slice is 512 KiB)
    given: list[type] = []
    real = DicomFolderSink.write

    def spy(self, relpath, data, dataset, context):  # type: ignore[no-untyped-def]
        given.append(type(data))
        return real(self, relpath, data, dataset, context)

    monkeypatch.setattr(DicomFolderSink, "write", spy)
    write_cohort(tmp_path / "src", patients=1, series=1, instances=3, rows=256, cols=256)
    outcome = _compare_both_ways(monkeypatch, tmp_path / "src", tmp_path / "out")
    assert outcome["byte pass"] == 3 and not outcome["fallback"]
    assert given == [bytes, Streamed] * 3  # (each instance: the full path, then the pass)


@pytest.mark.parametrize("profile", ["ps3.15/research", "ps3.15/retain-uids",
                                     "ps3.15/full-dates"])
def test_other_profiles(tmp_path, monkeypatch, profile):
    write_cohort(tmp_path / "src", patients=1, series=2, instances=3)
    outcome = _compare_both_ways(monkeypatch, tmp_path / "src", tmp_path / "out", profile)
    assert outcome["byte pass"] == 6


def test_variants_within_a_series(tmp_path, monkeypatch):
    """Elements that differ from instance to instance: a UID inside free text, a date in a
    comment, a private block whose creator changes, an overlay without data, a preamble,
    a non-default character set, a nested sequence holding the instance's own UID."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    src = tmp_path / "src"
    src.mkdir()
    for i in range(6):
        ds = make_instance(patient=0, study=0, series=0, instance=i, rows=8, cols=8)
        ds.ImageComments = f"see {ds.SOPInstanceUID} and 2019031{i}"
        if i % 2:
            ds.SpecificCharacterSet = "ISO_IR 192"
            ds.StudyDescription = "Müller Ümlaut €"
        ds.add_new(0x00091010, "LO", "SIEMENS CT VA0  COAD" if i % 3 else "ACME PRIVATE")
        ds.add_new(0x00091001, "LO", f"Private {ds.PatientName} {i}")
        ds.add_new(0x60000010, "US", 8)
        if i % 2 == 0:
            ds.add_new(0x60003000, "OW", b"\x00" * 8)
        ref = Dataset()
        ref.ReferencedSOPInstanceUID = ds.SOPInstanceUID
        ref.ReferencedSOPClassUID = ds.SOPClassUID
        ds.ReferencedImageSequence = Sequence([ref])
        if i == 3:
            ds.preamble = b"TIFF" + b"\x01" * 124
        ds.save_as(src / f"i{i}.dcm", enforce_file_format=True)
    outcome = _compare_both_ways(monkeypatch, src, tmp_path / "out")
    assert outcome["byte pass"] == 6


def test_pydicom_test_files(tmp_path, monkeypatch):
    """Files nobody here wrote: charsets, sequences, encapsulated pixels, odd encodings. Those
    the byte pass does not support fall back; every supported one must match."""
    from gantry.testing.factory import bundled_test_files as get_testdata_files

    src = tmp_path / "src"
    src.mkdir()
    for i, path in enumerate(sorted(get_testdata_files("*.dcm"))):
        if os.path.getsize(path) < 4 * 1024 * 1024:
            shutil.copy(path, src / f"{i:03d}_{Path(path).name}")
    outcome = _compare_both_ways(monkeypatch, src, tmp_path / "out")
    print(outcome)
    assert outcome["byte pass"] >= 20, outcome


def test_split_rejects_what_it_cannot_prove(tmp_path):
    ds = make_instance(patient=0, study=0, series=0, instance=0, rows=8, cols=8)
    ds.save_as(tmp_path / "a.dcm", enforce_file_format=True)
    data = (tmp_path / "a.dcm").read_bytes()
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import _read_file_meta_info

    fp = DicomBytesIO(data)
    fp.is_little_endian, fp.is_implicit_VR = True, False
    fp.seek(132)
    _read_file_meta_info(fp)
    body = fp.tell()
    spans = split(data, body)
    assert [s.tag for s in spans] == sorted(s.tag for s in spans)
    assert spans[-1].end == len(data)
    with pytest.raises(DicomFormatError):
        split(data[:-3], body)  # truncated
    with pytest.raises(DicomFormatError):
        split(data[:body] + b"\x08\x00\x20\x00??\x00\x00", body)  # unknown VR


def test_only_sinks_that_declare_it_get_the_byte_pass_stub(tmp_path, monkeypatch):
    """The pass hands sinks a stub dataset: a sink class takes it only by declaring
    ``takes_byte_pass_stub`` itself; a subclass that does not (it may read more) gets the full
    pipeline, and the bytes are the same either way."""
    from gantry.builtins.dicom_export import DicomFolderSink

    class ReadsMore(DicomFolderSink):
        pass

    write_cohort(tmp_path / "src", patients=1, series=1, instances=3)
    used: Counter = Counter()
    bytes_done = pipeline._process_bytes

    def counted(*args, **kwargs):
        done = bytes_done(*args, **kwargs)
        used[type(args[4][0]).__name__] += bool(done)
        return done

    monkeypatch.setattr(pipeline, "_process_bytes", counted)
    trees = {}
    from dataclasses import replace

    from gantry.plugins import GantryHooks

    real = GantryHooks.exporter_for
    for sink_class in (DicomFolderSink, ReadsMore):
        monkeypatch.setattr(GantryHooks, "exporter_for", lambda self, fmt, to, c=sink_class:
                            replace(real(self, fmt, to), factory=c))
        with Session("memory://", secret=SECRET, workers=1) as session:
            session.ingest(str(tmp_path / "src"))
            out = tmp_path / f"out-{sink_class.__name__}"
            assert session.export(str(out)).done == 3
        trees[sink_class] = {p.name: p.read_bytes() for p in out.rglob("*.dcm")}
    assert used == {"DicomFolderSink": 3}
    assert trees[ReadsMore] == trees[DicomFolderSink]


@pytest.mark.parametrize("profile", ["ps3.15/basic", "ps3.15/research"])
def test_every_iod_family(tmp_path, monkeypatch, profile):
    """The IOD-aware actions (dummies, emptied Type 2 attributes, Types inside functional
    groups and SR content) are the same on both paths: one decision, both call it."""
    from gantry.testing.iods import FAMILIES, make_iod

    src = tmp_path / "src"
    src.mkdir()
    for family in FAMILIES:
        for i in range(2):
            make_iod(family, instance=i).save_as(src / f"{family}-{i}.dcm",
                                                 enforce_file_format=True)
    outcome = _compare_both_ways(monkeypatch, src, tmp_path / "out", profile)
    assert outcome["byte pass"] == 2 * len(FAMILIES), outcome


def test_fallbacks_are_counted_in_the_summary_and_its_json(tmp_path):
    """An instance the byte pass hands to the full pipeline is counted, with its reason, in
    the run summary (``--json`` too): a divergence can no longer pass unseen."""
    import json

    from click.testing import CliRunner
    from pydicom.uid import ImplicitVRLittleEndian

    from gantry.cli import cli

    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    ds = make_instance(patient=1, study=0, series=0, instance=0, rows=8, cols=8)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    ds.save_as(tmp_path / "in" / "implicit.dcm", implicit_vr=True, little_endian=True,
               enforce_file_format=True)
    args = ["deidentify", str(tmp_path / "in"), str(tmp_path / "out"), "--db", "memory://",
            "--workers", "1"]
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    export = {s["stage"]: s for s in json.loads(result.stdout)["summaries"]}["export"]
    assert (export["done"], export["byte_pass"], export["fallbacks"]) == (3, 2, 1)
    assert export["fallback_reasons"] == {"transfer syntax": 1}
    shutil.rmtree(tmp_path / "out")
    text = CliRunner().invoke(cli, args)
    assert "1 by the full pipeline (byte pass declined)" in text.output
    assert "byte pass declined 1x: transfer syntax" in text.output
