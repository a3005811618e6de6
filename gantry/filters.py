"""Withholding inputs: a profile's ``filter:`` rules, ``deidentify --query`` and the
``gantry_withhold`` hook.

An input is screened right after its header is read, before it is indexed. A withheld input
is neither indexed nor written; it is recorded as a rejected input of stage ``withheld`` with
its reason (``gantry status --rejected``), copied by ``--quarantine``, and makes the run exit
with code 3. Withholding is not failing.

::

    filter:
      - {sop_class: [1.2.840.10008.5.1.4.1.1.7], reason: secondary capture: review by hand}
      - {modality: [SR, PR]}
      - {image_type: [LOCALIZER]}
      - {query: "Manufacturer == 'ACME' and SeriesDescription contains 'screen'"}

A rule withholds the instances matching *all* its selectors; an instance matching *any* rule
is withheld. ``image_type`` matches any value of ImageType; ``query`` is the query language of
``docs/query.md``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gantry.profile_rules import FilterRule

if TYPE_CHECKING:
    from gantry.context import Run
    from gantry.model import Instance

#: the reason of an input that ``deidentify --query`` did not select
NOT_SELECTED = "not selected by --query"


@lru_cache(maxsize=64)
def _compiled(expression: str) -> tuple[Any, bool]:
    """The predicate of a query and whether it reads attributes beyond the key ones."""
    from gantry.model import KEY_ATTRIBUTES
    from gantry.query import parse_query, referenced_keywords, to_predicate

    tree = parse_query(expression)
    needs_header = not referenced_keywords(tree) <= set(KEY_ATTRIBUTES) | _UID_COLUMNS
    return to_predicate(tree), needs_header


_UID_COLUMNS = {"SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID", "StudyInstanceUID",
                "PatientID"}


def _row(instance: Instance, header: Any, needs_header: bool) -> dict[str, Any]:
    row: dict[str, Any] = dict(instance.attrs)
    row.update(SOPInstanceUID=instance.sop_instance_uid, SOPClassUID=instance.sop_class_uid,
               SeriesInstanceUID=instance.series_instance_uid,
               StudyInstanceUID=instance.study_instance_uid, PatientID=instance.patient_id)
    if needs_header and header is not None:
        from gantry.query import header_row

        row.update(header_row(as_dataset(header)))
    return row


def matches_query(expression: str, instance: Instance, header: Any) -> bool:
    """Whether an instance (its key attributes, else its whole header) matches a query."""
    predicate, needs_header = _compiled(expression)
    return bool(predicate(_row(instance, header, needs_header)))


def _rule_matches(rule: FilterRule, instance: Instance, header: Any) -> bool:
    if rule.sop_class and instance.sop_class_uid not in rule.sop_class:
        return False
    if rule.modality and instance.modality.upper() not in {m.upper() for m in rule.modality}:
        return False
    if rule.image_type:
        value = instance.attrs.get("ImageType") or ()
        values = {str(v).upper() for v in ([value] if isinstance(value, str) else value)}
        if not values & {t.upper() for t in rule.image_type}:
            return False
    return not (rule.query and not matches_query(rule.query, instance, header))


def withhold_reason(run: Run, instance: Instance, header: Any,
                    select: str | None = None) -> str | None:
    """Why an input is withheld (the first of: the profile's rules, ``select`` not matched,
    a ``gantry_withhold`` hook), or ``None`` when it goes on."""
    for rule in run.profile.filter:
        if _rule_matches(rule, instance, header):
            return rule.describe()
    if select and not matches_query(select, instance, header):
        return NOT_SELECTED
    from gantry.lookup import refusal

    refused = refusal(run, instance, header_value(header))
    if refused:
        return refused
    if not run.hooks.pm.hook.gantry_withhold.get_hookimpls():
        return None
    return run.hooks.withhold(instance=instance, header=as_dataset(header), run=run)


def as_dataset(header: Any) -> Any:
    """A header as a pydicom ``Dataset`` (a :class:`~gantry.dicom.rawheader.RawHeader`
    builds its own)."""
    return header.dataset() if callable(getattr(header, "dataset", None)) else header


def header_value(header: Any) -> Any:
    """A reader of one attribute of a header by keyword, whatever the header's kind."""
    if header is None:
        return None
    if callable(getattr(header, "plain_if_set", None)):  # a RawHeader: no dataset built
        from pydicom.datadict import tag_for_keyword

        return _RawReader(header, tag_for_keyword)
    return header


class _RawReader:
    def __init__(self, header: Any, tag_for_keyword: Any) -> None:
        self.header = header
        self.tag_for_keyword = tag_for_keyword

    def get(self, keyword: str, default: Any = None) -> Any:
        tag = self.tag_for_keyword(keyword)
        found = self.header.plain_if_set(int(tag), keyword) if tag is not None else None
        return default if found is None else found


__all__ = ["NOT_SELECTED", "FilterRule", "matches_query", "withhold_reason"]
