"""End to end: discover rules for an unseen device, de-identify through a Session, fail closed."""

from __future__ import annotations

import shutil
from pathlib import Path

import gantry_pixels.api as pixels_api
import numpy as np
import pydicom
import pytest
import yaml
from click.testing import CliRunner
from gantry_ocr.cli import ocr
from gantry_ocr.components import OcrAuditor
from gantry_ocr.settings import OcrSettings
from gantry_pixels import codec
from gantry_pixels.testing import make_text_image

pytestmark = [
    pytest.mark.component,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tesseract") is None,
                       reason="tesseract is not installed (apt-get install tesseract-ocr)"),
]

PEOPLE = [("THISTLEWOOD", "CRESSIDA"), ("HARROWGATE", "PHILOMENA"), ("WEXCOMBE", "THADDEUS"),
          ("MARROWBY", "WILHELMINA"), ("PEMBERTONIA", "BARTHOLOMEW"), ("QUILLFEATHER", "ERMA"),
          ("BLACKWOOD", "CORNELIUS"), ("NIGHTINGALE", "ROSALIND")]


def _device_image(i: int, folder: Path) -> tuple[Path, list[str]]:
    last, first = PEOPLE[i]
    mrn = f"MRN{7310 + i * 97:05d}"
    date = f"0{1 + i % 9}/1{i % 9}/19{60 + i}"
    ds = make_text_image(
        [(6, 4, f"{last}, {first}", 16), (6, 24, f"ID: {mrn}", 14), (236, 4, date, 14)],
        rows=240, cols=320, manufacturer="ORBITAL IMAGING", model="SONAR-7", seed=i,
        patient_name=f"{last}^{first}", patient_id=mrn, StudyDate="20240105")
    path = folder / f"img{i}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, [last, first, mrn, date]


def _identifying_left(path: Path) -> list:
    ds = pydicom.dcmread(path)
    findings = OcrAuditor(OcrSettings(min_confidence=0.3)).audit(ds, None)  # type: ignore[arg-type]
    return [f for f in findings if f.extra["identifying"]]


def test_discover_then_deidentify_leaves_no_readable_identifiers(tmp_path: Path) -> None:
    from gantry import Session
    from gantry.testing.plugin import TEST_SECRET

    seen, unseen = tmp_path / "seen", tmp_path / "new"
    seen.mkdir()
    unseen.mkdir()
    for i in range(5):
        _device_image(i, seen)
    make_text_image([], manufacturer="OTHER", model="PLAIN").save_as(
        seen / "plain.dcm", enforce_file_format=True)
    proposed = tmp_path / "zones.yaml"
    result = CliRunner().invoke(ocr, ["discover", str(seen), "-o", str(proposed),
                                      "--workers", "2"])
    assert result.exit_code == 0, result.output
    text = proposed.read_text()
    assert "ORBITAL IMAGING / SONAR-7 / 240x320: 5 instance(s)" in text
    zones = yaml.safe_load(text)["plugins"]["gantry-pixels"]["zones"]
    assert len(zones) == 1 and zones[0]["boxes"]
    assert sum(w * h for _, _, w, h in zones[0]["boxes"]) < 0.25 * 240 * 320  # text, not image

    originals = {}
    for i in range(5, 8):
        path, secrets = _device_image(i, unseen)
        originals[i] = (codec.decode(pydicom.dcmread(path)).array, secrets)
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        "extends": "ps3.15/basic", "options": ["clean-pixel-data"],
        "redact": ["ps315-tags", "pixel-zones", "burned-in-ocr"],
        "audit": ["ps315-audit", "burned-in-ocr"],
        "plugins": {"gantry-pixels": {"zones": zones}, "gantry-ocr": {"padding": 3}},
    }))
    out = tmp_path / "out"
    with Session("memory://", profile=str(profile), workers=1, secret=TEST_SECRET) as session:
        session.ingest(str(unseen))
        session.audit()
        summary = session.export(str(out))
        assert summary.done == 3 and summary.failed == 0, summary.errors
        findings = [f for _, _, f in session.store.iter_findings() if f.code == "burned-in-text"]
        assert findings and all(f.extra["identifying"] for f in findings)
        changes = [c for _, c in session.store.iter_changes() if c.keyword == "PixelData"]
        assert {c.component for c in changes} == {"pixel-zones"}  # OCR found nothing left
        assert all("sha256 before" in c.detail for c in changes)
    outputs = sorted(out.rglob("*.dcm"))
    assert len(outputs) == 3
    for path in outputs:
        assert _identifying_left(path) == []
        ds = pydicom.dcmread(path)
        after = codec.decode(ds).array
        boxes = [(x, y, w, h) for x, y, w, h in zones[0]["boxes"]]
        mask = np.zeros(after.shape[:3], dtype=bool)
        for x, y, w, h in boxes:
            mask[:, y:y + h, x:x + w] = True
        matches = [i for i, (before, _) in originals.items()
                   if np.array_equal(before[~mask], after[~mask])]
        assert len(matches) == 1, "the image outside the zones must be unchanged"
        assert ds.BurnedInAnnotation == "NO"
        codes = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
        assert codes.count("113101") == 1


def test_instance_whose_text_cannot_be_removed_is_not_exported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gantry import Session
    from gantry.testing.plugin import TEST_SECRET

    src = tmp_path / "src"
    src.mkdir()
    _device_image(0, src)
    make_text_image([(20, 100, "LIVER", 16)], patient_name="CLEAN^CASE").save_as(
        src / "harmless.dcm", enforce_file_format=True)
    # blanking fails
    monkeypatch.setattr(pixels_api, "blank_boxes", lambda decoded, boxes, value: 0)
    profile = tmp_path / "profile.yaml"
    profile.write_text("extends: ps3.15/basic\nredact: [ps315-tags, burned-in-ocr]\n"
                       "plugins:\n  gantry-ocr: {mode: identifying-only}\n")
    out = tmp_path / "out"
    with Session("memory://", profile=str(profile), workers=1, secret=TEST_SECRET) as session:
        session.ingest(str(src))
        summary = session.export(str(out))
    assert summary.done == 1 and summary.failed == 1
    assert any("identifying text still readable" in e for e in summary.errors)
    assert not any("THISTLEWOOD" in e.upper() for e in summary.errors)
    assert len(list(out.rglob("*.dcm"))) == 1


@pytest.mark.parametrize("max_frames", [0, 2])
def test_gate_releases_only_what_ocr_read_in_full(tmp_path: Path, max_frames: int) -> None:
    """An ultrasound cine (no BurnedInAnnotation: taken to carry text) is exported only when
    OCR read every frame; read in part, the gate refuses it and says why."""
    from gantry import Session
    from gantry.testing.plugin import TEST_SECRET

    src = tmp_path / "src"
    src.mkdir()
    make_text_image([(6, 4, "THISTLEWOOD, CRESSIDA", 16)], rows=128, cols=320, frames=4,
                    patient_name="THISTLEWOOD^CRESSIDA").save_as(
        src / "cine.dcm", enforce_file_format=True)
    profile = tmp_path / "profile.yaml"
    profile.write_text("extends: ocr/clean-pixel-data\n"
                       f"plugins:\n  gantry-ocr: {{max_frames: {max_frames}}}\n")
    out = tmp_path / "out"
    with Session("memory://", profile=str(profile), workers=1, secret=TEST_SECRET) as session:
        session.ingest(str(src))
        summary = session.export(str(out))
    written = list(out.rglob("*.dcm"))
    if max_frames == 0:
        assert summary.done == 1 and len(written) == 1, summary.errors
        ds = pydicom.dcmread(written[0])
        assert ds.BurnedInAnnotation == "NO"
        assert "113101" in [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    else:
        assert written == [] and summary.done == 0
        assert any("read 2 of 4 frames" in e and "refused" in e for e in summary.errors), \
            summary.errors
