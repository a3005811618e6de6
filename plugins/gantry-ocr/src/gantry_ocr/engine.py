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
    """Which frames to read: all of them, or the first, the last and evenly spaced ones."""
    if frames <= max_frames:
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
               upscale_below: int = 400, language: str = "eng") -> list[Word]:
    """Words tesseract finds in an 8-bit grey image, boxes in the image's own pixels.

    Uses sparse-text segmentation (``--psm 11``), which suits annotations scattered over an
    image. Light text on a dark image is inverted first (tesseract reads dark on light best).
    """
    import numpy as np
    from PIL import Image

    pytesseract = _tesseract()
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    rows, cols = grey.shape
    scale = 1
    if upscale_below and min(rows, cols) < upscale_below:
        scale = 2 if min(rows, cols) * 2 >= upscale_below or min(rows, cols) >= 200 else 3
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


#: Share of a box's pixels that must sit at its darkest or brightest level to count as text.
TEXTLIKE_SHARE = 0.3


def is_textlike(box: np.ndarray, tolerance: int = 8) -> bool:
    """Whether an 8-bit box is bimodal like rendered text: most pixels within ``tolerance`` of
    its minimum (background) or maximum (glyph cores). Noise and anatomy spread out instead."""
    import numpy as np

    if box.size == 0:
        return False
    low, high = int(box.min()), int(box.max())
    if high - low < 48:
        return False
    flat = np.count_nonzero(box <= low + tolerance) + np.count_nonzero(box >= high - tolerance)
    return flat / box.size >= TEXTLIKE_SHARE


def read_instance(ds: Dataset, decoded: DecodedPixels, frames: list[int], *,
                  min_confidence: float, upscale_below: int, language: str) -> list[Word]:
    """Words on the given frames of a decoded instance."""
    words: list[Word] = []
    for f in frames:
        grey = to_gray8(decoded.array[f], decoded.photometric, ds)
        words += read_words(grey, frame=f, min_confidence=min_confidence,
                            upscale_below=upscale_below, language=language)
    return words
