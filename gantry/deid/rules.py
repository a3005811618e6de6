"""The shipped Annex E tables and the per-profile lookup built from them.

:func:`build_rules` turns a :class:`~gantry.profiles.Profile` into a :class:`RuleSet`: a dict from
tag (int) to action for every row of Table E.1-1 with the profile's options and overrides applied,
group masks, private-creator rules and the safe private attributes. Compound actions (``X/Z``,
``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*``) are resolved per IOD and sequence path
(:meth:`RuleSet.level`, through :func:`gantry.deid.iod.conformant_action`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantry.profiles import Profile

PRIVATE_ROW = "private"


def _ps315_dir() -> Path:
    from gantry.profiles import shipped_profiles_dir

    return shipped_profiles_dir() / "ps3.15"


@lru_cache(maxsize=4)
def annex_e_table(edition: str = "2024b") -> dict[str, Any]:
    """The shipped Table E.1-1 of ``edition`` (``profiles/ps3.15/annex_e_<edition>.json``)."""
    path = _ps315_dir() / f"annex_e_{edition}.json"
    if not path.is_file():
        from gantry.errors import ProfileError

        raise ProfileError(f"no shipped Annex E table for edition {edition!r}", field="edition")
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def safe_private_table() -> frozenset[tuple[str, int, int]]:
    """Safe private attributes as ``(creator, group, element byte)``."""
    data = json.loads((_ps315_dir() / "safe_private.json").read_text(encoding="utf-8"))
    out = set()
    for entry in data["entries"]:
        group, elem = entry["tag"].strip("()").split(",")
        out.add((entry["creator"], int(group, 16), int(elem[-2:], 16)))
    return frozenset(out)


@lru_cache(maxsize=1)
def cid7050() -> dict[str, tuple[str, str]]:
    """CID 7050 codes: option name (or ``basic``) → (code value, code meaning)."""
    data = json.loads((_ps315_dir() / "cid7050.json").read_text(encoding="utf-8"))
    return {k: (v[0], v[1]) for k, v in data["codes"].items()}


def option_action(row: dict[str, Any], options: list[str] | tuple[str, ...]) -> str:
    """The action of a table row under the given options.

    Precedence: the Modified Dates option's ``C`` wins (a retained date would undo the shift);
    then any ``K`` of an active option; then any ``C``; else the Basic Profile action.
    """
    return option_source(row, options)[0]


def option_source(row: dict[str, Any], options: list[str] | tuple[str, ...]) -> tuple[str, str]:
    """``(action, column)`` of a table row under the given options: the action of
    :func:`option_action` and the column that gave it (an option's name, or ``basic``)."""
    if "retain-longitudinal-modified-dates" in options and \
            "retain-longitudinal-modified-dates" in row:
        return row["retain-longitudinal-modified-dates"], "retain-longitudinal-modified-dates"
    found = [(row[o], o) for o in options if o in row]
    for wanted in ("K", "C"):
        for action, option in found:
            if action == wanted:
                return action, option
    return row["basic"], "basic"


def explain_tag(profile: Profile, tag: int, sop_class_uid: str = "") -> str:
    """Why ``profile`` treats a (non-private) top-level tag as it does, in a few words: a
    profile override, the Table E.1-1 row and the column (option) that decided, a group rule,
    or no row at all (the profile's treatment of unknown attributes then applies). With the
    instance's ``sop_class_uid``, where the IOD's Type changes the action (a compound code, or
    a removal the IOD does not allow), that is said too: ``...; Type 1 in ct-image: D``."""
    text = _explain_row(profile, tag)
    if sop_class_uid:
        from pydicom.datadict import keyword_for_tag

        from gantry.deid.iod import conformant_action, iod_of, types_at

        iod = iod_of(sop_class_uid)
        keyword = keyword_for_tag(tag) or ""
        kind = types_at(iod).get(keyword)
        override = profile.tags.get(f"{tag:08x}")
        action = override.action if override is not None else _row_action(profile, tag)
        if action is not None:
            applied = conformant_action(action, kind, explicit=override is not None)
            if applied != action:
                where = f"Type {kind} in {iod}" if kind else \
                    f"Type 3 or unknown in {iod}" if iod else "IOD unknown"
                text += f"; {where}: {applied}"
    return text


def _row_action(profile: Profile, tag: int) -> str | None:
    """The action of the exact Table E.1-1 row of ``tag`` under the profile's options."""
    for row in annex_e_table(profile.edition)["rows"]:
        if row["tag"] != PRIVATE_ROW and "x" not in row["tag"] and \
                int(row["tag"].strip("()").replace(",", ""), 16) == tag:
            return option_action(row, tuple(profile.options))
    return None


def _explain_row(profile: Profile, tag: int) -> str:
    key = f"{tag:08x}"
    if key in profile.tags:
        return f"profile override in {profile.name}: {profile.tags[key].action}"
    table = annex_e_table(profile.edition)
    options = tuple(profile.options)
    for row in table["rows"]:
        if row["tag"] == PRIVATE_ROW:
            continue
        hex8 = row["tag"].strip("()").replace(",", "").lower()
        if "x" in hex8:
            mask, value = _mask(hex8)
            if tag & mask != value:
                continue
        elif int(hex8, 16) != tag:
            continue
        action, column = option_source(row, options)
        where = "Basic Profile" if column == "basic" else f"option {column}"
        return f"Table E.1-1 {row['tag']}: {action} ({where}, edition {profile.edition})"
    return f"not in Table E.1-1 (attributes it does not list: {profile.unknown_attributes})"


# --------------------------------------------------------------------------- compound actions
def resolve_compound(action: str, keyword: str, iod: str | None,
                     path: tuple[str, ...] = ()) -> str:
    """The action applied to the attribute ``keyword`` of a table row with ``action``, in an
    instance of ``iod`` inside the sequence ``path``: :func:`gantry.deid.iod.conformant_action`
    with the attribute's Type there (:func:`gantry.deid.iod.types_at`)."""
    from gantry.deid.iod import conformant_action, types_at

    return conformant_action(action, types_at(iod, path).get(keyword))


# --------------------------------------------------------------------------- rule set
@dataclass(frozen=True, slots=True)
class Level:
    """What applies inside one sequence path of one IOD: the exact-tag actions resolved there,
    and the Types there (``{keyword: "1" | "1C" | "2" | "2C"}``) for the engine's defaults."""

    actions: dict[int, str]
    types: Mapping[str, str]
    iod: str | None
    path: tuple[str, ...]


@dataclass
class RuleSet:
    """Per-profile lookup tables (built once per engine)."""

    exact: dict[int, str]
    keywords: dict[int, str]
    values: dict[int, str]
    masks: list[tuple[int, int, str]]
    private: dict[str, dict[str, str]]
    private_default: str
    safe_private: frozenset[tuple[str, int, int]]
    in_table: frozenset[int]
    explicit: frozenset[int] = frozenset()
    levels: dict[tuple[str | None, tuple[str, ...]], Level] = field(default_factory=dict)

    def level(self, iod: str | None, path: tuple[str, ...] = ()) -> Level:
        """The exact-tag actions and the Types of ``iod`` at sequence ``path`` (cached): every
        table action passed through :func:`gantry.deid.iod.conformant_action` with the
        attribute's Type there; a profile's own plain ``X``/``Z`` stays as written."""
        key = (iod, path)
        found = self.levels.get(key)
        if found is None:
            from gantry.deid.iod import conformant_action, types_at

            types = types_at(iod, path)
            if not types and key != (None, ()):
                found = self.level(None, ())  # no Type known here: as for an unknown IOD
            else:
                keywords = self.keywords
                explicit = self.explicit
                found = Level({tag: conformant_action(action, types.get(keywords.get(tag, "")),
                                                      explicit=tag in explicit)
                               for tag, action in self.exact.items()}, types, iod, path)
            if len(self.levels) > 4096:
                self.levels.clear()
            self.levels[key] = found
        return found

    def mask_action(self, tag: int) -> str | None:
        """The action of the first group mask matching ``tag``, if any."""
        for mask, value, action in self.masks:
            if tag & mask == value:
                return action
        return None

    def private_action(self, creator: str | None, group: int, elem_byte: int) -> str:
        """The action for a private element: profile rule, safe list, else the default."""
        if creator is not None:
            rules = self.private.get(creator)
            if rules:
                found = rules.get(f"{group:04x}:{elem_byte:02x}") or rules.get(f"{elem_byte:02x}")
                if found:
                    return found
            if self.private_default != "X" and (creator, group, elem_byte) in self.safe_private:
                return "K"
        return "X"


def _mask(hex8: str) -> tuple[int, int]:
    mask = int("".join("0" if c == "x" else "f" for c in hex8), 16)
    value = int(hex8.replace("x", "0"), 16)
    return mask, value


def build_rules(profile: Profile) -> RuleSet:
    """Build the lookup tables of ``profile`` (Table E.1-1 + options + overrides)."""
    from pydicom.datadict import keyword_for_tag

    table = annex_e_table(profile.edition)
    options = tuple(profile.options)
    exact: dict[int, str] = {}
    keywords: dict[int, str] = {}
    masks: list[tuple[int, int, str]] = []
    private_default = "X"
    for row in table["rows"]:
        action = option_action(row, options)
        if row["tag"] == PRIVATE_ROW:
            private_default = action
            continue
        hex8 = row["tag"].strip("()").replace(",", "").lower()
        if "x" in hex8:
            masks.append((*_mask(hex8), action))
            continue
        tag = int(hex8, 16)
        exact[tag] = action
        keywords[tag] = row["keyword"]
    in_table = frozenset(exact)
    values: dict[int, str] = {}
    explicit: set[int] = set()
    override_masks: list[tuple[int, int, str]] = []
    for key, rule in profile.tags.items():
        if "x" in key:
            override_masks.append((*_mask(key), rule.action))
            continue
        tag = int(key, 16)
        exact[tag] = rule.action
        explicit.add(tag)
        keywords.setdefault(tag, keyword_for_tag(tag) or "")
        if rule.value is not None:
            values[tag] = rule.value
    private = {creator: {k: r.action for k, r in rules.items()}
               for creator, rules in profile.private.items()}
    return RuleSet(exact=exact, keywords=keywords, values=values,
                   masks=override_masks + masks, private=private,
                   private_default=private_default, safe_private=safe_private_table(),
                   in_table=in_table, explicit=frozenset(explicit))
