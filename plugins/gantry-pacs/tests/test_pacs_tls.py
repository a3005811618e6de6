"""DICOM TLS for all three: export to dcmtk's TLS storescp, the listener receiving from
dcmtk's TLS storescu, and C-FIND/C-GET from an Orthanc speaking DICOM TLS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from pacs_peers import (
    CALLER,
    ORTHANC,
    SECRET,
    SECRET_HEX,
    free_port,
    make_certs,
    needs_dcmtk,
    pacs_profile,
    start_orthanc,
    start_process,
    stop_process,
    wait_port,
)

from gantry import Session
from gantry.testing.factory import iter_files, write_cohort

pytestmark = [pytest.mark.component, needs_dcmtk]


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def _tls(certs, role: str = "client") -> dict:
    cert = certs.client_cert if role == "client" else certs.server_cert
    key = certs.client_key if role == "client" else certs.server_key
    return {"certificate": str(cert), "private_key": str(key), "ca_certificates": str(certs.ca)}


def test_export_to_tls_storescp(tmp_path: Path, certs) -> None:
    """dimses:// C-STOREs over TLS to storescp, which requires our client certificate; the
    same peer spoken to without our certificate refuses the handshake: one error line."""
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    port = free_port()
    out = tmp_path / "received"
    out.mkdir()
    proc = start_process(["storescp", "--aetitle", "TLSSCP", "--output-directory", str(out),
                          "+tls", str(certs.server_key), str(certs.server_cert),
                          "+cf", str(certs.ca), str(port)], port)
    try:
        profile = pacs_profile(tmp_path, tls=_tls(certs), retry_wait=0.05)
        with Session(f"sqlite:///{tmp_path / 'a.db'}", profile=str(profile), workers=1,
                     secret=SECRET) as session:
            _, export = session.deidentify(tmp_path / "in", f"dimses://TLSSCP@127.0.0.1:{port}")
        assert (export.done, export.failed) == (2, 0), export.errors
        assert len(list(iter_files(out))) == 2
        (tmp_path / "b").mkdir()
        bare = pacs_profile(tmp_path / "b", tls={"ca_certificates": str(certs.ca)}, retries=0)
        with Session(f"sqlite:///{tmp_path / 'b.db'}", profile=str(bare), workers=1,
                     secret=SECRET) as session:
            _, export = session.deidentify(tmp_path / "in", f"dimses://TLSSCP@127.0.0.1:{port}")
        assert export.done == 0 and export.failed == 2
        assert f"TLSSCP@127.0.0.1:{port} (TLS)" in export.errors[0]
    finally:
        stop_process(proc)


@pytest.mark.slow
def test_listener_over_tls_from_storescu(tmp_path: Path, certs) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    port = free_port()
    profile = pacs_profile(tmp_path, tls=_tls(certs, "server"), bind_host="127.0.0.1",
                           spool=str(tmp_path / "spool"))
    out = tmp_path / "out"
    log = tmp_path / "listen.log"
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "gantry"), "listen", str(out), "--port", str(port),
         "--tls", "--db", f"sqlite:///{tmp_path / 'l.db'}", "-p", str(profile), "-j", "1"],
        stdout=subprocess.DEVNULL, stderr=log.open("w"),
        env={**os.environ, "GANTRY_SECRET": SECRET_HEX})
    try:
        wait_port(port, timeout=30, proc=proc)
        sent = subprocess.run(["storescu", "+tls", str(certs.client_key),
                               str(certs.client_cert), "+cf", str(certs.ca), "-aec", "GANTRY",
                               "+sd", "+r", "127.0.0.1", str(port), str(tmp_path / "in")],
                              capture_output=True, text=True, timeout=60)
        assert sent.returncode == 0, sent.stderr
        plain = subprocess.run(["echoscu", "-aec", "GANTRY", "127.0.0.1", str(port)],
                               capture_output=True, text=True, timeout=30)
        assert plain.returncode != 0  # no TLS, no association
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0, log.read_text()
    finally:
        stop_process(proc)
    assert "3 received" in log.read_text()
    assert len([p for p in iter_files(out) if p.suffix == ".dcm"]) == 3


@pytest.mark.slow
@pytest.mark.skipif(ORTHANC is None, reason="Orthanc is not installed")
def test_retrieve_from_a_tls_orthanc(tmp_path: Path, certs) -> None:
    planted = write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    orthanc = start_orthanc(tmp_path / "orthanc", tls=certs)
    try:
        orthanc.upload(planted.paths)
        profile = pacs_profile(tmp_path, tls=_tls(certs), calling_aet=CALLER,
                               spool=str(tmp_path / "spool"))
        with Session(f"sqlite:///{tmp_path / 'r.db'}", profile=str(profile), workers=1,
                     secret=SECRET) as session:
            ingest, export = session.deidentify(orthanc.url(scheme="dimses"), tmp_path / "out")
        assert (ingest.done, export.done) == (3, 3), ingest.errors
    finally:
        stop_process(orthanc.proc)
