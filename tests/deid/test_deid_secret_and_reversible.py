"""The project secret and opt-in reversibility (PS3.15 E.1.2)."""

from __future__ import annotations

import datetime
import os
import stat

import pytest

from gantry.deid.engine import DeidEngine
from gantry.deid.reversible import reidentify
from gantry.deid.secret import SecretError, resolve_secret
from gantry.deid.standalone import instance_context, standalone_run
from gantry.profiles import ReversibleSettings
from gantry.testing.factory import make_instance


def test_env_secret_wins():
    assert resolve_secret(env={"GANTRY_SECRET": "0a1b2c3d" * 4}) == bytes.fromhex("0a1b2c3d" * 4)
    with pytest.raises(SecretError):
        resolve_secret(env={"GANTRY_SECRET": "zz"})
    with pytest.raises(SecretError):
        resolve_secret(env={"GANTRY_SECRET": "ab"})  # too short


def test_default_secret_generated_once_with_0600(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    first = resolve_secret(env=env)
    path = tmp_path / "gantry" / "secret.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert resolve_secret(env=env) == first and len(first) == 32


def test_secret_file_inside_output_is_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "k").write_text("0a1b2c3d" * 4)
    (out / "k").chmod(0o600)
    with pytest.raises(SecretError, match="output"):
        resolve_secret(secret_file=str(out / "k"), env={}, forbidden_dirs=[out])
    assert resolve_secret(secret_file=str(out / "k"), env={}) == bytes.fromhex("0a1b2c3d" * 4)
    with pytest.raises(SecretError):
        resolve_secret(secret_file=str(tmp_path / "missing"), env={})


@pytest.fixture(scope="module")
def recipient(tmp_path_factory):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gantry test recipient")])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("pki")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, folder / "cert.pem"


def test_reversible_round_trip(recipient, basic_profile, encoder):
    key, cert, cert_path = recipient
    profile = basic_profile.model_copy(update={
        "reversible": ReversibleSettings(recipient_certificate=str(cert_path))})
    engine = DeidEngine(profile, standalone_run(profile, b"s" * 32))
    ds = make_instance(patient=2)
    original = {k: str(ds[k].value) for k in ("PatientName", "PatientID", "SOPInstanceUID",
                                                "ImageComments", "AccessionNumber")}
    engine.apply(ds, instance_context(ds, engine.run))
    data = encoder(ds)
    for value in original.values():
        assert value.encode() not in data  # nothing in clear
    restored = reidentify(ds, key, cert)
    for keyword, value in original.items():
        assert str(restored[keyword].value) == value
    assert restored.file_meta.MediaStorageSOPInstanceUID == original["SOPInstanceUID"]
    assert "EncryptedAttributesSequence" not in restored


@pytest.mark.parametrize("garbage", [os.urandom(1495), b"", b"\x08\x00\x18\x00UI\x04\x001.2\x00"])
def test_content_that_decrypts_to_garbage_is_a_clear_error(monkeypatch, garbage):
    """A wrong key passes CMS's padding checks now and then and gives random bytes (which
    once made the next test fail by chance): they are refused like a failed decryption."""
    from cryptography.hazmat.primitives.serialization import pkcs7
    from pydicom import Dataset
    from pydicom.sequence import Sequence

    monkeypatch.setattr(pkcs7, "pkcs7_decrypt_der", lambda *args: garbage)
    item = Dataset()
    item.EncryptedContent = b"x"
    ds = Dataset()
    ds.EncryptedAttributesSequence = Sequence([item])
    with pytest.raises(ValueError, match="not encrypted for this key"):
        reidentify(ds, None, None)


def test_wrong_key_recovers_nothing(recipient, basic_profile):
    from cryptography.hazmat.primitives.asymmetric import rsa

    _, cert, cert_path = recipient
    profile = basic_profile.model_copy(update={
        "reversible": ReversibleSettings(recipient_certificate=str(cert_path))})
    engine = DeidEngine(profile, standalone_run(profile, b"s" * 32))
    ds = make_instance()
    engine.apply(ds, instance_context(ds, engine.run))
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(ValueError):
        reidentify(ds, other, cert)


@pytest.mark.parametrize("value", ["00" * 16, "00" * 32, "ab" * 16, "0102" * 16])
def test_guessable_secret_is_refused_in_one_line(tmp_path, value):
    with pytest.raises(SecretError, match="guessable") as info:
        resolve_secret(env={"GANTRY_SECRET": value})
    assert "\n" not in str(info.value)
    path = tmp_path / "k"
    path.write_text(value)
    path.chmod(0o600)
    with pytest.raises(SecretError, match="guessable"):
        resolve_secret(secret_file=str(path), env={})
    from gantry import Session

    with pytest.raises(SecretError, match="guessable"):
        Session("memory://", secret=bytes.fromhex(value))


def test_world_readable_secret_file_is_refused_naming_the_fix(tmp_path):
    path = tmp_path / "k"
    path.write_text(os.urandom(32).hex())
    path.chmod(0o644)
    with pytest.raises(SecretError, match="chmod 600") as info:
        resolve_secret(secret_file=str(path), env={})
    assert "0644" in str(info.value) and "\n" not in str(info.value)
    path.chmod(0o640)  # the owner's group may read it
    assert len(resolve_secret(secret_file=str(path), env={})) == 32
