"""Reversibility through written files: export with a recipient certificate, then reidentify
the files as written — every transfer syntax the DICOM exporter writes, CMS values of odd and
even encoded length (DICOM pads the odd ones), from the CLI and the API."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydicom import dcmread
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from gantry import Session
from gantry.cli import _add_plugin_commands, cli
from gantry.deid.reversible import _SKIP, der_value, reidentify, reidentify_file
from gantry.errors import ProfileError
from gantry.profiles import load_profile
from gantry.testing.factory import make_instance

SYNTAXES = (ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian,
            ExplicitVRBigEndian, RLELossless)


def _recipient(folder: Path, common_name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(7).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650)).sign(key, hashes.SHA256()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    (folder / "reversible.yaml").write_text(  # a relative path: from the profile's folder
        "extends: ps3.15/basic\nreversible:\n  recipient_certificate: cert.pem\n")
    return folder


@pytest.fixture(scope="module")
def recipients(tmp_path_factory):
    """Two recipients whose names differ by one byte: the CMS values made for them differ in
    length by one, so one of them is odd and gets DICOM's pad byte when written."""
    root = tmp_path_factory.mktemp("pki")
    return [_recipient(root / "a", "gantry recipient"), _recipient(root / "b",
                                                                  "gantry recipient2")]


def _inputs(folder: Path) -> dict[str, object]:
    """One file per transfer syntax; the originals by SOP Instance UID."""
    folder.mkdir(parents=True, exist_ok=True)
    originals = {}
    for i, syntax in enumerate(SYNTAXES):
        ds = make_instance(patient=i % 2, instance=i, rows=8, cols=8)
        ds.ImageComments = "x" * (20 + 7 * i)
        if syntax == RLELossless:
            ds.compress(RLELossless, encoding_plugin="pydicom")
        else:
            ds.file_meta.TransferSyntaxUID = syntax
        path = folder / f"f{i}.dcm"
        ds.save_as(path, enforce_file_format=True)
        originals[ds.SOPInstanceUID] = dcmread(path)
    return originals


def _element_bytes(elem) -> bytes:
    from pydicom import Dataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset

    one = Dataset()
    one.add(elem)
    fp = DicomBytesIO()
    fp.is_little_endian, fp.is_implicit_VR = True, False
    write_dataset(fp, one)
    return fp.getvalue()


def _check_restored(restored, original) -> int:
    """Every top-level attribute of the original comes back byte for byte; returns how many."""
    checked = 0
    for elem in original:
        if int(elem.tag) in _SKIP or elem.tag.group == 0x0002:
            continue
        assert elem.tag in restored, elem.keyword or elem.tag
        assert _element_bytes(restored[elem.tag]) == _element_bytes(elem), elem.keyword
        checked += 1
    return checked


def _content_lengths(out: Path) -> set[int]:
    lengths = set()
    for path in out.rglob("*.dcm"):
        content = bytes(dcmread(path).EncryptedAttributesSequence[0].EncryptedContent)
        lengths.add(len(der_value(content)))
    return lengths


def test_round_trip_through_written_files_api(tmp_path, recipients):
    originals = _inputs(tmp_path / "in")
    parities = set()
    for recipient in recipients:
        out = tmp_path / f"out-{recipient.name}"
        with Session("memory://", profile=str(recipient / "reversible.yaml"),
                     workers=1) as session:
            summaries = session.deidentify(tmp_path / "in", out)
        assert summaries[1].done == len(SYNTAXES), summaries[1].errors
        parities |= {n % 2 for n in _content_lengths(out)}
        written = sorted(out.rglob("*.dcm"))
        assert {str(dcmread(p).file_meta.TransferSyntaxUID) for p in written} == set(SYNTAXES)
        from gantry.deid.reversible import load_certificate, load_private_key

        key = load_private_key(recipient / "key.pem")
        cert = load_certificate(recipient / "cert.pem")
        for path in written:
            target = tmp_path / "restored" / recipient.name / path.name
            assert reidentify_file(path, target, key, cert) == "done"
            restored = dcmread(target)
            original = originals[str(restored.SOPInstanceUID)]
            assert _check_restored(restored, original) > 20
            assert str(restored.file_meta.TransferSyntaxUID) == \
                str(original.file_meta.TransferSyntaxUID)
    assert parities == {0, 1}  # both an odd (padded when written) and an even CMS value


def test_round_trip_from_the_cli_skips_manifests_and_names_a_wrong_key(tmp_path, recipients):
    originals = _inputs(tmp_path / "in")
    _add_plugin_commands()  # what ``main()`` does: the deid plugin's ``reidentify``
    runner = CliRunner()
    a, b = recipients
    for recipient in recipients:
        out = tmp_path / f"out-{recipient.name}"
        result = runner.invoke(cli, ["deidentify", str(tmp_path / "in"), str(out), "--db",
                                     "memory://", "--workers", "1", "-p",
                                     str(recipient / "reversible.yaml")])
        assert result.exit_code == 0, result.output
        (out / "manifest.csv").write_text("path,sha256\n")  # what an export writes beside
        back = tmp_path / f"back-{recipient.name}"
        result = runner.invoke(cli, ["reidentify", str(out), str(back), "--key",
                                     str(recipient / "key.pem"), "--cert",
                                     str(recipient / "cert.pem")])
        assert result.exit_code == 0, result.output
        assert f"reidentified {len(SYNTAXES)} file(s), 0 failed" in result.output
        for path in back.rglob("*.dcm"):
            restored = dcmread(path)
            _check_restored(restored, originals[str(restored.SOPInstanceUID)])
    wrong = runner.invoke(cli, ["reidentify", str(tmp_path / f"out-{a.name}"),
                                str(tmp_path / "wrong"), "--key", str(b / "key.pem"),
                                "--cert", str(b / "cert.pem")])
    assert wrong.exit_code == 1
    assert wrong.output.count("not encrypted for this key") == len(SYNTAXES)
    assert "ValueError" not in wrong.output


def test_relative_certificate_is_resolved_from_the_profile_folder(tmp_path, recipients,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)  # not the profile's folder
    profile = load_profile(str(recipients[0] / "reversible.yaml"))
    assert profile.reversible.recipient_certificate == str(recipients[0] / "cert.pem")
    missing = tmp_path / "missing.yaml"
    missing.write_text("extends: ps3.15/basic\nreversible:\n  recipient_certificate: no.pem\n")
    with pytest.raises(ProfileError, match=r"no\.pem") as info:
        load_profile(str(missing))
    assert info.value.line == 3
    result = CliRunner().invoke(cli, ["profiles", "validate", str(missing)])
    assert result.exit_code == 2 and "missing.yaml:3" in result.output


def test_in_memory_round_trip_still_restores(recipients):
    """The pad byte is handled by length, so an unpadded (in-memory) value still decrypts."""
    from gantry.deid.engine import DeidEngine
    from gantry.deid.reversible import load_certificate, load_private_key
    from gantry.deid.standalone import instance_context, standalone_run

    profile = load_profile(str(recipients[1] / "reversible.yaml"))
    engine = DeidEngine(profile, standalone_run(profile, b"s" * 32))
    ds = make_instance(patient=3)
    name = str(ds.PatientName)
    engine.apply(ds, instance_context(ds, engine.run))
    restored = reidentify(ds, load_private_key(recipients[1] / "key.pem"),
                          load_certificate(recipients[1] / "cert.pem"))
    assert str(restored.PatientName) == name
