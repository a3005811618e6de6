"""The ``plugins: {gantry-pixels: ...}`` settings section: zone rules and what to mark.

A zone rule names the instances it applies to (``match``: attribute → pattern, every entry must
match; ``exclude``: an instance matching any entry is skipped) and the boxes to blank on every
frame. Patterns are case-insensitive globs (``*``, ``?``, ``[...]``), or regular expressions
with the ``re:`` prefix (full match, case-insensitive). ``size`` matches ``ROWSxCOLUMNS`` with
``*`` for either side.

Example::

    plugins:
      gantry-pixels:
        zones:
          - name: ge-logiq-header
            match: {Modality: US, ManufacturerModelName: "LOGIQ*", size: "480x640"}
            boxes:
              - [0, 0, 640, 40]                              # x, y, width, height in pixels
              - {x: 0.0, y: 0.95, w: 1.0, h: 0.05, unit: fraction}
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: Keys of ``match`` with a meaning of their own (every other key is a DICOM keyword or tag).
SPECIAL_KEYS = ("size", "sop_class")
TAG_PATTERN = re.compile(r"^\(?([0-9a-fA-F]{4}),?([0-9a-fA-F]{4})\)?$")
_SIZE = re.compile(r"^\s*(\*|\d+)\s*[xX\u00d7]\s*(\*|\d+)\s*$")


class Box(BaseModel):
    """A rectangle to blank, in pixels (``unit: px``) or fractions (``unit: fraction``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    x: float
    y: float
    w: float = Field(gt=0)
    h: float = Field(gt=0)
    unit: Literal["px", "fraction"] = "px"

    @model_validator(mode="before")
    @classmethod
    def _from_list(cls, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if len(value) != 4:
                raise ValueError(f"a box is [x, y, width, height], got {len(value)} numbers")
            return {"x": value[0], "y": value[1], "w": value[2], "h": value[3]}
        return value

    @model_validator(mode="after")
    def _check(self) -> Box:
        if self.unit == "fraction":
            for name in ("x", "y", "w", "h"):
                v = getattr(self, name)
                if not 0.0 <= v <= 1.0:
                    raise ValueError(f"{name}={v}: fractions must lie between 0 and 1")
        elif self.x < 0 or self.y < 0:
            raise ValueError("x and y must not be negative")
        return self

    def to_pixels(self, rows: int, columns: int) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` in pixels for an image of ``rows`` x ``columns`` (fractions rounded
        outwards so the box never shrinks)."""
        if self.unit == "px":
            return int(self.x), int(self.y), round(self.w), round(self.h)
        import math

        x0, y0 = math.floor(self.x * columns), math.floor(self.y * rows)
        x1 = math.ceil((self.x + self.w) * columns)
        y1 = math.ceil((self.y + self.h) * rows)
        return x0, y0, max(1, x1 - x0), max(1, y1 - y0)


Pattern = str | list[str]


class ZoneRule(BaseModel):
    """Boxes to blank on every frame of the instances a ``match`` selects."""

    model_config = ConfigDict(extra="forbid")
    name: str = ""
    match: dict[str, Pattern] = Field(default_factory=dict)
    exclude: dict[str, Pattern] = Field(default_factory=dict)
    boxes: list[Box] = Field(min_length=1)

    @field_validator("match", "exclude")
    @classmethod
    def _keys(cls, value: dict[str, Pattern]) -> dict[str, Pattern]:
        for key, pattern in value.items():
            check_key(key)
            for p in pattern if isinstance(pattern, list) else [pattern]:
                check_pattern(key, str(p))
        return {k: ([str(p) for p in v] if isinstance(v, list) else str(v))
                for k, v in value.items()}


class PixelSettings(BaseModel):
    """Settings of the ``gantry-pixels`` section."""

    model_config = ConfigDict(extra="forbid")
    zones: list[ZoneRule] = Field(default_factory=list)
    burned_in_annotation: Literal["NO", "keep"] = "NO"


def check_key(key: str) -> None:
    """Raise ``ValueError`` unless ``key`` is a special key, a DICOM keyword or a tag."""
    if key in SPECIAL_KEYS or TAG_PATTERN.match(key):
        return
    from pydicom.datadict import tag_for_keyword

    if tag_for_keyword(key) is None:
        raise ValueError(f"unknown attribute {key!r} (use a DICOM keyword, (gggg,eeee) or size)")


def check_pattern(key: str, pattern: str) -> None:
    """Raise ``ValueError`` when a pattern cannot be compiled (bad ``re:`` or size)."""
    if key == "size" and not _SIZE.match(pattern):
        raise ValueError(f"size {pattern!r} must be ROWSxCOLUMNS, e.g. 480x640 or *x640")
    if pattern.startswith("re:"):
        try:
            re.compile(pattern[3:])
        except re.error as exc:
            raise ValueError(f"invalid regular expression {pattern[3:]!r}: {exc}") from None


def pattern_matches(pattern: str, value: str) -> bool:
    """Whether ``value`` matches a case-insensitive glob or a ``re:`` regular expression."""
    if pattern.startswith("re:"):
        return re.fullmatch(pattern[3:], value, flags=re.IGNORECASE | re.DOTALL) is not None
    return fnmatch.fnmatchcase(value.upper(), pattern.upper())


def size_matches(pattern: str, rows: int, columns: int) -> bool:
    """Whether ``ROWSxCOLUMNS`` (``*`` wildcards allowed) matches an image size."""
    m = _SIZE.match(pattern)
    if not m:
        return False
    want_rows, want_cols = m.groups()
    return (want_rows == "*" or int(want_rows) == rows) and (
        want_cols == "*" or int(want_cols) == columns)


def load_settings(raw: dict[str, Any] | None) -> PixelSettings:
    """Validate a raw settings mapping (already validated ones pass through)."""
    if isinstance(raw, PixelSettings):
        return raw
    return PixelSettings.model_validate(raw or {})
