"""Images known to carry burned-in text are not released by a header-only profile: the gate
withholds them with a one-line reason naming what to add, the run goes on, ``status`` lists
them, the exit code says so; ``burned_in: allow`` releases them with markers that say so.
The export also honours its own audit's verdict."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from pydicom import dcmread
from pydicom.uid import JPEGBaseline8Bit, UltrasoundImageStorage

from gantry import Session
from gantry.cli import cli
from gantry.deid.burned_in import ALLOWED_NOTE
from gantry.exitcodes import EXIT_INCOMPLETE
from gantry.testing.factory import make_instance


def _write(folder: Path, name: str, ds) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ds.save_as(folder / name, enforce_file_format=True)


def _us(instance: int, flag: str | None):
    ds = make_instance(patient=1, instance=instance, sop_class=UltrasoundImageStorage)
    ds.Modality = "US"
    if flag is not None:
        ds.BurnedInAnnotation = flag
    return ds


def _cohort(folder: Path) -> None:
    _write(folder, "ct.dcm", make_instance(patient=1, instance=0))
    _write(folder, "us-yes.dcm", _us(1, "YES"))
    _write(folder, "us-absent.dcm", _us(2, None))
    _write(folder, "us-no.dcm", _us(3, "NO"))
    ct = make_instance(patient=1, instance=4)
    ct.BurnedInAnnotation = "YES"
    _write(folder, "ct-yes.dcm", ct)


@pytest.mark.parametrize("memo", ["1", "0"])
def test_header_only_profile_withholds_known_burned_in_images(tmp_path, monkeypatch, memo):
    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)  # the memoized pass and the full path agree
    _cohort(tmp_path / "in")
    with Session("memory://", workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
        assert export.done == 2 and export.refused == 3 and export.failed == 0
        withheld = session.refused()
        status = session.status()["status"]
    assert status == {"exported": 2, "refused": 3}
    assert len(withheld) == 3
    for _, reason in withheld:
        assert "\n" not in reason and "clean-pixel-data" in reason
        assert "pixel-zones" in reason and "burned-in-ocr" in reason
    reasons = " ".join(r for _, r in withheld)
    assert "BurnedInAnnotation is YES" in reasons and "US images routinely" in reasons
    written = {str(dcmread(p).get("BurnedInAnnotation", "")) for p in
               (tmp_path / "out").rglob("*.dcm")}
    assert written == {"", "NO"}  # the plain CT and the ultrasound marked NO


def test_cli_exit_code_and_status_list_the_withheld(tmp_path):
    _cohort(tmp_path / "in")
    db = f"sqlite:///{tmp_path / 'work.db'}"
    pytest.importorskip("gantry_sqlite")
    runner = CliRunner()
    result = runner.invoke(cli, ["deidentify", str(tmp_path / "in"), str(tmp_path / "out"),
                                 "--db", db, "--workers", "1"])
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "3 refused by the export gate" in result.output
    status = runner.invoke(cli, ["status", "--db", db])
    assert status.exit_code == 0, status.output
    lines = [line for line in status.output.splitlines() if line.startswith("refused: ")]
    assert len(lines) == 3 and all("clean-pixel-data" in line for line in lines)


def test_burned_in_allow_releases_with_markers_saying_so(tmp_path):
    _cohort(tmp_path / "in")
    profile = tmp_path / "allow.yaml"
    profile.write_text("extends: ps3.15/basic\nburned_in: allow\n")
    with Session("memory://", profile=str(profile), workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
    assert export.done == 5 and export.refused == 0
    notes = {}
    for path in (tmp_path / "out").rglob("*.dcm"):
        ds = dcmread(path)
        notes[str(ds.InstanceNumber)] = ALLOWED_NOTE in list(ds.DeidentificationMethod)
    assert notes == {"1": False, "2": True, "3": True, "4": False, "5": True}


def test_a_pixel_auditors_finding_makes_an_image_known(tmp_path):
    _write(tmp_path / "in", "ct.dcm", make_instance(patient=2))
    (tmp_path / "reader.py").write_text(
        "from gantry import hookimpl\n"
        "from gantry.api import Auditor, Finding\n"
        "class Reader:\n"
        "    def audit(self, ds, context):\n"
        "        return [Finding('burned-in-text', 'text on frame 0', severity='warning',\n"
        "                        component='reader')]\n"
        "@hookimpl\n"
        "def gantry_auditors():\n"
        "    yield Auditor('reader', factory=lambda run: Reader(), needs_pixels=True)\n")
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\naudit: [ps315-audit, reader]\n"
                       "local_hooks: [reader.py]\n")
    with Session("memory://", profile=str(profile), workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
        reasons = session.refused()
    assert export.refused == 1 and "pixel auditor (reader)" in reasons[0][1]


def _jpeg_with_comment(comment: bytes) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16), 90, dtype=np.uint8)).save(buf, format="JPEG")
    data = buf.getvalue()
    segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
    return data[:2] + segment + data[2:]


def test_the_export_honours_its_own_verdict_on_a_jpeg_comment(tmp_path):
    from pydicom.encaps import encapsulate

    ds = make_instance(patient=3, rows=16, cols=16)
    del ds[0x60000010:0x60010000]  # no overlay
    name = str(ds.PatientName).split("^")[0]
    ds.PixelData = encapsulate([_jpeg_with_comment(f"{name} {ds.PatientID}".encode())])
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds["PixelData"].VR = "OB"
    _write(tmp_path / "in", "jpeg.dcm", ds)
    _write(tmp_path / "in", "ct.dcm", make_instance(patient=3, instance=1))
    with Session("memory://", workers=1) as session:
        _, export = session.deidentify(tmp_path / "in", tmp_path / "out")
        reasons = session.refused()
    assert export.done == 1 and export.refused == 1, export.errors
    assert "PixelData" in reasons[0][1]


@pytest.mark.parametrize("memo", ["1", "0"])
def test_photographs_of_the_patient_are_withheld(tmp_path, monkeypatch, memo):
    """RecognizableVisualFeatures YES, or a photograph's SOP class or modality without it, is
    refused unless recognizable features were cleaned; NO is taken at its word."""
    from pydicom.uid import VLPhotographicImageStorage

    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)
    folder = tmp_path / "in"
    ct = make_instance(patient=1, instance=0)
    ct.RecognizableVisualFeatures = "YES"  # e.g. a head CT whose surface shows the face
    _write(folder, "ct-face.dcm", ct)
    photo = make_instance(patient=1, instance=1, sop_class=VLPhotographicImageStorage)
    photo.Modality, photo.BurnedInAnnotation = "XC", "NO"
    _write(folder, "photo.dcm", photo)
    plain = make_instance(patient=1, instance=2)
    plain.RecognizableVisualFeatures = "NO"
    _write(folder, "ct-plain.dcm", plain)
    with Session("memory://", workers=1) as session:
        _, export = session.deidentify(folder, tmp_path / "out")
        withheld = session.refused()
    assert export.done == 1 and export.refused == 2, withheld
    reasons = " ".join(r for _, r in withheld)
    assert "RecognizableVisualFeatures is YES" in reasons and "it is a photograph" in reasons
    assert "clean-recognizable-visual-features" in reasons
    (out,) = (tmp_path / "out").rglob("*.dcm")
    assert dcmread(out).RecognizableVisualFeatures == "NO"
