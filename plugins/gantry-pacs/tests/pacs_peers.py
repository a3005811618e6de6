"""Real DICOM peers for gantry-pacs's tests (helpers; the fixtures are in conftest.py).

``orthanc`` (one per test module) is Debian's Orthanc with a fresh storage folder and free
ports, knowing our calling AE titles and move destinations; ``dcmtk`` programs are started
through :func:`start_process`. Every process started here is stopped (and waited for) at the
end of its fixture.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

ORTHANC = shutil.which("Orthanc") or ("/usr/sbin/Orthanc" if os.path.exists(
    "/usr/sbin/Orthanc") else None)
DCMTK = shutil.which("storescp")

needs_orthanc = pytest.mark.skipif(ORTHANC is None, reason="Orthanc is not installed "
                                   "(make system-deps)")
needs_dcmtk = pytest.mark.skipif(DCMTK is None, reason="dcmtk is not installed "
                                 "(make system-deps)")

#: the project secret of the tests (fixed, and not guessable: the kernel refuses those)
SECRET_HEX = "9c2e71f04ab85d3316e0c7a24f98b15d02e6c3a17f4b8d90e125a6c37b9f0d48"
SECRET = bytes.fromhex(SECRET_HEX)

#: calling AE titles Orthanc knows, and the move destinations it can send to
CALLER = "GANTRYTEST"
MOVER = "GANTRYMOVE"
STRANGER = "NOBODY"


def free_port() -> int:
    """A TCP port free on loopback right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until something accepts connections on ``127.0.0.1:port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, wait, then SIGKILL: the process is gone when this returns."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@dataclass
class OrthancPeer:
    """A running Orthanc: its DICOM and HTTP ports and its AE title."""

    aet: str
    port: int
    http: int
    move_port: int
    proc: subprocess.Popen
    #: the port Orthanc has for CALLER: where it sends storage commitment reports
    caller_port: int = 0

    def url(self, query: str = "", scheme: str = "dimse") -> str:
        return f"{scheme}://{self.aet}@127.0.0.1:{self.port}" + (f"?{query}" if query else "")

    def rest(self, path: str, data: bytes | None = None, method: str | None = None) -> object:
        import urllib.request

        req = urllib.request.Request(f"http://127.0.0.1:{self.http}{path}", data=data,
                                     method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            body = resp.read()
        return json.loads(body) if body else None

    def upload(self, paths: list[Path]) -> None:
        for path in paths:
            self.rest("/instances", path.read_bytes(), "POST")

    def clear(self) -> None:
        for patient in self.rest("/patients"):  # type: ignore[union-attr]
            self.rest(f"/patients/{patient}", method="DELETE")

    def instance_count(self) -> int:
        return int(self.rest("/statistics")["CountInstances"])  # type: ignore[index]


def start_orthanc(folder: Path, *, extra_modalities: dict[str, list] | None = None,
                  tls: Certs | None = None) -> OrthancPeer:
    """Start Orthanc with a fresh storage folder and free ports (ECOSYSTEM.md's config);
    with ``tls``, its DICOM port speaks DICOM TLS only (client certificates required)."""
    port, http, move_port = free_port(), free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    modalities = {
        "caller": [CALLER, "127.0.0.1", free_port()],
        "mover": [MOVER, "127.0.0.1", move_port],
        **(extra_modalities or {}),
    }
    caller_port = int(modalities["caller"][2])
    config = {
        "Name": "gantry-test", "DicomAet": "ORTHANC", "DicomPort": port, "HttpPort": http,
        "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "storage"),
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False,
        "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True,
        "DicomAlwaysAllowFind": False, "DicomAlwaysAllowMove": False,
        "DicomAlwaysAllowGet": False, "DicomCheckModalityHost": True, "DicomCheckCalledAet": True,
        "DicomModalities": {
            name: {"AET": aet, "Host": host, "Port": p, "AllowEcho": True, "AllowFind": True,
                   "AllowMove": True, "AllowGet": True, "AllowStore": True}
            for name, (aet, host, p) in modalities.items()},
        "SynchronousCMove": True, "SaveJobs": False, "HttpServerEnabled": True,
        "StableAge": 1, "Plugins": [], "ConcurrentJobs": 2,
    }
    if tls is not None:
        config.update({"DicomTlsEnabled": True, "DicomTlsCertificate": str(tls.server_cert),
                       "DicomTlsPrivateKey": str(tls.server_key),
                       "DicomTlsTrustedCertificates": str(tls.ca),
                       "DicomTlsRemoteCertificateRequired": True})
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "logs").mkdir(exist_ok=True)
    proc = subprocess.Popen([ORTHANC, f"--logdir={folder / 'logs'}", str(folder / "config.json")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(http, proc=proc)
        wait_port(port, proc=proc)
    except BaseException:
        stop_process(proc)
        raise
    return OrthancPeer("ORTHANC", port, http, move_port, proc, caller_port)



def start_process(args: list[str], port: int, cwd: Path | None = None) -> subprocess.Popen:
    """Start a dcmtk server on ``port`` and wait until it listens."""
    proc = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port, proc=proc)
    except BaseException:
        stop_process(proc)
        raise
    return proc


def pacs_profile(folder: Path, **settings: object) -> Path:
    """A profile file extending ps3.15/basic with ``plugins: pacs:`` settings."""
    import yaml

    path = folder / "pacs-profile.yaml"
    path.write_text(yaml.safe_dump({"extends": "ps3.15/basic",
                                    "plugins": {"pacs": dict(settings)}}))
    return path


@dataclass
class Certs:
    """A test CA and the certificates and keys it signed (PEM files)."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, made
    now with the ``cryptography`` package (valid for a day)."""
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> Path:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
        return path

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("gantry test CA"))
          .issuer_name(name("gantry test CA")).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now)
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def leaf(cn: str, usage: x509.ObjectIdentifier) -> tuple[Path, Path]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([
                    x509.DNSName("localhost"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        cert_path = folder / f"{cn}.crt"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert_path, write_key(key, folder / f"{cn}.key")

    server_cert, server_key = leaf("server", ExtendedKeyUsageOID.SERVER_AUTH)
    client_cert, client_key = leaf("client", ExtendedKeyUsageOID.CLIENT_AUTH)
    return Certs(folder / "ca.crt", server_cert, server_key, client_cert, client_key)
