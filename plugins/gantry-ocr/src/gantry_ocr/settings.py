"""The ``plugins: {gantry-ocr: ...}`` settings section.

Example::

    plugins:
      gantry-ocr:
        min_confidence: 0.6        # tesseract word confidence, 0..1
        padding: 4                 # pixels added around each word box before blanking
        mode: all-text             # or identifying-only
        max_frames: 0              # 0: every frame; N: sample N (and vouch for none)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class OcrSettings(BaseModel):
    """Settings of the ``gantry-ocr`` section (auditor and redactor ``burned-in-ocr``)."""

    model_config = ConfigDict(extra="forbid")
    #: Words below this tesseract confidence (0..1) are ignored.
    min_confidence: float = Field(default=0.6, ge=0.0, le=1.0)
    #: Words that identify (match the header, or look like a name, date or ID) count from this
    #: lower confidence: OCR is often unsure of IDs (O/0, I/1) it still half-reads.
    identifying_min_confidence: float = Field(default=0.3, ge=0.0, le=1.0)
    #: Pixels added on every side of a word box before it is blanked.
    padding: int = Field(default=4, ge=0, le=200)
    #: ``all-text`` blanks every word found; ``identifying-only`` only words that match the
    #: instance's identifiers or look like a name, date or ID.
    mode: Literal["all-text", "identifying-only"] = "all-text"
    #: 0 (default): every frame is read (a frame equal to the one before it is not read
    #: again; one that changed is read where it changed). N: multi-frame images with more
    #: frames are sampled (first, last and evenly spaced frames) and boxes found on any sampled
    #: frame are blanked on every frame; the redactor then cannot vouch for the frames it did
    #: not read: it writes no BurnedInAnnotation NO and does not count Clean Pixel Data as
    #: performed, so the export gate refuses an image known to carry text.
    max_frames: int = Field(default=0, ge=0, le=100000)
    #: Upscale images whose smaller side is below this many pixels (tesseract reads text of
    #: 20-30 px best; scanners stamp 10-15 px text on 480-800 px screens, which tesseract
    #: misreads at native size); 0 turns upscaling off.
    upscale_below: int = Field(default=1024, ge=0)
    #: Blank and re-check at most this many times before failing the instance.
    passes: int = Field(default=2, ge=1, le=5)
    #: Only images of these modalities are read (empty: every image).
    modalities: list[str] = Field(default_factory=list)
    #: tesseract language(s), e.g. ``eng`` or ``eng+deu``.
    language: str = "eng"
    #: BurnedInAnnotation written after a successful verified cleaning (``keep`` leaves it).
    burned_in_annotation: Literal["NO", "keep"] = "NO"


def load_settings(raw: object) -> OcrSettings:
    """Validate a raw mapping (validated settings pass through)."""
    if isinstance(raw, OcrSettings):
        return raw
    return OcrSettings.model_validate(raw or {})
