"""Settings of gantry-reports (profile ``plugins: {gantry-reports: {...}}``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ReportsSettings(BaseModel):
    """``manifests``: write manifests after every export; ``thumbnails``: one small PNG per
    series in the HTML manifest, ``thumbnail_size`` pixels on the long side;
    ``max_html_series``: series listed in the HTML page (all are in the JSON); ``rehash``:
    read and hash every file again, even one whose size and modification time are those its
    export recorded (by default such a file keeps its recorded sha256)."""

    model_config = ConfigDict(extra="forbid")

    manifests: bool = True
    thumbnails: bool = True
    thumbnail_size: int = Field(default=96, ge=16, le=512)
    max_html_series: int = Field(default=2000, ge=1)
    rehash: bool = False
