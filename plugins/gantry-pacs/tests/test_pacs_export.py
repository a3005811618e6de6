"""The dicom-dimse exporter: C-STORE to Orthanc and to dcmtk's storescp, good and bad."""

from __future__ import annotations

from pathlib import Path

import pytest
from pacs_peers import (
    CALLER,
    SECRET,
    free_port,
    needs_dcmtk,
    pacs_profile,
    start_process,
    stop_process,
)
from pydicom import dcmread

from gantry import Session
from gantry.testing.factory import iter_files, make_instance, write_cohort

pytestmark = [pytest.mark.component]


def _session(tmp_path: Path, **settings: object) -> Session:
    settings.setdefault("calling_aet", CALLER)
    settings.setdefault("retry_wait", 0.05)
    folder = tmp_path / "profile"
    folder.mkdir(exist_ok=True)
    return Session(f"sqlite:///{tmp_path / 'work.db'}", profile=str(pacs_profile(folder,
                                                                                **settings)),
                   workers=1, secret=SECRET)


@pytest.fixture
def storescp(tmp_path: Path):
    """Start dcmtk storescp with extra options; stopped at the end of the test."""
    procs = []

    def start(*options: str) -> tuple[str, Path]:
        port = free_port()
        out = tmp_path / f"received-{port}"
        out.mkdir()
        procs.append(start_process(["storescp", "--aetitle", "STORESCP", "--output-directory",
                                    str(out), *options, str(port)], port))
        return f"dimse://STORESCP@127.0.0.1:{port}", out

    yield start
    for proc in procs:
        stop_process(proc)


def test_push_to_orthanc_then_resume_sends_nothing(tmp_path: Path, orthanc) -> None:
    orthanc.clear()
    planted = write_cohort(tmp_path / "in", patients=2, series=1, instances=3)
    with _session(tmp_path) as session:
        _ingest, export = session.deidentify(tmp_path / "in", orthanc.url())
        assert (export.done, export.failed) == (6, 0)
        assert len(session.store.exported_uids(orthanc.url())) == 6
    assert orthanc.instance_count() == 6
    stored = orthanc.rest("/instances?expand")
    assert all(i["MainDicomTags"]["SOPInstanceUID"].startswith("2.25.")
               for i in stored)  # type: ignore[union-attr]
    with _session(tmp_path) as session:
        export = session.export(orthanc.url())
    assert (export.done, export.skipped) == (0, 6)
    assert planted.tokens


@needs_dcmtk
def test_compressed_instances_fall_back_to_what_the_peer_accepts(tmp_path: Path,
                                                                 storescp) -> None:
    """storescp accepts only uncompressed syntaxes (its default): an RLE instance is
    decompressed; an explicit VR instance to +xi (implicit only) is re-encoded implicit."""
    from pydicom.uid import ImplicitVRLittleEndian, RLELossless

    src = tmp_path / "in"
    src.mkdir()
    ds = make_instance(patient=1, instance=1, rows=16, cols=16)
    ds.compress(RLELossless)
    ds.save_as(src / "rle.dcm", enforce_file_format=True)
    make_instance(patient=1, instance=2).save_as(src / "plain.dcm", enforce_file_format=True)
    url, out = storescp()
    with _session(tmp_path) as session:
        _, export = session.deidentify(src, url)
    assert (export.done, export.failed) == (2, 0), export.errors
    syntaxes = {str(dcmread(p).file_meta.TransferSyntaxUID) for p in iter_files(out)}
    assert syntaxes == {"1.2.840.10008.1.2.1"}
    url, out = storescp("+xi")
    (tmp_path / "b").mkdir()
    with _session(tmp_path / "b") as session:
        _, export = session.deidentify(src, url)
    assert (export.done, export.failed) == (2, 0), export.errors
    assert {dcmread(p).file_meta.TransferSyntaxUID for p in iter_files(out)} == \
        {ImplicitVRLittleEndian}


@needs_dcmtk
@pytest.mark.parametrize("option", ["--refuse", "--abort-during", "--abort-after"])
def test_bad_peer_fails_each_instance_and_marks_nothing_exported(tmp_path: Path, storescp,
                                                                 option: str) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    url, _ = storescp(option)
    with _session(tmp_path, retries=1) as session:
        _, export = session.deidentify(tmp_path / "in", url)
        assert (export.done, export.failed) == (0, 3)
        assert session.store.exported_uids(url) == set()
    assert all("STORESCP@127.0.0.1" in e for e in export.errors), export.errors
    assert len({e.split(": ", 1)[1].split(":")[0] for e in export.errors}) >= 1


@needs_dcmtk
def test_a_peer_that_times_out(tmp_path: Path, storescp) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    url, _ = storescp("--sleep-during", "5")
    with _session(tmp_path, retries=0, dimse_timeout=1, network_timeout=1) as session:
        _, export = session.deidentify(tmp_path / "in", url)
        assert (export.done, export.failed) == (0, 1)
        assert session.store.exported_uids(url) == set()
    assert "aborted or timed out" in export.errors[0]


def test_unreachable_destination(tmp_path: Path) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    port = free_port()
    with _session(tmp_path, retries=0, connect_timeout=2) as session:
        _, export = session.deidentify(tmp_path / "in", f"dimse://NOBODY@127.0.0.1:{port}")
    assert (export.done, export.failed) == (0, 2)
    assert all(f"NOBODY@127.0.0.1:{port}: cannot connect" in e for e in export.errors)


def test_a_destination_with_a_query_is_refused(tmp_path: Path) -> None:
    from gantry.api import ExportError

    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    with _session(tmp_path) as session, pytest.raises(ExportError, match="takes no query"):
        session.deidentify(tmp_path / "in", "dimse://X@127.0.0.1:104?PatientID=1")
