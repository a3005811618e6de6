"""The ``plugins: gantry-nifti:`` section of a profile, validated (errors name file and line).

```yaml
plugins:
  gantry-nifti:
    compress: true                 # .nii.gz (false: .nii)
    bids:
      unmatched: skip              # or: sourcedata (NIfTI under sourcedata/, not BIDS)
      defaults: true               # after the rules, the built-in T1w/T2w/FLAIR/bold/dwi/...
      rules:
        - match: "SeriesDescription contains 'mprage'"
          datatype: anat
          suffix: T1w
        - match: "SeriesDescription contains 'rest' and ImageType contains 'M'"
          datatype: func
          suffix: bold
          entities: {task: rest}
          sidecar: {PhaseEncodingDirection: j-, TotalReadoutTime: 0.0451}
```
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: BIDS entities a rule may set, in the order they appear in a file name
ENTITIES = ("task", "acq", "ce", "rec", "dir", "run", "echo", "flip", "inv", "mt", "part")
DATATYPES = ("anat", "func", "dwi", "fmap", "perf", "pet")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")
_SUFFIX = re.compile(r"^[A-Za-z0-9]+$")


class BidsRule(BaseModel):
    """One rule: series whose (de-identified) header matches ``match`` go to ``datatype``
    with ``suffix`` and ``entities``; ``sidecar`` adds fields to the JSON sidecar."""

    model_config = ConfigDict(extra="forbid")
    match: str
    datatype: Literal["anat", "func", "dwi", "fmap", "perf", "pet"]
    suffix: str
    entities: dict[str, str] = Field(default_factory=dict)
    sidecar: dict[str, Any] = Field(default_factory=dict)

    @field_validator("match")
    @classmethod
    def _parses(cls, value: str) -> str:
        from gantry.api import QueryError, parse_query

        try:
            parse_query(value)
        except QueryError as exc:
            raise ValueError(f"invalid match expression: {exc}") from None
        return value

    @field_validator("suffix")
    @classmethod
    def _suffix(cls, value: str) -> str:
        if not _SUFFIX.match(value):
            raise ValueError(f"suffix {value!r} must be letters and digits only")
        return value

    @field_validator("entities")
    @classmethod
    def _entities(cls, value: dict[str, str]) -> dict[str, str]:
        out = {}
        for key, label in value.items():
            if key not in ENTITIES:
                raise ValueError(f"unknown entity {key!r} (known: {', '.join(ENTITIES)})")
            label = str(label)
            if not _LABEL.match(label):
                raise ValueError(f"entity {key}: label {label!r} must be letters and digits")
            if key in ("run", "echo", "flip", "inv") and not label.isdigit():
                raise ValueError(f"entity {key}: label {label!r} must be a number")
            out[key] = label
        return out


class BidsSettings(BaseModel):
    """How series become a BIDS dataset."""

    model_config = ConfigDict(extra="forbid")
    rules: list[BidsRule] = Field(default_factory=list)
    defaults: bool = True
    unmatched: Literal["skip", "sourcedata"] = "skip"
    name: str = "Gantry export"


class NiftiSettings(BaseModel):
    """The plugin's settings."""

    model_config = ConfigDict(extra="forbid")
    compress: bool = True
    bids: BidsSettings = Field(default_factory=BidsSettings)


def load_settings(raw: object) -> NiftiSettings:
    """Validated settings from a profile's section (``{}`` gives the defaults)."""
    return NiftiSettings.model_validate(raw or {})
