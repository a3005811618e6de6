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


def _session(tmp_path: Path, workers: int = 1, **settings: object) -> Session:
    settings.setdefault("calling_aet", CALLER)
    settings.setdefault("retry_wait", 0.05)
    folder = tmp_path / "profile"
    folder.mkdir(exist_ok=True)
    return Session(f"sqlite:///{tmp_path / 'work.db'}", profile=str(pacs_profile(folder,
                                                                                **settings)),
                   workers=workers, secret=SECRET)


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
    """Orthanc supports Storage Commitment: each instance is exported once committed (its
    report comes on a new association to commitment_port), and audited with the
    transaction."""
    orthanc.clear()
    planted = write_cohort(tmp_path / "in", patients=2, series=1, instances=3)
    with _session(tmp_path, commitment_port=orthanc.caller_port) as session:
        _ingest, export = session.deidentify(tmp_path / "in", orthanc.url())
        assert (export.done, export.failed) == (6, 0), export.errors
        assert len(session.store.exported_uids(orthanc.url())) == 6
        committed = [e for e in session.store.iter_events() if e.kind == "pacs-committed"]
        exported = {e.subject for e in session.store.iter_events() if e.kind == "exported"}
    assert {e.subject for e in committed} == exported and len(exported) == 6
    assert len({e.detail["transaction_uid"] for e in committed}) == 1  # one unit, one ask
    assert orthanc.instance_count() == 6
    stored = orthanc.rest("/instances?expand")
    assert all(i["MainDicomTags"]["SOPInstanceUID"].startswith("2.25.")
               for i in stored)  # type: ignore[union-attr]
    with _session(tmp_path, commitment_port=orthanc.caller_port) as session:
        export = session.export(orthanc.url())
    assert (export.done, export.skipped) == (0, 6)
    assert planted.tokens


def test_workers_take_turns_at_the_commitment_port(tmp_path: Path, orthanc) -> None:
    """Two worker processes export series at once; each unit's report comes to the one
    commitment_port (a lock lets one worker listen at a time): every instance committed."""
    orthanc.clear()
    write_cohort(tmp_path / "in", patients=2, series=2, instances=2)
    with _session(tmp_path, workers=2, commitment_port=orthanc.caller_port) as session:
        session.ingest(tmp_path / "in")
        export = session.export(orthanc.url())
        assert (export.done, export.failed) == (8, 0), export.errors
        committed = [e for e in session.store.iter_events() if e.kind == "pacs-committed"]
    assert len(committed) == 8
    assert len({e.detail["transaction_uid"] for e in committed}) == 4  # a unit per series
    assert orthanc.instance_count() == 8


def test_a_commitment_report_that_never_comes_fails_the_instances(tmp_path: Path,
                                                                  orthanc) -> None:
    """Orthanc reports on a new association: ``required`` with no commitment_port hears
    nothing, the wait runs out and nothing is marked exported (the error says what to set);
    ``if-supported`` without a commitment_port does not ask (the report says so), and
    exports on the C-STORE responses alone, as ``off`` does."""
    orthanc.clear()
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    with _session(tmp_path, commitment="required", commitment_timeout=1) as session:
        _, export = session.deidentify(tmp_path / "in", orthanc.url())
        assert (export.done, export.failed) == (0, 2)
        assert session.store.exported_uids(orthanc.url()) == set()
    assert all("no storage commitment report within 1 s" in e and "commitment_port" in e
               for e in export.errors), export.errors
    for mode in ("if-supported", "off"):
        (tmp_path / mode).mkdir()
        with _session(tmp_path / mode, commitment=mode) as session:
            _, export = session.deidentify(tmp_path / "in", orthanc.url())
            assert (export.done, export.failed) == (2, 0), export.errors
            assert not [e for e in session.store.iter_events() if e.kind == "pacs-committed"]
        asked = [n for n in export.notes if "storage commitment not asked" in n]
        assert len(asked) == (mode == "if-supported"), export.notes


@needs_dcmtk
def test_commitment_required_and_a_peer_without_it(tmp_path: Path, storescp) -> None:
    """storescp has no Storage Commitment: ``required`` sends nothing and fails each
    instance saying so; ``if-supported`` (the default) exports on C-STORE alone."""
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    url, out = storescp()
    with _session(tmp_path, commitment="required") as session:
        _, export = session.deidentify(tmp_path / "in", url)
        assert (export.done, export.failed) == (0, 2)
        assert session.store.exported_uids(url) == set()
    assert all("does not support Storage Commitment" in e for e in export.errors)
    assert list(iter_files(out)) == []
    with _session(tmp_path) as session:
        export = session.export(url)
    assert (export.done, export.failed) == (2, 0), export.errors
    assert len(list(iter_files(out))) == 2


class _CommitScp:
    """An in-process pynetdicom SCP that stores in memory and answers each storage
    commitment request on the same association: instances whose SOP instance UID is in
    ``fail`` are reported failed (0x0110), those in ``forget`` are left out."""

    def __init__(self) -> None:
        from pynetdicom import AE, evt
        from pynetdicom.presentation import AllStoragePresentationContexts

        self.stored: set[str] = set()
        self.fail: set[str] = set()
        self.forget: set[str] = set()
        self.requests = 0
        self.port = free_port()
        ae = AE(ae_title="COMMITSCP")
        for cx in AllStoragePresentationContexts[:120]:
            ae.add_supported_context(cx.abstract_syntax)
        ae.add_supported_context("1.2.840.10008.1.20.1")
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[
            (evt.EVT_C_STORE, self._store), (evt.EVT_N_ACTION, self._action)])

    def url(self) -> str:
        return f"dimse://COMMITSCP@127.0.0.1:{self.port}"

    def _store(self, event) -> int:
        self.stored.add(str(event.request.AffectedSOPInstanceUID))
        return 0x0000

    def _action(self, event):
        import threading
        import time

        from pydicom import Dataset

        self.requests += 1
        asked = event.action_information
        report = Dataset()
        report.TransactionUID = asked.TransactionUID
        ok, failed = [], []
        for item in asked.ReferencedSOPSequence:
            uid = str(item.ReferencedSOPInstanceUID)
            if uid in self.forget:
                continue
            out = Dataset()
            out.ReferencedSOPClassUID = item.ReferencedSOPClassUID
            out.ReferencedSOPInstanceUID = uid
            if uid in self.fail or uid not in self.stored:
                out.FailureReason = 0x0110
                failed.append(out)
            else:
                ok.append(out)
        report.ReferencedSOPSequence = ok
        if failed:
            report.FailedSOPSequence = failed
        assoc = event.assoc

        def send() -> None:  # after the N-ACTION response, on the same association
            time.sleep(0.2)
            assoc.send_n_event_report(report, 2 if failed else 1, "1.2.840.10008.1.20.1",
                                      "1.2.840.10008.1.20.1.1")

        threading.Thread(target=send, daemon=True).start()
        return 0x0000, None

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def commit_scp():
    scp = _CommitScp()
    yield scp
    scp.close()


def test_commitment_failures_are_failed_instances(tmp_path: Path, commit_scp) -> None:
    """``required``, a peer that reports on the same association (no commitment_port
    needed) and reports some instances failed (and leaves one out of its report): those
    fail with the peer's reason, only the committed ones are exported, and a resume
    sends again exactly the ones that were not committed."""
    write_cohort(tmp_path / "in", patients=1, series=1, instances=4)
    url = commit_scp.url()

    with _session(tmp_path, commitment="required") as session:
        session.ingest(tmp_path / "in")
        first = session.export(url)
        assert (first.done, first.failed) == (4, 0), first.errors
    originals = sorted(commit_scp.stored)
    commit_scp.fail = {originals[0]}
    commit_scp.forget = {originals[1]}
    (tmp_path / "again").mkdir()
    with _session(tmp_path / "again", commitment="required") as session:
        session.ingest(tmp_path / "in")
        export = session.export(url)
        assert (export.done, export.failed) == (2, 2), export.errors
        assert len(session.store.exported_uids(url)) == 2
        failed = [e for e in session.store.iter_events() if e.kind == "failed"]
        assert len(failed) == 2
        statuses = {session.store.get_status(i.sop_instance_uid) for i in session.instances()}
        assert statuses == {"exported", "failed"}
    text = "\n".join(export.errors)
    assert "COMMITSCP@127.0.0.1" in text
    assert "storage commitment of" in text and "0x0110 (processing failure)" in text
    assert "not in the peer's report" in text
    commit_scp.fail = commit_scp.forget = set()
    commit_scp.stored.clear()
    with _session(tmp_path / "again", commitment="required") as session:
        resumed = session.export(url)
    assert (resumed.done, resumed.skipped, resumed.failed) == (2, 2, 0), resumed.errors
    assert commit_scp.stored == set(originals[:2])  # only those not committed, sent again


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
