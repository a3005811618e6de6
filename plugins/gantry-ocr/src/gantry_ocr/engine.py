"""Run tesseract on DICOM frames: window to 8-bit grey, upscale small images, read word boxes.

Word boxes come back in the image's own pixel coordinates. ``OMP_THREAD_LIMIT=1`` is set for
tesseract (unless already set) because the kernel already runs instances in parallel.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gantry.api import GantryError

if TYPE_CHECKING:
    import numpy as np
    from gantry_pixels.api import DecodedPixels
    from pydicom import Dataset

INSTALL_HINT = ("tesseract is not installed or not on PATH (Debian/Ubuntu: apt-get install "
                "tesseract-ocr tesseract-ocr-eng; macOS: brew install tesseract)")


class OcrUnavailable(GantryError):
    """tesseract cannot be run."""


@dataclass(frozen=True)
class Word:
    """One word tesseract read: box in image pixels, confidence 0..1, its line."""

    frame: int
    x: int
    y: int
    w: int
    h: int
    text: str
    confidence: float
    line: tuple[int, int, int]
    #: Whether the box looks like drawn text (two flat levels: text and background) rather
    #: than texture or noise tesseract happened to read as letters.
    textlike: bool = True

    def padded(self, padding: int, rows: int, cols: int) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` grown by ``padding`` on every side, clipped to the image."""
        x0, y0 = max(0, self.x - padding), max(0, self.y - padding)
        x1, y1 = min(cols, self.x + self.w + padding), min(rows, self.y + self.h + padding)
        return x0, y0, x1 - x0, y1 - y0


def sample_frames(frames: int, max_frames: int) -> list[int]:
    """Which frames to read: all of them (``max_frames`` 0 or at least ``frames``), or the
    first, the last and evenly spaced ones."""
    if max_frames <= 0 or frames <= max_frames:
        return list(range(frames))
    if max_frames == 1:
        return [0]
    step = (frames - 1) / (max_frames - 1)
    return sorted({round(i * step) for i in range(max_frames)})


def to_gray8(frame: np.ndarray, photometric: str, ds: Dataset | None = None) -> np.ndarray:
    """One decoded frame ``(rows, cols, samples)`` as 8-bit grey for OCR.

    Monochrome data of any depth is windowed linearly from its own minimum to its maximum
    (burned-in text is drawn at or near the maximum); MONOCHROME1 is inverted; colour becomes
    luminance; palette colour goes through its lookup table first.
    """
    import numpy as np

    data = frame
    if photometric == "PALETTE COLOR" and ds is not None:
        from pydicom.pixels import apply_color_lut

        data = apply_color_lut(frame[..., 0], ds)
    data = np.asarray(data, dtype=np.float64)
    if data.ndim == 3 and data.shape[-1] >= 3:
        grey = data[..., 0] * 0.299 + data[..., 1] * 0.587 + data[..., 2] * 0.114
    else:
        grey = data.reshape(data.shape[0], data.shape[1])
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        return np.zeros(grey.shape, dtype=np.uint8)
    out = (grey - low) * (255.0 / (high - low))
    if photometric == "MONOCHROME1":
        out = 255.0 - out
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _tesseract() -> Any:
    try:
        import pytesseract
    except ImportError as exc:  # pragma: no cover - a dependency of this plugin
        raise OcrUnavailable(f"pytesseract is not installed: {exc}") from exc
    return pytesseract


def check_tesseract() -> str:
    """The tesseract version, or :class:`OcrUnavailable` with how to install it."""
    pytesseract = _tesseract()
    try:
        return str(pytesseract.get_tesseract_version())
    except Exception as exc:
        raise OcrUnavailable(INSTALL_HINT) from exc


def read_words(grey: np.ndarray, *, frame: int = 0, min_confidence: float = 0.6,
               upscale_below: int = 1024, language: str = "eng",
               frame_size: tuple[int, int] | None = None) -> list[Word]:
    """Words tesseract finds in an 8-bit grey image, boxes in the image's own pixels.

    Uses sparse-text segmentation (``--psm 11``), which suits annotations scattered over an
    image. Light text on a dark image is inverted first (tesseract reads dark on light best).
    ``frame_size``: the whole frame's ``(rows, cols)`` when ``grey`` is a crop of it (the
    upscale factor is the frame's).
    """
    import numpy as np
    from PIL import Image

    pytesseract = _tesseract()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    rows, cols = grey.shape
    side = min(frame_size or (rows, cols))  # a crop's text is as small as its frame's
    scale = 1
    if upscale_below and side < upscale_below:
        scale = 2 if side * 2 >= upscale_below or side >= 200 else 3
    img = grey if float(np.mean(grey)) >= 128 else 255 - grey
    pil = Image.fromarray(img, mode="L")
    if scale > 1:
        pil = pil.resize((cols * scale, rows * scale), Image.Resampling.LANCZOS)
    try:
        data = pytesseract.image_to_data(pil, lang=language, config="--psm 11",
                                         output_type=pytesseract.Output.DICT)
    except pytesseract.TesseractNotFoundError as exc:
        raise OcrUnavailable(INSTALL_HINT) from exc
    except pytesseract.TesseractError as exc:
        raise OcrUnavailable(f"tesseract failed: {exc}") from exc
    words: list[Word] = []
    for i, text in enumerate(data["text"]):
        text = (text or "").strip()
        try:
            conf = float(data["conf"][i]) / 100.0
        except (TypeError, ValueError):
            continue
        if not text or conf < min_confidence or not any(ch.isalnum() for ch in text):
            continue
        x, y = int(data["left"][i]) // scale, int(data["top"][i]) // scale
        w = -(-int(data["width"][i]) // scale)
        h = -(-int(data["height"][i]) // scale)
        line = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
        words.append(Word(frame, x, y, w, h, text, round(conf, 3), line,
                          textlike=is_textlike(grey[y:y + h, x:x + w])))
    return words


#: Share of a box's variance that two levels (text and background, split at Otsu's threshold)
#: must explain for the box to count as drawn text. Rendered text, anti-aliased or through
#: lossy compression, scores 0.85-1.0; noise and anatomy tesseract reads as letters spread
#: over many levels and score 0.65-0.81 (a uniform spread: 0.75).
TEXTLIKE_SEPARATION = 0.83
#: Least difference between the two levels' means (8-bit) for text to be legible.
TEXTLIKE_CONTRAST = 48


def two_level_fit(box: np.ndarray) -> tuple[float, float]:
    """``(share of variance explained, contrast)`` of the best split of an 8-bit box into two
    levels (Otsu's threshold): near 1 for text on a flat background, whatever the noise of
    lossy compression or anti-aliasing around the two levels."""
    import numpy as np

    hist = np.bincount(box.ravel(), minlength=256).astype(np.float64)
    total = hist.sum()
    if total == 0:
        return 0.0, 0.0
    levels = np.arange(256, dtype=np.float64)
    weight = np.cumsum(hist)  # pixels at or below each threshold
    mass = np.cumsum(hist * levels)
    mean = mass[-1] / total
    variance = float((hist * (levels - mean) ** 2).sum() / total)
    if variance <= 0:
        return 0.0, 0.0
    low_w, high_w = weight[:-1], total - weight[:-1]
    valid = (low_w > 0) & (high_w > 0)
    if not valid.any():
        return 0.0, 0.0
    low_mean = np.where(valid, mass[:-1] / np.maximum(low_w, 1), 0.0)
    high_mean = np.where(valid, (mass[-1] - mass[:-1]) / np.maximum(high_w, 1), 0.0)
    between = np.where(valid, low_w * high_w * (high_mean - low_mean) ** 2, -1.0) / total ** 2
    best = int(np.argmax(between))
    return float(between[best]) / variance, float(high_mean[best] - low_mean[best])


def is_textlike(box: np.ndarray) -> bool:
    """Whether an 8-bit box looks like rendered text: two levels (glyphs and background) far
    enough apart explain nearly all of its variance. Noise and anatomy spread out instead."""
    if box.size == 0:
        return False
    separation, contrast = two_level_fit(box)
    return contrast >= TEXTLIKE_CONTRAST and separation >= TEXTLIKE_SEPARATION


#: Grey levels by which a pixel must change from the frame read before to be read again
#: (below the contrast of legible text; above the noise of lossy compression).
CHANGE_TOLERANCE = 16
#: Pixels added around a frame's changed area before it is read (text that only partly
#: changed, such as a clock, is read whole).
CHANGE_MARGIN = 32
#: A changed area larger than this share of the frame is read as the whole frame.
FULL_READ_SHARE = 0.7


def changed_box(grey: np.ndarray, before: np.ndarray) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)``: the bounding box of the pixels that differ from ``before`` by
    more than :data:`CHANGE_TOLERANCE`, or ``None`` when none does."""
    import numpy as np

    moved = np.abs(grey.astype(np.int16) - before.astype(np.int16)) > CHANGE_TOLERANCE
    rows, cols = np.flatnonzero(moved.any(axis=1)), np.flatnonzero(moved.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _inside(word: Word, box: tuple[int, int, int, int]) -> bool:
    x0, y0, x1, y1 = box
    return word.x >= x0 and word.y >= y0 and word.x + word.w <= x1 and word.y + word.h <= y1


@dataclass
class FrameReading:
    """What :func:`read_instance` did: frames read whole, read in part, or equal to the frame
    read before them (their words carried over)."""

    whole: int = 0
    partial: int = 0
    unchanged: int = 0


def read_instance(ds: Dataset, decoded: DecodedPixels, frames: list[int], *,
                  min_confidence: float, upscale_below: int, language: str,
                  reading: FrameReading | None = None) -> list[Word]:
    """Words on every one of ``frames`` of a decoded instance.

    Each frame is compared with the pixels OCR last read at each place: where no pixel
    changed (beyond :data:`CHANGE_TOLERANCE`) the frame's words are those read before;
    otherwise only the changed area (grown by :data:`CHANGE_MARGIN`) is read again, and the
    words read before that lie partly or wholly outside it are carried over (their pixels are
    the same). Comparing with what was read, not with the frame before, keeps slow drift from
    adding up unread. A cine whose overlay stays still is thus read whole once.
    ``reading`` counts what was done.
    """
    from dataclasses import replace

    reading = reading if reading is not None else FrameReading()
    words: list[Word] = []
    previous: tuple[np.ndarray, list[Word]] | None = None
    for f in frames:
        grey = to_gray8(decoded.array[f], decoded.photometric, ds)
        rows, cols = grey.shape
        box = None if previous is None else changed_box(grey, previous[0])
        if previous is not None and box is None:
            mine = [replace(w, frame=f) for w in previous[1]]
            seen = previous[0]
            reading.unchanged += 1
        elif previous is None or (
                (box[2] - box[0] + 2 * CHANGE_MARGIN) * (box[3] - box[1] + 2 * CHANGE_MARGIN)
                >= FULL_READ_SHARE * rows * cols):
            mine = read_words(grey, frame=f, min_confidence=min_confidence,
                              upscale_below=upscale_below, language=language)
            seen = grey
            reading.whole += 1
        else:
            x0, y0 = max(0, box[0] - CHANGE_MARGIN), max(0, box[1] - CHANGE_MARGIN)
            x1, y1 = min(cols, box[2] + CHANGE_MARGIN), min(rows, box[3] + CHANGE_MARGIN)
            mine = [replace(w, frame=f) for w in previous[1] if not _inside(w, box)]
            seen = previous[0].copy()  # what was read at each place, now with this area
            seen[y0:y1, x0:x1] = grey[y0:y1, x0:x1]
            reading.partial += 1
            block = 10000 * reading.partial  # lines of this reading stay apart from others
            mine += [replace(w, x=w.x + x0, y=w.y + y0, line=(w.line[0] + block, *w.line[1:]))
                     for w in read_words(grey[y0:y1, x0:x1], frame=f,
                                         min_confidence=min_confidence,
                                         upscale_below=upscale_below, language=language,
                                         frame_size=(rows, cols))]
        previous = (seen, mine)
        words += mine
    return words
