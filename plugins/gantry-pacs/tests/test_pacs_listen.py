"""``gantry listen`` as a process: storescu sends, the listener de-identifies and exports."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pacs_peers import (
    CALLER,
    SECRET,
    SECRET_HEX,
    free_port,
    needs_dcmtk,
    pacs_profile,
    stop_process,
    wait_port,
)

from gantry import Session
from gantry.testing.factory import iter_files, make_instance, write_cohort

pytestmark = [pytest.mark.component, pytest.mark.slow, needs_dcmtk]
GANTRY = str(Path(sys.executable).parent / "gantry")


class Running:
    """A ``gantry listen`` process and what it was given."""

    def __init__(self, proc: subprocess.Popen, port: int, db: str, log: Path,
                 spool: Path) -> None:
        self.proc, self.port, self.db, self.log, self.spool = proc, port, db, log, spool

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)

    def text(self) -> str:
        return self.log.read_text()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator:
    started: list[Running] = []

    def start(*args: str, settings: dict | None = None, db: str | None = None,
              spool: Path | None = None, port: int | None = None) -> Running:
        port = port or free_port()
        db = db or f"sqlite:///{tmp_path / 'listen.db'}"
        spool = spool or tmp_path / "spool"
        folder = tmp_path / f"profile-{port}"
        folder.mkdir(exist_ok=True)
        profile = pacs_profile(folder, **{"bind_host": "127.0.0.1", "spool": str(spool),
                                          "study_stable_seconds": 1, **(settings or {})})
        log = tmp_path / f"listen-{port}.log"
        env = {**os.environ, "GANTRY_SECRET": SECRET_HEX}
        proc = subprocess.Popen([GANTRY, "listen", *args, "--aet", "GANTRY", "--port",
                                 str(port), "--db", db, "-p", str(profile), "-j", "1"],
                                stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)
        running = Running(proc, port, db, log, spool)
        started.append(running)
        wait_port(port, timeout=30, proc=proc)
        return running

    yield start
    for running in started:
        stop_process(running.proc, timeout=30)


def _storescu(port: int, *paths: Path, aet: str = "MODALITY") -> subprocess.CompletedProcess:
    return subprocess.run(["storescu", "-aet", aet, "-aec", "GANTRY", "+sd", "+r",
                           "127.0.0.1", str(port), *map(str, paths)],
                          capture_output=True, text=True, timeout=60)


def _wait_files(folder: Path, n: int, timeout: float = 60) -> list[Path]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [p for p in iter_files(folder) if p.suffix == ".dcm"] if folder.exists() else []
        if len(found) >= n:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{folder}: {len(found)} of {n} files after {timeout} s")


def _leaks(paths: list[Path], tokens: set[str]) -> list[str]:
    return [f"{p.name}: {t}" for p in paths for t in tokens if t.encode() in p.read_bytes()]


def _corrupt_then_good(tmp_path: Path, port: int) -> tuple[int, int]:
    """Send, on one association, a C-STORE whose data set does not parse, then a good one;
    their statuses."""
    from pydicom.uid import ExplicitVRLittleEndian
    from pynetdicom import AE, _config

    good = make_instance(patient=3, instance=1)
    good_path = tmp_path / "good.dcm"
    good.save_as(good_path, enforce_file_format=True)
    bad_path = tmp_path / "bad.dcm"
    make_instance(patient=3, instance=2).save_as(bad_path, enforce_file_format=True)
    data = bad_path.read_bytes()
    meta_end = 132 + 12 + int.from_bytes(data[140:144], "little")
    bad_path.write_bytes(data[:meta_end] + b"\x08\x00\x16\x00UI\xff\x7f" + os.urandom(64))
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(good.SOPClassUID, ExplicitVRLittleEndian)
        assoc = ae.associate("127.0.0.1", port, ae_title="GANTRY")
        assert assoc.is_established
        bad_status = assoc.send_c_store(str(bad_path))
        good_status = assoc.send_c_store(str(good_path))
        assoc.release()
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False
    return int(bad_status.Status), int(good_status.Status)


def _echo(port: int, aet: str) -> int:
    return subprocess.run(["echoscu", "-aet", aet, "-aec", "GANTRY", "127.0.0.1", str(port)],
                          capture_output=True, text=True, timeout=30).returncode


def test_listener_receives_deidentifies_exports_refuses_and_stops_cleanly(tmp_path: Path,
                                                                         listener) -> None:
    """storescu sends a cohort: every instance is de-identified into DEST (nothing planted
    survives), each association is in the audit log; an AE title not on the allow-list is
    refused; a corrupt data set gets 0xC000 and one line naming the peer while the good
    instance after it on the same association is kept; SIGTERM exits 0."""
    planted = write_cohort(tmp_path / "in", patients=2, series=2, instances=3)
    out = tmp_path / "out"
    run = listener(str(out), settings={"allowed_aets": ["MODALITY"]})
    sent = _storescu(run.port, tmp_path / "in")
    assert sent.returncode == 0, sent.stderr
    assert _echo(run.port, "INTRUDER") != 0 and _echo(run.port, "MODALITY") == 0
    assert _corrupt_then_good(tmp_path, run.port) == (0xC000, 0)
    files = _wait_files(out, 13)
    assert _leaks(files, planted.tokens) == []
    assert run.stop() == 0, run.text()
    log = run.text()
    assert "13 received, 1 refused, 13 exported, 0 failed" in log
    assert "refused an association from INTRUDER@127.0.0.1" in log
    line = next(x for x in log.splitlines() if "0xC000" in x)
    assert "MODALITY@127.0.0.1" in line and "C-STORE refused" in line
    with Session(run.db, secret=SECRET) as session:
        kinds = [e.kind for e in session.store.iter_events()]
        assert session.store.counts().instances == 13
    for kind in ("pacs-association-accepted", "pacs-association-released",
                 "pacs-association-refused", "pacs-store-refused", "pacs-listener-stopped"):
        assert kind in kinds
    assert kinds.count("exported") == 13


def test_restart_processes_what_a_crash_left_and_hosts_are_refused(tmp_path: Path,
                                                                   listener) -> None:
    """Files acknowledged but not processed (the listener was killed) are exported by the
    next start; a half-written file is removed. A connection from an address not in
    allowed_hosts is closed unanswered."""
    spool = tmp_path / "spool"
    inbox = spool / "listen" / "GANTRY" / "inbox"
    inbox.mkdir(parents=True)
    planted = write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    for i, path in enumerate(planted.paths):
        (inbox / f"1.2.3.{i}.dcm").write_bytes(path.read_bytes())
    (inbox / ".1.2.3.9.dcm.77.part").write_bytes(b"half")
    out = tmp_path / "out"
    run = listener(str(out), spool=spool, settings={"allowed_hosts": ["10.9.9.9"]})
    assert len(_wait_files(out, 3)) == 3
    assert _echo(run.port, "MODALITY") != 0
    assert run.stop() == 0
    assert not list(inbox.iterdir())
    assert "removed 1 partial file" in run.text()
    assert "refused a connection from 127.0.0.1" in run.text()


def test_sigterm_mid_transfer_keeps_everything_acknowledged(tmp_path: Path, listener) -> None:
    planted = write_cohort(tmp_path / "in", patients=1, series=2, instances=8)
    out = tmp_path / "out"
    run = listener(str(out))
    sender = subprocess.Popen(["storescu", "-aet", "MODALITY", "-aec", "GANTRY", "+sd", "+r",
                               "127.0.0.1", str(run.port), str(tmp_path / "in")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.7)
    code = run.stop()
    sender.wait(60)
    assert code == 0, run.text()
    received = int(run.text().rsplit(" received", 1)[0].rsplit(" ", 1)[1])
    exported = [p for p in iter_files(out) if p.suffix == ".dcm"] if out.exists() else []
    assert len(exported) == received  # every acknowledged instance went out
    # the rest, sent again to a new listener, completes the set (nothing lost, nothing twice)
    run2 = listener(str(out), port=free_port())
    assert _storescu(run2.port, tmp_path / "in").returncode == 0
    assert len(_wait_files(out, len(planted.paths))) == len(planted.paths)
    run2.stop()


def test_study_grouping_and_forward_to_orthanc(tmp_path: Path, listener, orthanc) -> None:
    """group: study holds each study until it is stable, then de-identifies and forwards it
    (C-STORE to Orthanc) in one batch; Orthanc gets no planted value."""
    orthanc.clear()
    planted = write_cohort(tmp_path / "in", patients=2, series=1, instances=2)
    run = listener("--forward", orthanc.url(), settings={
        "calling_aet": CALLER, "group": "study", "commitment_port": orthanc.caller_port},
        db=f"sqlite:///{tmp_path / 'fwd.db'}")
    assert _storescu(run.port, tmp_path / "in").returncode == 0
    deadline = time.monotonic() + 30
    while orthanc.instance_count() < 4 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert orthanc.instance_count() == 4
    assert run.stop() == 0
    batches = [line for line in run.text().splitlines() if "ingested" in line]
    assert len(batches) == 2, run.text()  # one batch per study
    tags = orthanc.rest("/instances?expand")
    assert not any(t in str(tags) for t in planted.tokens)
    with Session(f"sqlite:///{tmp_path / 'fwd.db'}", secret=SECRET) as session:
        committed = [e for e in session.store.iter_events() if e.kind == "pacs-committed"]
    assert len(committed) == 4  # Orthanc confirmed each forwarded instance
