"""Built-in ingest: folders, zips, single files; bad inputs recorded; conflicts reported."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file

from gantry.session import Session
from gantry.testing.factory import make_instance, write_cohort


@pytest.fixture
def session() -> Session:
    with Session("memory://") as s:
        yield s


def test_folder_is_read_recursively_whatever_the_file_names(tmp_path: Path, session) -> None:
    cohort = write_cohort(tmp_path / "in", patients=2, series=2, instances=2, names="phi")
    summary = session.ingest(tmp_path / "in")
    assert summary.done == len(cohort.paths) == 8
    assert summary.rejected == 0
    counts = session.store.counts()
    assert (counts.patients, counts.studies, counts.series, counts.instances) == (2, 2, 4, 8)


def test_zip_archive_and_single_file(tmp_path: Path, session) -> None:
    cohort = write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in cohort.paths:
            zf.write(path, arcname=f"deep/{path.name}")
    assert session.ingest(archive).done == 3
    single = tmp_path / "single"
    make_instance(patient=4).save_as(single, enforce_file_format=True)
    assert session.ingest(single).done == 1
    zipped = [i for i in session.instances() if i.source.startswith("zip://")]
    assert len(zipped) == 3
    assert zipped[0].load(pixels=True).PatientID.startswith("MRN000")


def test_bad_inputs_are_rejected_with_a_reason_and_the_run_goes_on(tmp_path: Path,
                                                                    session) -> None:
    folder = tmp_path / "in"
    write_cohort(folder, patients=1, series=1, instances=2)
    (folder / "notes.txt").write_text("this is not DICOM at all")
    (folder / "empty.dcm").write_bytes(b"")
    good = next(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".txt"
                and p.stat().st_size > 0)
    data = good.read_bytes()
    ds = make_instance(patient=5, rows=64, cols=64)
    ds.save_as(folder / "whole", enforce_file_format=True)
    whole = (folder / "whole").read_bytes()
    (folder / "whole").unlink()
    (folder / "truncated").write_bytes(whole[: len(whole) - 3000])
    (folder / "header-cut").write_bytes(data[:300])
    summary = session.ingest(folder)
    assert summary.done == 2
    assert summary.rejected == 4
    reasons = {Path(r.source).name: r.reason for r in session.store.iter_rejected()}
    assert reasons["notes.txt"].startswith("not a DICOM file")
    assert reasons["empty.dcm"] == "empty file"
    assert "truncated" in reasons["truncated"]
    assert "header-cut" in reasons


def test_dicomdir_is_recognised_as_an_index(tmp_path: Path, session) -> None:
    shutil.copy(get_testdata_file("DICOMDIR"), tmp_path / "DICOMDIR")
    summary = session.ingest(tmp_path)
    assert summary.done == 0 and summary.rejected == 0 and summary.skipped == 1
    (rejection,) = list(session.store.iter_rejected())
    assert "DICOMDIR" in rejection.reason and rejection.stage == "index"


def test_same_uid_with_different_content_is_a_conflict(tmp_path: Path, session) -> None:
    a = make_instance(patient=1)
    a.save_as(tmp_path / "a", enforce_file_format=True)
    b = make_instance(patient=1)
    b.SeriesDescription = "something else entirely"
    b.save_as(tmp_path / "b", enforce_file_format=True)
    shutil.copy(tmp_path / "a", tmp_path / "c")  # a true duplicate
    summary = session.ingest(tmp_path)
    assert summary.done == 1
    assert summary.conflicts == 1
    assert summary.duplicates == 1
    assert len(list(session.store.iter_conflicts())) == 1


def test_ingest_twice_skips_what_is_done(tmp_path: Path, session) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    assert session.ingest(tmp_path / "in").done == 3
    again = session.ingest(tmp_path / "in")
    assert again.done == 0 and again.skipped == 3


def test_pydicom_test_files_ingest_without_crashing(tmp_path: Path, session) -> None:
    folder = Path(get_testdata_file("CT_small.dcm")).parent
    summary = session.ingest(folder)
    assert summary.done > 20
    for rejection in session.store.iter_rejected():
        assert rejection.reason  # every skipped file says why


def test_instance_loads_on_demand_and_unloads_pixels(tmp_path: Path, session) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    session.ingest(tmp_path / "in")
    (inst,) = list(session.instances())
    assert not inst.is_loaded
    assert "PixelData" in inst.dataset
    inst.unload_pixel_data()
    assert "PixelData" not in inst.load(pixels=False)
    assert pydicom.dcmread(inst.source).PixelData  # the original is untouched
