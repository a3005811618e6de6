"""Settings of the parquet exporter (profile ``plugins: {gantry-parquet: ...}`` or the export
target's ``options``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ParquetOptions(BaseModel):
    """How the ``parquet`` exporter writes.

    ``partition_by`` lists single-valued attributes (e.g. ``[Modality]``) giving hive-style
    folders ``Modality=CT/``; the destination is then a folder. ``batch_size`` rows are held in
    memory at most; ``compression`` is the parquet codec of the final files.
    """

    model_config = ConfigDict(extra="forbid")

    partition_by: list[str] = Field(default_factory=list)
    batch_size: int = Field(default=5000, ge=1, le=1_000_000)
    compression: Literal["zstd", "snappy", "gzip", "lz4", "brotli", "none"] = "zstd"
    row_group_size: int = Field(default=100_000, ge=1)

    @field_validator("partition_by", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    @field_validator("partition_by")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        from gantry.api import name_for_column

        for column in value:
            name = name_for_column(column)
            if name is None:
                raise ValueError(f"partition_by: unknown DICOM keyword {column!r}")
            if name.multi or name.kind in ("sequence", "binary"):
                raise ValueError(f"partition_by: {column} is not a single-valued attribute")
        return value
