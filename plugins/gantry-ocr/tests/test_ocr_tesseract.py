"""burned-in-ocr with the real tesseract on text rendered into DICOM pixels."""

from __future__ import annotations

import io
import shutil
from types import SimpleNamespace

import gantry_pixels.api as pixels_api
import numpy as np
import pydicom
import pytest
from gantry_ocr.components import OcrAuditor, OcrRedactor
from gantry_ocr.settings import OcrSettings
from gantry_pixels import codec
from gantry_pixels.testing import make_text_image
from pydicom.uid import RLELossless

from gantry.errors import LeakError

pytestmark = [
    pytest.mark.component,
    pytest.mark.skipif(shutil.which("tesseract") is None,
                       reason="tesseract is not installed (apt-get install tesseract-ocr)"),
]

NAME, MRN = "QUILLFEATHER^ERMENGARDE", "MRN0047Q1931"
TEXTS = [(8, 6, "QUILLFEATHER, ERMENGARDE", 16), (8, 26, f"ID {MRN}", 14),
         (200, 230, "01/30/1986", 14)]
SECRETS = ("QUILLFEATHER", "ERMENGARDE", MRN, "01/30/1986")


def _context() -> SimpleNamespace:
    return SimpleNamespace(notes={}, identifiers=None, patient=None, instance=None)


def _image(**kwargs: object) -> pydicom.Dataset:
    kwargs.setdefault("patient_name", NAME)
    kwargs.setdefault("patient_id", MRN)
    return make_text_image(TEXTS, **kwargs)  # type: ignore[arg-type]


def _reread(ds: pydicom.Dataset) -> pydicom.Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


def test_auditor_reports_boxes_without_repeating_identifying_text() -> None:
    ds = _image()
    findings = OcrAuditor(OcrSettings()).audit(ds, _context())
    identifying = [f for f in findings if f.extra["identifying"]]
    assert len(identifying) == 3
    for f in findings:
        assert f.code == "burned-in-text" and f.box is not None and f.box[0] == 0
        floor = 0.3 if f.extra["identifying"] else 0.6  # unsure words count when identifying
        assert floor <= f.extra["confidence"] <= 1.0
        assert not any(s.lower() in f.message.lower() for s in (*SECRETS, "ID "))
    by_y = sorted(identifying, key=lambda f: f.box[2])
    _frame, x, y, w, _h = by_y[0].box
    assert abs(x - 8) <= 4 and abs(y - 8) <= 6 and w >= 150  # the name line
    assert by_y[0].extra["text"] is None and by_y[0].severity == "error"
    assert "date" in by_y[-1].extra["reasons"] or "identifier" in by_y[-1].extra["reasons"]


def test_auditor_keeps_non_identifying_text_for_review() -> None:
    ds = make_text_image([(20, 20, "LIVER LONG", 16)])
    (finding,) = OcrAuditor(OcrSettings()).audit(ds, _context())
    assert finding.extra["identifying"] is False and finding.severity == "warning"
    assert finding.extra["text"] == "LIVER LONG"


@pytest.mark.parametrize("kwargs", [
    {"bits": 8},
    {"bits": 16},
    {"bits": 16, "signed": True, "photometric": "MONOCHROME1"},
    {"photometric": "RGB"},
    {"bits": 16, "transfer_syntax": RLELossless},
    {"frames": 3, "photometric": "RGB", "planar": 1},
], ids=["8bit", "16bit", "16bit-signed-mono1", "rgb", "16bit-rle", "multiframe-rgb-planar"])
def test_redactor_removes_identifying_text_and_nothing_else(kwargs: dict) -> None:
    ds = _image(**kwargs)
    syntax = ds.file_meta.TransferSyntaxUID
    before = codec.decode(ds).array.copy()
    context = _context()
    changes = OcrRedactor(OcrSettings()).redact(ds, context)
    assert changes and context.notes["pixels_modified"] and context.notes["ocr_verified"]
    assert "sha256 before" in changes[0].detail
    out = _reread(ds)
    assert out.file_meta.TransferSyntaxUID == syntax
    after = codec.decode(out).array
    changed = (after != before).any(axis=-1)  # frame, row, column
    boxes = context.notes["pixel_boxes"]
    allowed = np.zeros_like(changed)
    for frame, x, y, w, h in boxes:
        allowed[slice(None) if frame < 0 else frame, y:y + h, x:x + w] = True
    assert not (changed & ~allowed).any(), "pixels changed outside the blanked boxes"
    assert allowed.sum() < 0.25 * allowed.size, "blanked far more than the text"
    left = OcrAuditor(OcrSettings(min_confidence=0.3)).audit(out, _context())
    assert not [f for f in left if f.extra["identifying"]]
    assert out.BurnedInAnnotation == "NO" and out.ImageType[0] == "DERIVED"


def test_frame_without_text_is_left_byte_identical() -> None:
    ds = make_text_image([], bits=16, transfer_syntax=RLELossless, frames=2)
    original = bytes(ds.PixelData)
    context = _context()
    assert OcrRedactor(OcrSettings()).redact(ds, context) == []
    assert bytes(ds.PixelData) == original and "pixels_modified" not in context.notes
    assert context.notes["ocr_verified"] is True


def test_only_the_frame_with_text_changes() -> None:
    per_frame = [[], [(8, 6, "QUILLFEATHER, ERMENGARDE", 16)], []]
    ds = make_text_image(frames=3, texts_per_frame=per_frame, patient_name=NAME)
    before = codec.decode(ds).array.copy()
    OcrRedactor(OcrSettings()).redact(ds, _context())
    after = codec.decode(ds).array
    assert np.array_equal(after[0], before[0]) and np.array_equal(after[2], before[2])
    assert not np.array_equal(after[1], before[1])


def test_long_multiframe_is_sampled_and_boxes_cover_every_frame() -> None:
    from pydicom.dataset import Dataset

    ds = _image(frames=12, rows=128, cols=320)
    ds.BurnedInAnnotation = "NO"  # as a zone rule earlier in the stack marks it
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "113101", "DCM", "Clean"
    ds.DeidentificationMethodCodeSequence = [item]
    context = _context()
    context.instance = SimpleNamespace(attrs={})  # the original had no BurnedInAnnotation
    changes = OcrRedactor(OcrSettings(max_frames=3)).redact(ds, context)
    assert "all 12 frames (sampled 3, the others not read)" in changes[0].detail
    assert all(box[0] == -1 for box in context.notes["pixel_boxes"])
    # nine frames were not read: no claim of clean pixels, the gate is told why
    assert "read 3 of 12 frames" in context.notes["pixels_unverified"]
    assert "ocr_verified" not in context.notes
    assert "BurnedInAnnotation" not in ds
    assert "113101" not in [i.CodeValue for i in ds.get("DeidentificationMethodCodeSequence", [])]
    after = codec.decode(ds)
    unsampled = after.array[5]  # not among frames 0, 6, 11... checked directly
    from gantry_ocr.engine import read_words, to_gray8

    words = read_words(to_gray8(unsampled, after.photometric), min_confidence=0.5)
    assert not any("QUILL" in w.text.upper() for w in words)


def test_identifying_only_mode_keeps_other_text() -> None:
    ds = make_text_image([(8, 6, "QUILLFEATHER, ERMENGARDE", 16), (8, 200, "LIVER LONG", 16)],
                         patient_name=NAME)
    OcrRedactor(OcrSettings(mode="identifying-only")).redact(ds, _context())
    findings = OcrAuditor(OcrSettings()).audit(ds, _context())
    assert [f.extra["identifying"] for f in findings] == [False]
    assert findings[0].extra["text"].startswith("LIVER")


def test_text_that_survives_blanking_fails_the_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = _image()
    monkeypatch.setattr(pixels_api, "blank_boxes", lambda decoded, boxes, value: 0)
    with pytest.raises(LeakError, match=rf"frame\(s\) 0 of instance {ds.SOPInstanceUID}") as err:
        OcrRedactor(OcrSettings()).redact(ds, _context())
    assert not any(s.lower() in str(err.value).lower() for s in SECRETS)


def test_noise_read_as_letters_is_not_blanked() -> None:
    """Uniform noise makes tesseract report short 'words'; none is drawn text, none blanked."""
    from gantry.testing.factory import make_instance

    ds = make_instance(rows=256, cols=256)
    original = bytes(ds.PixelData)
    assert OcrRedactor(OcrSettings()).redact(ds, _context()) == []
    assert bytes(ds.PixelData) == original


def _scanner_screen(frames: int) -> pydicom.Dataset:
    """An RGB cine like a scanner's screen capture: a grey header band with light text (an
    institution, a clock) that went through JPEG, and an ID shown on one frame only."""
    from PIL import Image

    header = [(8, 6, "Sports Medicine", 15), (420, 6, "01:07:45 PM", 15)]
    per_frame = [header + ([(40, 200, "MRN 00471139", 16)] if f == frames - 3 else [])
                 for f in range(frames)]
    ds = make_text_image(rows=240, cols=640, frames=frames, photometric="RGB",
                         texts_per_frame=per_frame, patient_name="ROWAN^TESS", seed=3)
    array = codec.decode(ds).array.copy()
    for f in range(frames):
        frame = array[f]
        frame[:30] = np.maximum(frame[:30], 45)  # the header band
        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="JPEG", quality=75)
        array[f] = np.asarray(Image.open(buf))
    ds.PixelData = array.tobytes()
    return ds


def _words_left(ds: pydicom.Dataset, frame: int) -> list[str]:
    from gantry_ocr.engine import read_words, to_gray8

    decoded = codec.decode(_reread(ds))
    grey = to_gray8(decoded.array[frame], decoded.photometric)
    return [w.text for w in read_words(grey, min_confidence=0.5, upscale_below=800)]


def test_overlay_through_lossy_compression_and_text_on_one_frame_are_removed() -> None:
    """The probe's RGB_CINE case, generally: JPEG-noisy header text (not identifying by shape
    but still text) and an ID on a frame a sample would skip; BurnedInAnnotation NO only
    after every frame was read."""
    ds = _scanner_screen(frames=12)  # a sample of 8 skips frame 9
    before = " ".join(_words_left(ds, 9))
    assert "Medicine" in before and "00471139" in before  # the text is legible
    context = _context()
    changes = OcrRedactor(OcrSettings()).redact(ds, context)
    assert changes and context.notes["ocr_verified"] and ds.BurnedInAnnotation == "NO"
    assert "pixels_unverified" not in context.notes
    assert "unchanged" in changes[0].detail  # frames equal to the one before: not read again
    for frame in (0, 9):
        left = " ".join(_words_left(ds, frame))
        for text in ("Sports", "Medicine", "01:07", "PM", "00471139"):
            assert text not in left, (frame, text)
