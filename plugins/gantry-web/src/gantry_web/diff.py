"""The header diff of one instance: what each attribute becomes, and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import Change, Profile

PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
MAX_TEXT = 120


@dataclass(frozen=True)
class DiffRow:
    """One attribute (or one change inside a sequence) of the header diff."""

    tag: str
    keyword: str
    vr: str
    before: str
    after: str
    action: str
    why: str
    path: str = ""

    @property
    def changed(self) -> bool:
        """Whether the export changes this attribute."""
        return self.action not in ("", "K")


def show(elem: Any) -> str:
    """A short text of an element's value for the page."""
    if elem is None:
        return ""
    if elem.VR == "SQ":
        return f"sequence of {len(elem.value)} item(s)"
    value = elem.value
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    text = "\\".join(str(v) for v in value) if _multi(value) else str(value)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _multi(value: Any) -> bool:
    from pydicom.multival import MultiValue

    return isinstance(value, list | tuple | MultiValue)


def tag_text(tag: int) -> str:
    """``(GGGG,EEEE)``, as changes name tags."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def header_diff(original: Dataset, redacted: Dataset | None, changes: list[Change],
                profile: Profile) -> list[DiffRow]:
    """Every top-level attribute before and after (pixel data left out), then the changes
    made inside sequences. ``why`` names the component and, for the tag engine, the Table
    E.1-1 row and column (option) or the override that decided."""
    from gantry.api import explain_tag

    top: dict[str, list[Change]] = {}
    nested: list[Change] = []
    from pydicom.datadict import tag_for_keyword

    for change in changes:
        if change.path:
            nested.append(change)
        elif change.tag:
            top.setdefault(change.tag, []).append(change)
        elif change.keyword and (found := tag_for_keyword(change.keyword)) is not None:
            top.setdefault(tag_text(found), []).append(change)  # markers name a keyword
        else:
            nested.append(change)
    after_ds = redacted if redacted is not None else original
    sop_class = str(original.get("SOPClassUID", "") or "")
    tags = sorted({int(e.tag) for e in original} | {int(e.tag) for e in after_ds})
    rows: list[DiffRow] = []
    for tag in tags:
        if tag in PIXEL_TAGS:
            continue
        before = original.get(tag)
        after = after_ds.get(tag) if redacted is not None else None
        name = tag_text(tag)
        made = top.get(name, [])
        elem = before if before is not None else after
        keyword = (elem.keyword or "") if elem is not None else ""
        private = bool((tag >> 16) & 1)
        if made:
            action = "/".join(dict.fromkeys(c.action for c in made))
            why = "; ".join(_why(c, profile, tag, private, sop_class) for c in made)
        elif redacted is None:
            action, why = "", "the redaction failed: nothing would be written"
        elif before is not None and after is not None and show(before) != show(after):
            action, why = "changed", "changed by the redaction stack"
        elif before is not None and after is not None:
            action = "K"
            why = explain_tag(profile, tag, sop_class) if not private else \
                "private attribute kept"
        elif after is not None:
            action, why = "added", "added by the export (marker or replacement)"
        else:
            action, why = "X", "removed"
        rows.append(DiffRow(name, keyword, elem.VR if elem is not None else "", show(before),
                            show(after) if after is not None else "(removed)"
                            if redacted is not None else "", action, why))
    for change in nested:
        rows.append(DiffRow(change.tag, change.keyword, "", "", "", change.action,
                            _why(change, profile, None, False),
                            path=change.path.rstrip(".")))
    return rows


def _why(change: Change, profile: Profile, tag: int | None, private: bool,
         sop_class: str = "") -> str:
    from gantry.api import explain_tag

    parts = [change.component or "redactor"]
    if change.action == "marker":
        parts.append("de-identification marker (PS3.15 E.1)")
    elif change.component == "ps315-tags" and tag is not None and not private:
        parts.append(explain_tag(profile, tag, sop_class))
    if change.detail:
        parts.append(change.detail)
    return ": ".join(parts)
