"""The audit report: per instance, what was removed, replaced, shifted, cleaned or redacted.

Built from the working store's recorded changes (``store.iter_changes``): actions and attribute
names only, never values. Instances are named by their pseudonymous (remapped) UIDs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantry.api import Change

CATEGORIES = ("removed", "replaced", "shifted", "cleaned", "redacted", "other")
WIDE_FIELDS = ("sop_instance_uid", "series_instance_uid", "study_instance_uid", "modality",
               "status", "changes", *CATEGORIES)
LONG_FIELDS = ("sop_instance_uid", "category", "action", "attribute", "tag", "component",
               "detail")


def category(change: Change) -> str:
    """Which column a change belongs to."""
    action = change.action
    if action == "X":
        return "removed"
    if action in ("D", "Z", "U"):
        return "replaced"
    if action == "C":
        return "shifted" if "date" in change.detail.lower() or "shift" in change.detail.lower() \
            else "cleaned"
    if action == "pixels":
        return "redacted"
    return "other"


def attribute(change: Change) -> str:
    """Where a change happened: ``path`` + keyword, or the tag when there is no keyword."""
    return f"{change.path}{change.keyword or change.tag}"


def _mapper(session: Any) -> Any:
    run = session.run
    cache: dict[str, str] = {}

    def mapped(uid: str) -> str:
        if not uid:
            return ""
        if uid not in cache:
            if len(cache) > 100_000:
                cache.clear()
            cache[uid] = run.map_uid(uid)
        return cache[uid]

    return mapped


def wide_rows(session: Any) -> Iterator[dict[str, Any]]:
    """One row per stored instance: change count and the attributes per category."""
    store = session.store
    mapped = _mapper(session)
    for inst in store.iter_instances():
        groups: dict[str, set[str]] = {c: set() for c in CATEGORIES}
        count = 0
        for _uid, change in store.iter_changes(inst.sop_instance_uid):
            groups[category(change)].add(attribute(change))
            count += 1
        row: dict[str, Any] = {
            "sop_instance_uid": mapped(inst.sop_instance_uid),
            "series_instance_uid": mapped(inst.series_instance_uid),
            "study_instance_uid": mapped(inst.study_instance_uid),
            "modality": inst.modality,
            "status": store.get_status(inst.sop_instance_uid) or "ingested",
            "changes": count,
        }
        row.update({c: ";".join(sorted(groups[c])) for c in CATEGORIES})
        yield row


def long_rows(session: Any) -> Iterator[dict[str, Any]]:
    """One row per recorded change."""
    store = session.store
    mapped = _mapper(session)
    for inst in store.iter_instances():
        for _uid, change in store.iter_changes(inst.sop_instance_uid):
            yield {"sop_instance_uid": mapped(inst.sop_instance_uid),
                   "category": category(change), "action": change.action,
                   "attribute": attribute(change), "tag": change.tag,
                   "component": change.component, "detail": change.detail}
