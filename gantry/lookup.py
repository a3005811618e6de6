"""Lookup tables: site-chosen pseudonyms from a CSV file (CTP's LookupTable).

::

    lookup:
      - file: ids.csv          # relative to the profile; columns named in the first line
        key: PatientID         # the attribute whose original value is looked up
        value_column: pseudonym  # the CSV column with the new PatientID (default "pseudonym")
        name_column: name      # optional: the new PatientName (default: the new PatientID)
        missing: refuse        # or "keyed": the keyed pseudonym of the project secret

A PatientID table gives the patient's pseudonym through the ``gantry_pseudonym`` decision
hook, so the one-pass export (``gantry.deid.byte_pass``) and the full engine apply it identically:
both ask the run for the patient's pseudonym. A table keyed by another text attribute
(``key: AccessionNumber``) is applied by the Annex E engine as it walks that element
(:func:`lookup_value`), which is the code the one-pass export runs for each distinct
element. With ``missing: refuse`` an instance whose value is not in the table is withheld when
it is read (a reason naming the table, never the value; exit code 3). Tables are read and
checked when the profile loads: an empty or duplicate original, an empty pseudonym, or one
pseudonym given to two originals is an error naming the CSV file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry.errors import ProfileError
from gantry.profile_rules import LookupSpec, Table, load_table, table_errors

if TYPE_CHECKING:
    from gantry.context import Run
    from gantry.model import Instance
    from gantry.records import PatientKey, Pseudonym


def pseudonym_from_tables(run: Run, patient: PatientKey) -> Pseudonym | None:
    """The pseudonym a table gives a patient; ``None`` to defer (no table, or ``keyed``)."""
    from gantry.records import Pseudonym

    for spec in run.profile.lookup:
        if not spec.patient_level:
            continue
        found = load_table(spec).rows.get(patient.patient_id)
        if found is not None:
            return Pseudonym(patient_id=found[0], patient_name=found[1])
        if spec.missing == "refuse":
            raise LookupMissing(f"PatientID not in the lookup table {Path(spec.file).name} "
                                "(missing: refuse)")
    return None


class LookupMissing(ProfileError):
    """An instance's value is missing from a table whose policy is ``refuse``."""


def lookup_value(run: Run, spec: LookupSpec, original: str) -> str:
    """The new value of an attribute (not PatientID) from its table: the table's, or with
    ``missing: keyed`` a keyed stand-in (16 characters from the project secret's HMAC)."""
    found = load_table(spec).rows.get(original)
    if found is not None:
        return found[0]
    if spec.missing == "refuse":
        raise LookupMissing(f"{spec.key} not in the lookup table {Path(spec.file).name} "
                            "(missing: refuse)")
    return run.keyed_hash(f"{spec.key}\x00{original}")[2:18].upper()


def refusal(run: Run, instance: Instance, header: Any = None) -> str | None:
    """Why a table refuses an instance (its value missing, policy ``refuse``), or ``None``.
    An empty value is never refused (there is nothing to map)."""
    for spec in run.profile.lookup:
        if spec.missing != "refuse":
            continue
        if spec.patient_level:
            value = instance.patient_id.strip()
        else:
            value = str((header.get(spec.key) if header is not None else None) or "").strip()
            if not value:
                continue
        if value not in load_table(spec).rows:
            return (f"{spec.key} not in the lookup table {Path(spec.file).name} "
                    "(missing: refuse)")
    return None


__all__ = ["LookupMissing", "LookupSpec", "Table", "load_table", "lookup_value",
           "pseudonym_from_tables", "refusal", "table_errors"]
