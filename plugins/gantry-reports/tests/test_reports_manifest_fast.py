"""The manifest's per-file fast path (``headerscan.HeaderReader``, folder resolution once per
folder, files read ahead on threads, no spooling with a store) writes exactly what the
implementation before it (every file through ``dcmread``) wrote.

The header reader is compared with ``dcmread`` itself. The manifests are compared, byte for
byte, with the files under ``manifest_expected/``: a release of files of every layout (and a
missing one, a changed one, symlinks, duplicates) with its export records, and the manifests
the ``dcmread`` implementation wrote for it, for several options. They were checked against
that implementation when it was retired. After an intended change of the output, rewrite them
with ``python plugins/gantry-reports/tests/test_reports_manifest_fast.py --write-expected``
and review the diff.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import shutil
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


EXPECTED = Path(__file__).with_name("manifest_expected")
#: Option sets with expected manifests: folder name -> write_manifests options.
CASES = {
    "default": {},
    "no-thumbnails": {"thumbnails": False},
    "small": {"thumbnail_size": 32, "max_html_series": 2, "profile": "ps3.15/basic"},
}
#: The tool versions the expected manifests name (the real ones differ between machines).
TOOLS = {"gantry": "0.0.0", "gantry-reports": "0.0.0", "pydicom": "0.0.0",
         "python": "0.0.0", "plugins": [{"name": "reports", "version": "0.0.0",
                                         "distribution": "gantry-reports", "status": "loaded"}]}
DEST = "@DEST@"


@pytest.fixture(autouse=True)
def _fixed_versions(monkeypatch):
    from gantry_reports import versions

    monkeypatch.setattr(versions, "tool_versions", lambda hooks=None: TOOLS)


def _written(destination: str, records: list[ExportRecord], **options) -> list:
    """``[(name, bytes)]`` of the manifests the current implementation writes."""
    paths = manifest.write_manifests(destination, list(records), **options)
    return [(p.name, p.read_bytes()) for p in paths]


def _expected(case: str) -> list:
    folder = EXPECTED / "manifests" / case
    return [(name, (folder / name).read_bytes()) for name in NAMES]


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
    out["garbage"] = (b"\0" * 128 + b"DICM" + random.Random(7).randbytes(300), False)
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


def _build_release(root: Path) -> tuple[Path, list[ExportRecord]]:
    """A factory cohort exported (memory store) under ``root/out``, plus files of every
    layout, a missing one, a changed one, symlinks and duplicates among its records (what
    ``manifest_expected/`` holds, made afresh by ``--write-expected``)."""
    cohort = write_cohort(root / "in", patients=3, series=2, instances=3, rows=24, cols=20)
    dest = root / "out"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        assert session.export(str(dest)).failed == 0
        records = list(session.store.iter_exports(str(dest)))
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
    (root / "outside.dcm").write_bytes(_bytes(make_instance(instance=30)))
    add("layouts/link-inside.dcm", None)
    add("layouts/link-outside.dcm", None)
    add(f"linked-folder/{cohort.paths[0].relative_to(cohort.root)}", None)
    add("../outside.dcm", None)
    add("layouts/../layouts/link-inside.dcm", None)
    add("layouts", None)  # a folder, not a file
    records.append(records[3])  # the same file twice
    for path in (root / "in").rglob("*"):  # the linked folder needs only its one file
        if path.is_file() and path != cohort.paths[0]:
            path.unlink()
    for name in NAMES:  # the export's own manifests: made again by every test
        (dest / name).unlink()
    return dest, records


def _link(root: Path, records: list[ExportRecord]) -> None:
    """The release's symlinks (made here: git keeps no links that leave a folder)."""
    dest = root / "out"
    os.symlink(dest / records[1].path, dest / "layouts" / "link-inside.dcm")
    os.symlink(root / "outside.dcm", dest / "layouts" / "link-outside.dcm")
    os.symlink(root / "in", dest / "linked-folder")


def _save_records(records: list[ExportRecord], dest: Path, path: Path) -> None:
    rows = [{**dataclasses.asdict(r), "destination": DEST} for r in records]
    assert all(r.destination == str(dest) for r in records)
    path.write_text(json.dumps(rows, indent=1) + "\n")


def _load_records(path: Path, dest: Path) -> list[ExportRecord]:
    return [ExportRecord(**{**row, "destination": str(dest),
                            "fields": tuple(tuple(pair) for pair in row["fields"])})
            for row in json.loads(path.read_text())]


def _copy_release(name: str, root: Path) -> tuple[Path, list[ExportRecord]]:
    """A committed release under ``root``: its files (with their recorded modification times,
    so that unchanged files are trusted as the export left them), links and records."""
    shutil.copytree(EXPECTED / name, root, symlinks=False)
    records_file = root / "records.json"
    dest = root / "out"
    records = _load_records(records_file, dest)
    records_file.unlink()
    for record in records:
        if record.mtime_ns and (dest / record.path).is_file():
            os.utime(dest / record.path, ns=(record.mtime_ns, record.mtime_ns))
    return dest, records


@pytest.fixture
def release(tmp_path):
    dest, records = _copy_release("release", tmp_path / "release")
    _link(tmp_path / "release", records)
    return {"dest": dest, "records": records}


@pytest.mark.parametrize("case", list(CASES))
def test_manifests_are_byte_identical_to_the_expected_files(release, case):
    current = _written(str(release["dest"]), release["records"], **CASES[case])
    assert [name for name, _ in current] == list(NAMES)
    for (name, new), (_, old) in zip(current, _expected(case), strict=True):
        assert new == old, name
    csv_text = dict(current)["manifest.csv"].decode()
    for status in ("missing", "changed since export", "unreadable"):
        assert status in csv_text


def test_files_read_ahead_on_threads_give_the_same_bytes(release, monkeypatch):
    """Every file read and hashed on threads (large files are), results taken in order."""
    monkeypatch.setattr(manifest, "_THREADED_SIZE", 0)
    monkeypatch.setattr(manifest, "_AHEAD_BYTES", 4096)
    monkeypatch.setattr(manifest.os, "cpu_count", lambda: 3)
    assert _written(str(release["dest"]), release["records"]) == _expected("default")


def test_trusted_and_rehashed_files_give_the_same_bytes(release):
    """``rehash`` reads every file again instead of trusting an unchanged one's record."""
    assert _written(str(release["dest"]), release["records"], rehash=True) \
        == _expected("default")


def test_export_hook_writes_what_the_writer_writes(tmp_path):
    """The manifests written by the export itself (the hook) equal the writer's output for
    the same records."""
    cohort = write_cohort(tmp_path / "in", patients=2, series=2, instances=2)
    dest = tmp_path / "out"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        session.export(str(dest))
        records = list(session.store.iter_exports(str(dest)))
        profile = session.run.profile.name
    hook = {n: (dest / n).read_bytes() for n in NAMES}
    assert dict(_written(str(dest), records, profile=profile)) == hook


def test_large_images_read_on_threads_give_the_same_bytes(tmp_path, monkeypatch):
    cohort = write_cohort(tmp_path / "in", patients=1, series=2, instances=3, rows=400,
                          cols=400)  # 320 kB files: read ahead on threads
    dest = tmp_path / "out"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        session.export(str(dest))
        records = list(session.store.iter_exports(str(dest)))
    assert min(r.size for r in records) >= manifest._THREADED_SIZE
    threaded = _written(str(dest), records, rehash=True)
    monkeypatch.setattr(manifest, "_THREADED_SIZE", 1 << 40)
    assert _written(str(dest), records, rehash=True) == threaded


def _build_table(root: Path) -> tuple[Path, list[ExportRecord]]:
    cohort = write_cohort(root / "in", patients=2, series=1, instances=2)
    dest = root / "out" / "table.parquet"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        assert session.export(str(dest), format="parquet").failed == 0
        records = list(session.store.iter_exports(str(dest)))
    shutil.rmtree(root / "in")
    for path in (root / "out").iterdir():
        if path.name != "table.parquet":
            path.unlink()
    return dest, records


def test_table_export_manifest_is_byte_identical_to_the_expected_files(tmp_path):
    pytest.importorskip("pyarrow")
    root = tmp_path / "table"
    shutil.copytree(EXPECTED / "table", root)
    records = _load_records(root / "records.json", root / "out" / "table.parquet")
    (root / "records.json").unlink()
    current = _written(str(root / "out" / "table.parquet"), records)
    folder = EXPECTED / "manifests" / "table"
    assert current == [(name, (folder / name).read_bytes()) for name, _ in current]


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


def _write_expected() -> None:
    """Rewrite ``manifest_expected/`` from the current code: the releases, then the
    manifests the current writer makes of them (with :data:`TOOLS` for the versions)."""
    import tempfile

    from gantry_reports import versions

    versions.tool_versions = lambda hooks=None: TOOLS
    shutil.rmtree(EXPECTED, ignore_errors=True)
    with tempfile.TemporaryDirectory() as tmp:
        dest, records = _build_release(Path(tmp) / "release")
        shutil.copytree(Path(tmp) / "release", EXPECTED / "release")
        _save_records(records, dest, EXPECTED / "release" / "records.json")
        dest, records = _build_table(Path(tmp) / "table")
        shutil.copytree(Path(tmp) / "table", EXPECTED / "table")
        _save_records(records, dest, EXPECTED / "table" / "records.json")
        for case, options in CASES.items():
            root = Path(tmp) / case
            dest, records = _copy_release("release", root)
            _link(root, records)
            _keep(_written(str(dest), records, **options), EXPECTED / "manifests" / case)
        shutil.copytree(EXPECTED / "table", Path(tmp) / "table-copy")
        records = _load_records(Path(tmp) / "table-copy" / "records.json",
                                Path(tmp) / "table-copy" / "out" / "table.parquet")
        _keep(_written(str(Path(tmp) / "table-copy" / "out" / "table.parquet"), records),
              EXPECTED / "manifests" / "table")



def test_table_counts_import_pyarrow_only_for_a_parquet_table(tmp_path):
    """A table-like export with no parquet file (NIfTI volumes) is counted without importing
    pyarrow (0.4 s and 100 MB in the parent at the end of every NIfTI export)."""
    import subprocess

    pytest.importorskip("pyarrow.dataset")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "1_x.nii.gz").write_bytes(b"\x1f\x8b")
    code = ("import sys; from gantry_reports.manifest import _table_counts; "
            f"_table_counts({str(tmp_path)!r}, set(), set(), {{}}, [], set()); "
            "print('pyarrow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"

def _keep(files: list, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files:
        (folder / name).write_bytes(data)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write-expected"]:
        raise SystemExit(f"usage: python {sys.argv[0]} --write-expected")
    _write_expected()
