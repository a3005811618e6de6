"""The ``gantry-deface`` settings section (``plugins: {gantry-deface: ...}``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class DefaceSettings(BaseModel):
    """How ``deface`` works and what it does with head volumes it cannot deface."""

    model_config = ConfigDict(extra="forbid")

    #: refuse (fail) every instance of a head series that could not be defaced; without it
    #: such a series is written as it is, with the reason in the findings
    require: bool = False
    #: tissue removed behind the anterior skin surface (mm)
    depth_mm: float = Field(38.0, gt=0, le=120)
    #: the intracranial cavity grown by this much is never touched (mm)
    margin_mm: float = Field(4.0, ge=0, le=30)
    #: remove the ears (what lies beyond the braincase's sides by ``ear_margin_mm``)
    ears: bool = True
    ear_margin_mm: float = Field(13.0, ge=0, le=60)


def load_settings(raw: dict[str, Any] | None) -> DefaceSettings:
    """Validated settings from the profile's section (``{}`` when absent)."""
    return DefaceSettings.model_validate(raw or {})
