"""OCR plumbing that needs no tesseract: sampling, windowing, classification, clustering."""

from __future__ import annotations

import numpy as np
import pytest
import yaml
from gantry_ocr.classify import (
    classify_words,
    fallback_identifiers,
    from_context,
    from_values,
    looks_like,
    matches_identifiers,
)
from gantry_ocr.discover import DeviceKey, Sighting, cluster, propose_yaml
from gantry_ocr.engine import Word, sample_frames, to_gray8
from gantry_ocr.settings import load_settings
from gantry_pixels.settings import load_settings as load_pixel_settings
from gantry_pixels.testing import make_text_image


@pytest.mark.parametrize(("frames", "most", "expected"), [
    (1, 8, [0]), (5, 8, [0, 1, 2, 3, 4]), (100, 4, [0, 33, 66, 99]), (9, 1, [0]),
    (12, 0, list(range(12))),
])
def test_frame_sampling_keeps_first_and_last(frames: int, most: int, expected: list[int]) -> None:
    assert sample_frames(frames, most) == expected


def test_sixteen_bit_is_windowed_and_monochrome1_inverted() -> None:
    frame = np.array([[-1000], [0], [3000]], dtype=np.int16).reshape(3, 1, 1)
    grey = to_gray8(frame, "MONOCHROME2")
    assert grey.dtype == np.uint8 and grey.ravel().tolist() == [0, 64, 255]
    assert to_gray8(frame, "MONOCHROME1").ravel().tolist() == [255, 191, 0]
    assert to_gray8(np.zeros((4, 4, 1), np.uint16), "MONOCHROME2").max() == 0


@pytest.mark.parametrize(("text", "kind"), [
    ("01/30/1986", "date"), ("1986-01-30", "date"), ("30-Jan-1986", "date"),
    ("19860130", "date"), ("MRN4471ST", "id"), ("ACC123456", "id"), ("00482913", "id"),
    ("SMITH^JOHN", "name"), ("TEST, ADL", "name"),
    ("5.0cm", None), ("12.5", None), ("2:09:04", "time"), ("Gain 45", None), ("L12-5", None),
    ("ABD, LIVER", None), ("60Hz", None),
])
def test_shapes_of_identifying_text(text: str, kind: str | None) -> None:
    assert looks_like(text) == kind


def test_identifier_matching_tolerates_ocr_errors() -> None:
    ids = from_values(["QUILLFEATHER^ERMENGARDE", "MRN0007Q7919", "19860130"])
    assert matches_identifiers("QUILLFEATHER,", ids)
    assert matches_identifiers("QU1LLFEATHER", ids)  # one OCR error in 12 letters
    assert matches_identifiers("MRN0007Q7919", ids)
    assert matches_identifiers("01/30/1986", from_values(fallback_identifiers(
        make_text_image(patient_name="X^Y", patient_id="Z"))))
    assert not matches_identifiers("QUALITY", ids)
    assert not matches_identifiers("ERM", ids)


def test_engine_identifier_set_is_used_when_present() -> None:
    from gantry.deid.identifiers import collect_identifiers

    ds = make_text_image(patient_name="Pemberton^Cressida", patient_id="MRN5521")
    ids = from_context(collect_identifiers(ds), ds, None)
    assert ids.source is not None
    assert matches_identifiers("PEMBERTON", ids) and matches_identifiers("MRN5521", ids)


def test_fallback_reads_header_and_patient_key() -> None:
    from gantry.records import PatientKey

    ds = make_text_image(patient_name="Harrow^Jane", patient_id="ID777")
    ids = from_context(None, ds, PatientKey("P-991-X", "Wexcombe^Thaddeus", "", "19700101"))
    for token in ("HARROW", "JANE", "ID777", "P991X", "WEXCOMBE", "01011970"):
        assert token in ids.tokens | ids.phrases


def test_a_name_split_over_two_words_marks_both() -> None:
    words = [Word(0, 10, 5, 40, 12, "TEST,", 0.9, (1, 1, 1)),
             Word(0, 55, 5, 30, 12, "ADL", 0.9, (1, 1, 1)),
             Word(0, 200, 5, 30, 12, "5.0cm", 0.9, (2, 1, 1))]
    verdicts = classify_words(words, from_values([]))
    assert [verdicts[i].identifying for i in range(3)] == [True, True, False]
    assert verdicts[0].reason == "name"


def test_clusters_become_a_reviewable_rule() -> None:
    device = DeviceKey("NOVA MEDICAL", "ECHO[X]", 240, 320)
    sightings = [Sighting(device, [((6, 4, 90 + 10 * i, 18), True), ((220, 4, 292, 16), True)])
                 for i in range(4)]
    sightings.append(Sighting(device, [((100, 100, 130, 112), False)]))  # once: dropped
    text = propose_yaml(cluster(sightings), min_share=0.5, padding=2)
    assert "4/5" in text and "identifying text in 4/5" in text
    rules = yaml.safe_load(text)["plugins"]["gantry-pixels"]
    settings = load_pixel_settings(rules)
    (zone,) = settings.zones
    assert zone.match == {"Manufacturer": "NOVA MEDICAL", "ManufacturerModelName": "ECHO[[]X[]]",
                          "size": "240x320"}
    assert sorted(tuple(b.to_pixels(240, 320)) for b in zone.boxes) == [
        (4, 2, 118, 18), (218, 2, 76, 16)]
    assert propose_yaml(cluster([]), min_share=0.5).rstrip().endswith("zones: []")


def test_settings_are_validated() -> None:
    from pydantic import ValidationError

    assert load_settings({}).mode == "all-text"
    with pytest.raises(ValidationError, match="min_confidence"):
        load_settings({"min_confidence": 60})
    with pytest.raises(ValidationError, match="mode"):
        load_settings({"mode": "everything"})


def test_textlike_boxes_are_bimodal() -> None:
    from gantry_ocr.engine import is_textlike

    rng = np.random.default_rng(0)
    assert not is_textlike(rng.integers(0, 256, (14, 40)).astype(np.uint8))
    glyphs = np.zeros((14, 40), np.uint8)
    glyphs[3:11, 2:38:4] = 255
    glyphs[3:11, 3:38:4] = 128  # antialiased edge
    assert is_textlike(glyphs)
    assert not is_textlike(np.full((14, 40), 200, np.uint8))  # flat: no contrast


def test_text_through_lossy_compression_is_textlike() -> None:
    """Light text on a grey band, through JPEG (as a scanner's screen capture): its two levels
    are noisy and a few pixels overshoot, yet two levels explain nearly all of the box."""
    import io

    from gantry_ocr.engine import is_textlike, two_level_fit
    from gantry_pixels.testing import render_mask
    from PIL import Image

    mask = render_mask(20, 90, [(2, 2, "Medicine", 15)])
    box = np.clip(40 + mask * 160, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(box).save(buf, format="JPEG", quality=70)
    noisy = np.array(Image.open(buf))
    noisy[0, 0], noisy[1, 1] = 10, 230  # overshoot at the edges of glyphs
    assert is_textlike(noisy) and two_level_fit(noisy)[1] > 100
    rng = np.random.default_rng(1)
    speckle = np.clip(rng.normal(110, 40, (20, 90)), 0, 255).astype(np.uint8)
    assert not is_textlike(speckle)  # anatomy-like noise spreads over many levels


@pytest.mark.parametrize(("text", "kind"), [
    ("01:07:45", "time"), ("01:07:45 PM", "time"), ("2:56 PM", "time"), ("00:12", None),
    ("25:10:00", None)])
def test_times_of_day_identify(text: str, kind: str | None) -> None:
    assert looks_like(text) == kind


class _FakeOcr:
    """Stands in for tesseract: records what was read, finds one word on each call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, tuple[int, int]]] = []

    def __call__(self, grey: np.ndarray, *, frame: int = 0, **_: object) -> list[Word]:
        self.calls.append((frame, grey.shape))
        return [Word(frame, 1, 1, 5, 5, "TEXT", 0.9, (1, 1, 1))]


def _frames(arrays: list[np.ndarray]) -> object:
    from types import SimpleNamespace

    stack = np.stack(arrays)[..., None]
    return SimpleNamespace(array=stack, photometric="MONOCHROME2", frames=len(arrays))


def test_every_frame_is_read_where_it_changed(monkeypatch: pytest.MonkeyPatch) -> None:
    import gantry_ocr.engine as engine

    fake = _FakeOcr()
    monkeypatch.setattr(engine, "read_words", fake)
    base = np.zeros((200, 300), np.uint8)
    base[0, 0] = 255  # the same window on every frame
    moved = base.copy()
    moved[150:160, 200:220] = 200  # new text low on the frame
    reading = engine.FrameReading()
    words = engine.read_instance(None, _frames([base, base, moved, moved]), [0, 1, 2, 3],
                                 min_confidence=0.5, upscale_below=0, language="eng",
                                 reading=reading)
    assert (reading.whole, reading.partial, reading.unchanged) == (1, 1, 2)
    assert [frame for frame, _ in fake.calls] == [0, 2]
    assert fake.calls[1][1] == (10 + 2 * 32, 20 + 2 * 32)  # the changed area and a margin
    by_frame = {f: [w for w in words if w.frame == f] for f in range(4)}
    assert len(by_frame[1]) == 1 and len(by_frame[2]) == 2 and len(by_frame[3]) == 2
    assert (by_frame[2][1].x, by_frame[2][1].y) == (200 - 32 + 1, 150 - 32 + 1)


def test_slow_drift_does_not_add_up_unread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each frame is within the tolerance of the one before, not of what was read."""
    import gantry_ocr.engine as engine

    fake = _FakeOcr()
    monkeypatch.setattr(engine, "read_words", fake)
    frames = []
    for step in range(6):
        f = np.zeros((100, 100), np.uint8)
        f[0, 0] = 255
        f[40:50, 40:50] = 10 * step  # +10 a frame: under the tolerance, 50 in all
        frames.append(f)
    engine.read_instance(None, _frames(frames), list(range(6)), min_confidence=0.5,
                         upscale_below=0, language="eng")
    assert [frame for frame, _ in fake.calls] == [0, 2, 4]


def test_missing_tesseract_fails_with_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import pytesseract
    from gantry_ocr.components import OcrRedactor
    from gantry_ocr.engine import OcrUnavailable

    from gantry.errors import GantryError

    monkeypatch.setattr(pytesseract.pytesseract, "tesseract_cmd", "/nonexistent/tesseract")
    ds = make_text_image([(5, 5, "TEST", 16)])
    with pytest.raises(OcrUnavailable, match="apt-get install tesseract-ocr") as err:
        OcrRedactor(load_settings({})).redact(ds, None)  # type: ignore[arg-type]
    assert isinstance(err.value, GantryError)  # the kernel fails the instance (closed)


def test_shipped_profile_cleans_pixels() -> None:
    from gantry_ocr.plugin import gantry_profile_paths

    from gantry.profiles import load_profile

    profile = load_profile("ocr/clean-pixel-data", list(gantry_profile_paths()))
    assert profile.redact == ["ps315-tags", "pixel-zones", "burned-in-ocr"]
    assert "burned-in-ocr" in profile.audit and profile.has("clean-pixel-data")
    assert load_settings(profile.plugins["gantry-ocr"]).mode == "all-text"
