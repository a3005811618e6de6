"""The data of a profile's ``filter:`` and ``lookup:`` sections: their models, and the
reading and checking of lookup tables (CSV), with no run state.

:mod:`gantry.profiles` validates these when a profile loads; :mod:`gantry.filters` and
:mod:`gantry.lookup` apply them to a run.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gantry.errors import ProfileError

#: the value representations of attributes a table may map (besides PatientID)
LOOKUP_VRS = ("SH", "LO", "CS", "ST", "LT", "UC")
#: attributes that are the patient's identity: PatientID is mapped through the pseudonym
#: (with PatientName); the others cannot be mapped on their own
PATIENT_IDENTITY = ("PatientName", "IssuerOfPatientID", "PatientBirthDate")


class FilterRule(BaseModel):
    """One ``filter:`` rule of a profile: selectors (all must match) and a reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    sop_class: tuple[str, ...] = Field(default=())
    modality: tuple[str, ...] = Field(default=())
    image_type: tuple[str, ...] = Field(default=())
    query: str | None = None
    reason: str | None = None

    @field_validator("sop_class", "modality", "image_type", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("query")
    @classmethod
    def _parses(cls, value: str | None) -> str | None:
        if value is not None:
            from gantry.query import QueryError, parse_query

            try:
                parse_query(value)
            except QueryError as exc:
                raise ValueError(f"invalid query: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_selector(self) -> FilterRule:
        if not (self.sop_class or self.modality or self.image_type or self.query):
            raise ValueError("a filter rule needs sop_class, modality, image_type or query")
        return self

    def describe(self) -> str:
        """The reason given when this rule withholds an input."""
        if self.reason:
            return self.reason
        parts = []
        if self.sop_class:
            parts.append(f"SOP class {'/'.join(self.sop_class)}")
        if self.modality:
            parts.append(f"modality {'/'.join(self.modality)}")
        if self.image_type:
            parts.append(f"image type {'/'.join(self.image_type)}")
        if self.query:
            parts.append(f"query {self.query!r}")
        return "filtered by the profile: " + ", ".join(parts)


class LookupSpec(BaseModel):
    """One ``lookup:`` entry of a profile."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    file: str
    key: str = "PatientID"
    key_column: str | None = None
    value_column: str = "pseudonym"
    name_column: str | None = None
    missing: Literal["refuse", "keyed"] = "refuse"

    @field_validator("key")
    @classmethod
    def _supported(cls, value: str) -> str:
        if value == "PatientID":
            return value
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        tag = tag_for_keyword(value)
        if tag is None:
            raise ValueError(f"lookup key {value!r} is not an attribute keyword")
        if value in PATIENT_IDENTITY:
            raise ValueError(f"lookup key {value!r}: the patient's identity is mapped through "
                             "PatientID (name_column gives the new PatientName)")
        vr = dictionary_VR(tag)
        if vr not in LOOKUP_VRS:
            raise ValueError(f"lookup key {value!r} has VR {vr}: a table maps text values "
                             f"({', '.join(LOOKUP_VRS)}); UIDs, dates and numbers are keyed")
        return value

    @model_validator(mode="after")
    def _name_for_patients(self) -> LookupSpec:
        if self.name_column and not self.patient_level:
            raise ValueError("name_column is for PatientID tables (the new PatientName)")
        return self

    @property
    def patient_level(self) -> bool:
        """Whether the table gives the patient's pseudonym (key PatientID)."""
        return self.key == "PatientID"

    @property
    def tag(self) -> int:
        """The tag of :attr:`key`."""
        from pydicom.datadict import tag_for_keyword

        return int(tag_for_keyword(self.key))

    @property
    def original_column(self) -> str:
        """The CSV column holding the original values."""
        return self.key_column or self.key


@dataclass(frozen=True)
class Table:
    """A loaded table: original value → (new ID, new name)."""

    path: str
    rows: dict[str, tuple[str, str]]


_TABLES: dict[tuple[LookupSpec, int, int], Table] = {}


def table_errors(spec: LookupSpec) -> list[ProfileError]:
    """Every problem of a table, each naming the CSV file and line (empty when valid)."""
    try:
        _read(spec)
    except _Problems as exc:
        return exc.errors
    return []


class _Problems(Exception):
    def __init__(self, errors: list[ProfileError]) -> None:
        self.errors = errors


def load_table(spec: LookupSpec) -> Table:
    """The table of ``spec``, read once per file version; its first problem raises a
    :class:`~gantry.errors.ProfileError` naming file and line (``+ N more``)."""
    try:
        stat = os.stat(spec.file)
    except OSError as exc:
        raise ProfileError(f"cannot read lookup table: {exc.strerror or exc}",
                           file=spec.file) from None
    key = (spec, stat.st_mtime_ns, stat.st_size)
    table = _TABLES.get(key)
    if table is None:
        try:
            table = _read(spec)
        except _Problems as exc:
            first = exc.errors[0]
            if len(exc.errors) > 1:
                raise ProfileError(f"{first.args[0]} (+{len(exc.errors) - 1} more problems: "
                                   "gantry profiles validate lists them)") from None
            raise first from None
        _TABLES[key] = table
    return table


def _read(spec: LookupSpec) -> Table:
    errors: list[ProfileError] = []

    def problem(message: str, line: int | None) -> None:
        errors.append(ProfileError(message, file=spec.file, line=line))

    try:
        with open(spec.file, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise _Problems([ProfileError("lookup table is empty (expected a header line "
                                              f"with {spec.original_column!r} and "
                                              f"{spec.value_column!r})", file=spec.file,
                                              line=1)])
            names = [h.strip() for h in header]
            wanted = [spec.original_column, spec.value_column] + (
                [spec.name_column] if spec.name_column else [])
            missing = [w for w in wanted if w not in names]
            if missing:
                raise _Problems([ProfileError(
                    f"lookup table has no column {', '.join(map(repr, missing))} "
                    f"(columns: {', '.join(names)})", file=spec.file, line=1)])
            at = {name: names.index(name) for name in wanted}
            rows: dict[str, tuple[str, str]] = {}
            first_line: dict[str, int] = {}
            owner: dict[str, tuple[str, int]] = {}
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) < len(names):
                    problem(f"{len(row)} fields where the header has {len(names)}", line)
                    continue
                original = row[at[spec.original_column]].strip()
                new_id = row[at[spec.value_column]].strip()
                new_name = row[at[spec.name_column]].strip() if spec.name_column else new_id
                if not original:
                    problem(f"empty {spec.original_column}", line)
                    continue
                if not new_id:
                    problem(f"empty {spec.value_column}", line)
                    continue
                if original in rows:
                    problem(f"{spec.original_column} repeats the one of line "
                            f"{first_line[original]}", line)
                    continue
                if new_id in owner:
                    problem(f"{spec.value_column} is also given at line {owner[new_id][1]}: two "
                            "patients would be merged", line)
                    continue
                rows[original] = (new_id, new_name)
                first_line[original] = line
                owner[new_id] = (original, line)
    except OSError as exc:
        raise _Problems([ProfileError(f"cannot read lookup table: {exc.strerror or exc}",
                                      file=spec.file)]) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise _Problems([ProfileError(f"not a UTF-8 CSV file ({exc})", file=spec.file)]) from None
    if errors:
        raise _Problems(errors)
    return Table(spec.file, rows)


def resolve_files(specs: list[dict[str, object]], folder: Path) -> list[dict[str, object]]:
    """``lookup:`` entries with their ``file`` made absolute (relative to the profile)."""
    out = []
    for spec in specs:
        file = spec.get("file")
        if isinstance(file, str):
            spec = {**spec, "file": str((folder / os.path.expanduser(file)).resolve())}
        out.append(spec)
    return out


__all__ = ["LOOKUP_VRS", "PATIENT_IDENTITY", "FilterRule", "LookupSpec", "Table", "load_table",
           "resolve_files", "table_errors"]
