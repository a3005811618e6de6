"""The manifest's per-file fast path (``headerscan.HeaderReader``, folder resolution once per
folder, no spooling with a store) writes exactly what the previous implementation wrote.

``manifest_reference.py`` is that implementation, verbatim; every test here compares bytes.
"""

from __future__ import annotations

import importlib.util
import io
import os
import struct
import sys
from pathlib import Path

import pytest
from gantry_reports import manifest
from gantry_reports.headerscan import HeaderReader
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRBigEndian, ImplicitVRLittleEndian

from gantry import Session
from gantry.records import ExportRecord
from gantry.testing.factory import make_instance, write_cohort

SECRET = bytes(range(32))
NAMES = ("manifest.html", "manifest.csv", "manifest.json")


def _reference():
    name = "gantry_reports_manifest_reference"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            name, Path(__file__).with_name("manifest_reference.py"))
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _both(destination: str, records: list[ExportRecord], **options) -> tuple[list, list]:
    """The manifest files of the reference, then of the current implementation."""
    out = []
    for writer in (_reference().write_manifests, manifest.write_manifests):
        paths = writer(destination, list(records), **options)
        out.append([(p.name, p.read_bytes()) for p in paths])
    return out[0], out[1]


def _expected_fields(data: bytes) -> dict[str, str] | None:
    """What the previous implementation read from a file (``None``: unreadable)."""
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)
    except Exception:
        return None
    entry = {}
    for keyword in manifest.KEY_FIELDS:
        value = ds.get(keyword)
        if value is not None and value != "":
            entry[keyword] = str(value)
    tsuid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    entry["TransferSyntaxUID"] = str(tsuid or "")
    return entry


def _bytes(ds: Dataset, **kwargs) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True, **kwargs)
    return buf.getvalue()


def _undefined_lengths(ds: Dataset) -> Dataset:
    for elem in ds.iterall():
        if elem.VR == "SQ":
            elem.is_undefined_length = True
            for item in elem.value:
                item.is_undefined_length_sequence_item = True
    return ds


def _element(tag: int, vr: str, value: bytes) -> bytes:
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), len(value)) + value


def _variants() -> dict[str, tuple[bytes, bool]]:
    """Files of many layouts: ``name -> (bytes, read by the fast path)``."""
    out: dict[str, tuple[bytes, bool]] = {}
    base = make_instance(patient=1, series=1, instance=4)
    out["explicit"] = (_bytes(base), True)
    out["undefined-length sequences"] = (_bytes(_undefined_lengths(make_instance(instance=5))),
                                         True)
    ds = make_instance(instance=6)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out["implicit"] = (_bytes(ds, implicit_vr=True, little_endian=True), False)
    ds = _undefined_lengths(make_instance(instance=7))
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out["implicit, undefined-length sequences"] = (
        _bytes(ds, implicit_vr=True, little_endian=True), False)
    ds = make_instance(instance=8)
    ds.file_meta.TransferSyntaxUID = ExplicitVRBigEndian
    out["big endian"] = (_bytes(ds, implicit_vr=False, little_endian=False), False)
    ds = make_instance(instance=9)
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out["deflated"] = (_bytes(ds), False)
    ds = make_instance(instance=10)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientID = "Müller-Ørsted"
    ds.SeriesDescription = "Thorax  ÄÖÜ  "
    out["latin-1"] = (_bytes(ds), True)
    ds = make_instance(instance=11)
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SeriesDescription = "胸部 CT ✓"
    out["utf-8"] = (_bytes(ds), True)
    ds = make_instance(instance=12)
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.SeriesDescription = "ヤマダ"
    out["iso 2022"] = (_bytes(ds), True)
    ds = make_instance(instance=13)
    del ds.SpecificCharacterSet
    out["no character set"] = (_bytes(ds), True)
    ds = make_instance(instance=14)
    ds.SOPClassUID = ["1.2.840.10008.5.1.4.1.1.2", "1.2.3"]
    ds.Modality = ["CT", "MR"]
    ds.add_new(0x00280010, "US", [16, 16])  # Rows, two values
    out["multi-valued"] = (_bytes(ds), True)
    ds = make_instance(instance=15)
    ds.Modality = ""
    ds.StudyDate = ""
    ds.SeriesDescription = "   "
    out["empty values"] = (_bytes(ds), True)
    ds = make_instance(instance=16)
    ds.SeriesNumber = "007"
    ds.InstanceNumber = "-3"
    ds.NumberOfFrames = "1"
    out["integer strings"] = (_bytes(ds), True)
    ds = make_instance(instance=17)
    ds.StudyInstanceUID = "1.02.3"  # invalid UID: converted by pydicom (with its warning)
    ds.SeriesInstanceUID = "1.2.3\0"
    out["odd uids"] = (_bytes(ds), True)
    ds = make_instance(instance=18)
    del ds.PixelData
    data = _bytes(ds)
    out["duplicate element after the others"] = (
        data + _element(0x00080060, "CS", b"MR") + _element(0x00200013, "IS", b"99"), False)
    pixels = _bytes(make_instance(instance=19))
    out["no preamble"] = (pixels[128:], False)
    out["truncated"] = (pixels[:700], False)
    out["garbage"] = (b"\0" * 128 + b"DICM" + os.urandom(300), False)
    out["not dicom"] = (b"hello, world\n" * 20, False)
    out["broken deflate"] = (  # dcmread raises: "unreadable"
        b"\0" * 128 + b"DICM" + _element(0x00020010, "UI", b"1.2.840.10008.1.2.1.99\0")
        + b"not deflated" * 10, False)
    ds = make_instance(instance=20)
    private = Dataset()
    private.PatientID = "NESTED"
    ds.add_new(0x00091020, "SQ", Sequence([private]))
    ds[0x00091020].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    out["implicit private undefined-length sequence"] = (
        _bytes(ds, implicit_vr=True, little_endian=True), False)
    return out


def test_header_reader_matches_dcmread_on_every_layout():
    reader = HeaderReader(manifest.KEY_FIELDS)
    for name, (data, fast) in _variants().items():
        fields = reader.read(data)
        if fields is None:
            assert not fast, f"{name}: expected the fast path"
            continue
        assert fast, f"{name}: read without dcmread"
        assert fields == _expected_fields(data), name


@pytest.mark.parametrize("implicit", [False, True])
def test_header_reader_stays_exact_on_damaged_files(implicit):
    """Every truncation and many single-byte changes of a file: the fast path gives what
    dcmread gives, or steps aside."""
    reader = HeaderReader(manifest.KEY_FIELDS)
    ds = _undefined_lengths(make_instance(instance=3))
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    data = _bytes(ds, implicit_vr=implicit, little_endian=True)
    variants = [data[:cut] for cut in range(0, len(data), 7)]
    for at in range(128, len(data) - 600, 5):
        for byte in (0x00, 0xFF, 0x41):
            variants.append(data[:at] + bytes([byte]) + data[at + 1:])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for variant in variants:
            try:
                fields = reader.read(variant)
            except Exception as exc:  # a value pydicom cannot convert: ds.get() raised too
                with pytest.raises(type(exc)):
                    ds = dcmread(io.BytesIO(variant), stop_before_pixels=True, force=True)
                    for keyword in manifest.KEY_FIELDS:
                        ds.get(keyword)
                continue
            if fields is not None:
                assert fields == _expected_fields(variant)


def test_header_reader_steps_aside_for_customised_pydicom():
    from pydicom import config

    config.data_element_callback = lambda raw, **kwargs: raw
    try:
        assert HeaderReader(manifest.KEY_FIELDS).read(_bytes(make_instance())) is None
    finally:
        config.data_element_callback = None
    assert HeaderReader(manifest.KEY_FIELDS).read(_bytes(make_instance())) is not None


@pytest.fixture(scope="module")
def release(tmp_path_factory, export_cohort):
    """A factory cohort exported (memory store) plus files of every layout, a missing one,
    a changed one, symlinks and duplicates among its records."""
    root = tmp_path_factory.mktemp("fast")
    cohort, dest, records = export_cohort(root, patients=3, series=2, instances=3, rows=24, cols=20)
    assert len(records) == 18

    def add(rel: str, data: bytes | None, *, sha: str = "") -> None:
        if data is not None:
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            (dest / rel).write_bytes(data)
        records.append(ExportRecord(f"src-{len(records)}", f"new-{len(records)}", str(dest),
                                    rel, len(data or b""), sha))

    for i, (name, (data, _fast)) in enumerate(_variants().items()):
        add(f"layouts/{i:02d}-{name.replace(' ', '_').replace(',', '')}.dcm", data)
    add("gone/missing.dcm", None, sha="0" * 64)
    changed = records[0]
    with open(dest / changed.path, "ab") as fh:
        fh.write(b"\0\0")  # changed since export: sha256 and size differ from the record
    os.symlink(dest / records[1].path, dest / "layouts" / "link-inside.dcm")
    add("layouts/link-inside.dcm", None)
    outside = root / "outside.dcm"
    outside.write_bytes(_bytes(make_instance(instance=30)))
    os.symlink(outside, dest / "layouts" / "link-outside.dcm")
    add("layouts/link-outside.dcm", None)
    os.symlink(root / "in", dest / "linked-folder")
    add(f"linked-folder/{cohort.paths[0].relative_to(cohort.root)}", None)
    add("../outside.dcm", None)
    add("layouts/../layouts/link-inside.dcm", None)
    add("layouts", None)  # a folder, not a file
    records.append(records[3])  # the same file twice
    return {"dest": dest, "records": records}


def test_export_hook_writes_what_the_reference_writes(tmp_path):
    """The manifests written by the export itself (the hook) equal the reference's output
    for the same records."""
    cohort = write_cohort(tmp_path / "in", patients=2, series=2, instances=2)
    dest = tmp_path / "out"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        session.export(str(dest))
        records = list(session.store.iter_exports(str(dest)))
        profile = session.run.profile.name
    hook = {n: (dest / n).read_bytes() for n in NAMES}
    reference, current = _both(str(dest), records, profile=profile)
    assert dict(reference) == hook
    assert current == reference


@pytest.mark.parametrize("options", [
    {},
    {"thumbnails": False},
    {"thumbnail_size": 32, "max_html_series": 2, "profile": "ps3.15/basic"},
])
def test_manifests_are_byte_identical_to_the_reference(release, options):
    reference, current = _both(str(release["dest"]), release["records"], **options)
    assert [name for name, _ in current] == list(NAMES)
    for (name, old), (_, new) in zip(reference, current, strict=True):
        assert new == old, name
    csv_text = dict(current)["manifest.csv"].decode()
    for status in ("missing", "changed since export", "unreadable"):
        assert status in csv_text


def test_files_read_ahead_on_threads_give_the_same_bytes(release, monkeypatch):
    """Every file read and hashed on threads (large files are), results taken in order."""
    monkeypatch.setattr(manifest, "_THREADED_SIZE", 0)
    monkeypatch.setattr(manifest, "_AHEAD_BYTES", 4096)
    monkeypatch.setattr(manifest.os, "cpu_count", lambda: 3)
    reference, current = _both(str(release["dest"]), release["records"])
    assert current == reference


def test_large_images_are_byte_identical_to_the_reference(tmp_path):
    cohort = write_cohort(tmp_path / "in", patients=1, series=2, instances=3, rows=400,
                          cols=400)  # 320 kB files: read ahead on threads
    dest = tmp_path / "out"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        session.export(str(dest))
        records = list(session.store.iter_exports(str(dest)))
    assert min(r.size for r in records) >= manifest._THREADED_SIZE
    reference, current = _both(str(dest), records)
    assert current == reference


def test_table_export_manifest_is_byte_identical_to_the_reference(tmp_path):
    pytest.importorskip("pyarrow")
    cohort = write_cohort(tmp_path / "in", patients=2, series=1, instances=2)
    dest = tmp_path / "table.parquet"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        assert session.export(str(dest), format="parquet").failed == 0
        records = list(session.store.iter_exports(str(dest)))
    reference, current = _both(str(dest), records)
    assert current == reference


def test_no_spooling_with_a_store(tmp_path):
    """Per exported instance the plugin does nothing when the run has a store (the manifest
    reads the store); without one the records are spooled and read back whole."""
    from gantry_reports import plugin, spool

    record = ExportRecord("1.2.3", "2.25.1", str(tmp_path), "a/b.dcm", 10, "ab" * 32,
                          fields=(("Modality", "CT"), ("TransferSyntaxUID", "1.2.3")))

    class Run:
        run_id = "r1"
        store = object()

    plugin.gantry_exported(record=record, run=Run())
    assert list(spool.take("r1", str(tmp_path))) == []
    Run.store = None
    plugin.gantry_exported(record=record, run=Run())
    plugin.gantry_exported(record=record, run=Run())
    assert list(spool.take("r1", str(tmp_path))) == [record, record]
