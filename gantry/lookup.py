"""Lookup tables: site-chosen pseudonyms from a CSV file (CTP's LookupTable).

::

    lookup:
      - file: ids.csv          # relative to the profile; columns named in the first line
        key: PatientID         # the attribute whose original value is looked up
        value_column: pseudonym  # the CSV column with the new PatientID (default "pseudonym")
        name_column: name      # optional: the new PatientName (default: the new PatientID)
        missing: refuse        # or "keyed": the keyed pseudonym of the project secret

The table gives the patient's pseudonym through the ``gantry_pseudonym`` decision hook, so the
one-pass export (``gantry.deid.memo``) and the full engine apply it identically: both ask the
run for the patient's pseudonym. With ``missing: refuse`` an instance whose PatientID is not in
the table is withheld when it is read (a reason naming the table, never the value; exit code
3). Tables are read and checked when the profile loads: an empty or duplicate original, an
empty pseudonym, or one pseudonym given to two patients is an error naming the CSV file and
line.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, field_validator

from gantry.errors import ProfileError

if TYPE_CHECKING:
    from gantry.context import Run
    from gantry.model import Instance
    from gantry.records import PatientKey, Pseudonym

#: attributes a table may be keyed by (the patient's identity: the pseudonym hook)
SUPPORTED_KEYS = ("PatientID",)


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
        if value not in SUPPORTED_KEYS:
            raise ValueError(f"lookup key {value!r} is not supported (supported: "
                             f"{', '.join(SUPPORTED_KEYS)})")
        return value

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


def pseudonym_from_tables(run: Run, patient: PatientKey) -> Pseudonym | None:
    """The pseudonym a table gives a patient; ``None`` to defer (no table, or ``keyed``)."""
    from gantry.records import Pseudonym

    for spec in run.profile.lookup:
        found = load_table(spec).rows.get(patient.patient_id)
        if found is not None:
            return Pseudonym(patient_id=found[0], patient_name=found[1])
        if spec.missing == "refuse":
            raise LookupMissing(f"PatientID not in the lookup table {Path(spec.file).name} "
                                "(missing: refuse)")
    return None


class LookupMissing(ProfileError):
    """An instance's value is missing from a table whose policy is ``refuse``."""


def refusal(run: Run, instance: Instance) -> str | None:
    """Why a table refuses an instance (its PatientID missing, policy ``refuse``), or ``None``."""
    for spec in run.profile.lookup:
        if spec.missing != "refuse":
            continue
        if instance.patient_id.strip() not in load_table(spec).rows:
            return (f"PatientID not in the lookup table {Path(spec.file).name} "
                    "(missing: refuse)")
    return None


__all__ = ["SUPPORTED_KEYS", "LookupMissing", "LookupSpec", "Table", "load_table",
           "pseudonym_from_tables", "refusal", "resolve_files", "table_errors"]
