"""The dimse:// ingestor against a real Orthanc: C-FIND, C-GET, C-MOVE, resume, bad peers."""

from __future__ import annotations

from pathlib import Path

import pytest
from pacs_peers import CALLER, MOVER, SECRET, STRANGER, pacs_profile

from gantry import Session
from gantry.testing.factory import iter_files, write_cohort

pytestmark = [pytest.mark.component]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory, orthanc):
    root = tmp_path_factory.mktemp("cohort")
    planted = write_cohort(root, patients=2, studies=1, series=2, instances=3)
    orthanc.upload(planted.paths)
    return planted


def _session(tmp_path: Path, orthanc, **settings: object) -> Session:
    settings.setdefault("calling_aet", CALLER)
    settings.setdefault("spool", str(tmp_path / "spool"))
    settings.setdefault("bind_host", "127.0.0.1")
    settings.setdefault("retry_wait", 0.05)
    profile = pacs_profile(tmp_path, **settings)
    return Session(f"sqlite:///{tmp_path / 'work.db'}", profile=str(profile), workers=1,
                   secret=SECRET)


def _leaks(folder: Path, tokens: set[str]) -> list[str]:
    found = []
    for path in iter_files(folder):
        data = path.read_bytes()
        found += [f"{path.name}: {t}" for t in tokens if t.encode() in data]
    return found


def test_deidentify_from_orthanc_by_cget_then_resume(tmp_path: Path, orthanc, cohort) -> None:
    """C-GET every instance, de-identify, nothing planted survives; a second run retrieves
    nothing (the store holds it all) and writes nothing new."""
    out = tmp_path / "out"
    with _session(tmp_path, orthanc) as session:
        ingest, export = session.deidentify(orthanc.url(), out)
    assert (ingest.done, ingest.rejected, export.done, export.failed) == (12, 0, 12, 0)
    assert len([p for p in iter_files(out) if p.suffix == ".dcm"]) == 12
    assert _leaks(out, cohort.tokens) == []
    spool = tmp_path / "spool"
    before = {p: p.stat().st_mtime_ns for p in iter_files(spool)}
    with _session(tmp_path, orthanc) as session:
        ingest, export = session.deidentify(orthanc.url(), out)
    assert (ingest.done, ingest.skipped, export.done) == (0, 12, 0)
    assert {p: p.stat().st_mtime_ns for p in iter_files(spool)} == before  # not fetched again


def test_query_keys_select_studies(tmp_path: Path, orthanc, cohort) -> None:
    """Keys narrow the C-FIND: one patient's study, then one series by Modality and number."""
    patient = next(t for t in cohort.tokens if t.startswith("MRN000"))
    with _session(tmp_path, orthanc) as session:
        ingest = session.ingest(orthanc.url(f"PatientID={patient}&Modality=CT"))
        assert ingest.done == 6
        assert {i.patient_id for i in session.instances()} == {patient}
    (tmp_path / "b").mkdir()
    with _session(tmp_path / "b", orthanc) as s:
        ingest = s.ingest(orthanc.url("PatientID=MRN00*&StudyDate=19000101-20991231"
                                      "&SeriesNumber=2"))
        assert ingest.done == 6  # SeriesNumber 2 of both patients' studies
        assert ingest.done == len(list(s.instances()))


def test_cmove_to_our_own_scp(tmp_path: Path, orthanc, cohort) -> None:
    """?retrieve=move: our SCP (the move destination Orthanc knows) receives every instance."""
    with _session(tmp_path, orthanc, move_aet=MOVER, move_port=orthanc.move_port) as session:
        ingest = session.ingest(orthanc.url("retrieve=move"))
    assert (ingest.done, ingest.rejected) == (12, 0)


def test_cmove_to_an_unknown_destination_is_one_error_per_study(tmp_path: Path, orthanc,
                                                                 cohort) -> None:
    """Orthanc answers 0xC000 for a destination it does not know: each study is rejected
    with one line naming the peer and the status; the run finishes."""
    with _session(tmp_path, orthanc, move_aet="UNKNOWNDEST",
                  move_port=orthanc.move_port) as session:
        ingest = session.ingest(orthanc.url("retrieve=move"))
    assert ingest.done == 0 and ingest.rejected == 12
    assert all("ORTHANC@127.0.0.1" in e and "C-MOVE" in e and "0xC000" in e
               for e in ingest.errors), ingest.errors[:3]


def test_unknown_calling_aet_is_an_error_naming_the_peer(tmp_path: Path, orthanc,
                                                         cohort) -> None:
    """Orthanc aborts a C-FIND from an AE title it does not know: a clear error, not an
    empty result."""
    from gantry.api import InputError

    with _session(tmp_path, orthanc, calling_aet=STRANGER) as session, \
            pytest.raises(InputError, match=r"ORTHANC@127\.0\.0\.1:\d+.*C-FIND"):
        session.ingest(orthanc.url())


def test_unreachable_peer_is_one_error(tmp_path: Path, orthanc) -> None:
    from pacs_peers import free_port

    from gantry.api import InputError

    port = free_port()
    with _session(tmp_path, orthanc, connect_timeout=2, retries=0) as session, \
            pytest.raises(InputError, match=rf"PACS@127\.0\.0\.1:{port}: cannot connect"):
        session.ingest(f"dimse://PACS@127.0.0.1:{port}")


def test_rejected_called_aet(tmp_path: Path, orthanc) -> None:
    from gantry.api import InputError

    with _session(tmp_path, orthanc) as session, \
            pytest.raises(InputError, match="association rejected: called AE title"):
        session.ingest(f"dimse://WRONGAET@127.0.0.1:{orthanc.port}")


def test_bad_url_and_bad_settings(tmp_path: Path, orthanc) -> None:
    from gantry.api import InputError, ProfileError

    with _session(tmp_path, orthanc) as session:
        with pytest.raises(InputError, match="not a matching key"):
            session.ingest(orthanc.url("NoSuchKey=1"))
        with pytest.raises(InputError, match="port is missing"):
            session.ingest("dimse://ORTHANC@127.0.0.1")
    (tmp_path / "x").mkdir()
    with pytest.raises(ProfileError, match="max_pdu"):
        _session(tmp_path / "x", orthanc, max_pdu=-1).close()


def test_count_comes_from_cfind(tmp_path: Path, orthanc, cohort) -> None:
    """The progress total is the study-level C-FIND's instance count."""
    import threading

    from gantry_pacs.ingest import count, discover

    with _session(tmp_path, orthanc) as session:
        found: list[int | None] = []
        items = discover(orthanc.url(), session.run)
        first = next(items)
        thread = threading.Thread(target=lambda: found.append(count(orthanc.url())))
        thread.start()
        thread.join(10)
        rest = list(items)
    assert found == [12]
    assert 1 + len(rest) == 12 and Path(first.source).is_file()


def test_an_instance_the_peer_does_not_send_is_one_rejection(tmp_path: Path, orthanc,
                                                             cohort) -> None:
    """Per-instance accounting: of a series' instances asked for, the ones that arrive are
    yielded as files and each missing one (here: an instance C-FIND did not list, so the peer
    cannot send it) becomes one rejection naming the peer and the instance, after retries."""
    from gantry_pacs.client import FindClient, Getter, InstanceRef
    from gantry_pacs.ingest import _series
    from gantry_pacs.settings import PacsSettings
    from gantry_pacs.url import parse_url

    from gantry.api import Rejection, SourceItem

    url = parse_url(orthanc.url())
    settings = PacsSettings(calling_aet=CALLER, retries=1, retry_wait=0.01)
    with FindClient(url, settings) as finder:
        study = finder.studies()[0]
        series = finder.series(study)[0]
        refs = finder.instances(series)
    refs.append(InstanceRef("1.2.826.0.1.3680043.10.999.424242", refs[0].sop_class))
    getter = Getter(url, settings)
    try:
        items = list(_series(url, settings, getter.fetch, series, refs, str(tmp_path), None))
    finally:
        getter.close()
    files = [i for i in items if isinstance(i, SourceItem)]
    rejected = [i for i in items if isinstance(i, Rejection)]
    assert len(files) == len(refs) - 1 and all(Path(f.source).is_file() for f in files)
    assert len(rejected) == 1 and rejected[0].source.endswith("/1.2.826.0.1.3680043.10.999.424242")
    assert "ORTHANC@127.0.0.1" in rejected[0].reason and "not retrieved" in rejected[0].reason
