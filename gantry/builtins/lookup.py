"""Built-in: the pseudonyms of a profile's ``lookup:`` tables (see :mod:`gantry.lookup`).

Registered before the keyed default (which is ``trylast``) and before a site's
``local_hooks:`` (registered last, so asked first): a site's own hook still wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gantry.hookspecs import hookimpl

if TYPE_CHECKING:
    from gantry.context import Run
    from gantry.records import PatientKey, Pseudonym


@hookimpl
def gantry_pseudonym(patient: PatientKey, run: Run) -> Pseudonym | None:
    """The patient's pseudonym from the profile's lookup tables, or ``None`` to defer."""
    if not run.profile.lookup:
        return None
    from gantry.lookup import pseudonym_from_tables

    return pseudonym_from_tables(run, patient)
