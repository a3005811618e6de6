"""Attribute Types per IOD, and the one decision that keeps a de-identified instance valid.

PS3.15's compound actions (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*``) mean "remove or
empty the attribute unless the IOD needs it". Which IOD an instance is comes from its SOP Class
UID; what the IOD needs comes from the shipped table ``profiles/ps3.3/iod_types.json.gz``
(derived from highdicom's copy of PS3.3, see ``profiles/ps3.3/NOTICE.md``): per IOD its modules,
per module the attributes of Type 1, 1C, 2 and 2C by sequence path.

:func:`iod_of` names the IOD of a SOP class, :func:`types_at` gives the Types at one sequence
path of it (the strongest over all the IOD's modules: an attribute present in the instance is
taken to be in whichever module needs it most), and :func:`conformant_action` turns a profile's
action and a Type into the action applied. Conditions (1C, 2C) are never evaluated: an attribute
that is present was presumably required, so it keeps a dummy (1C) or an empty value (2C). Both
the engine and the fast pass (``gantry.deid.byte_pass``, which runs the engine's walk) get their
actions from :class:`~gantry.deid.rules.RuleSet`, which calls these functions: one decision.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

#: Types that need a value (a dummy when the profile would remove or empty the attribute).
VALUE_TYPES = frozenset({"1", "1C"})
#: Types that need the attribute present (empty when the profile would remove it).
PRESENCE_TYPES = frozenset({"2", "2C"})
_RANK = {"2C": 1, "2": 2, "1C": 3, "1": 4}
_EMPTY: Mapping[str, str] = MappingProxyType({})


def table_path() -> Path:
    """The shipped table (``profiles/ps3.3/iod_types.json.gz``)."""
    from gantry.profiles import shipped_profiles_dir

    return shipped_profiles_dir() / "ps3.3" / "iod_types.json.gz"


@lru_cache(maxsize=1)
def iod_table() -> dict[str, Any]:
    """The shipped IOD table: ``sop_classes``, ``iods``, ``modules`` and where it came from."""
    return json.loads(gzip.decompress(table_path().read_bytes()))


def iod_source() -> str:
    """Where the IOD data came from (highdicom version and files), for docs and reports."""
    return str(iod_table()["source"])


@lru_cache(maxsize=512)
def iod_of(sop_class_uid: str) -> str | None:
    """The IOD of a SOP Class UID (``ct-image``, ``comprehensive-sr``...); ``None`` for a
    private or unknown SOP class."""
    uid = str(sop_class_uid or "").strip().rstrip("\x00").strip()
    return iod_table()["sop_classes"].get(uid)


@lru_cache(maxsize=8192)
def types_at(iod: str | None, path: tuple[str, ...] = ()) -> Mapping[str, str]:
    """``{keyword: Type}`` of the Type 1, 1C, 2 and 2C attributes of ``iod`` inside the
    sequence ``path`` (keywords from the top level down; ``()``: the top level). Where the
    IOD's modules disagree, the strongest Type wins. Empty for an unknown IOD or path."""
    if iod is None:
        return _EMPTY
    table = iod_table()
    modules = table["iods"].get(iod)
    if not modules:
        return _EMPTY
    key = ">".join(path)
    found: dict[str, str] = {}
    for module, _usage in modules:
        at = table["modules"].get(module, {}).get(key)
        if not at:
            continue
        for keyword, kind in at.items():
            if _RANK[kind] > _RANK.get(found.get(keyword, ""), 0):
                found[keyword] = kind
    return MappingProxyType(found) if found else _EMPTY


def conformant_action(action: str, attribute_type: str | None, *, explicit: bool = False) -> str:
    """The action applied to an attribute, given the profile's ``action`` and the attribute's
    Type in the instance's IOD at its place (``None``: Type 3 or not known).

    * Compound codes: a Type 1/1C attribute gets a dummy (``D``; ``U`` for ``X/Z/U*``), even
      where the code does not offer ``D`` (PET's Acquisition Date is Type 1, Table E.1-1 says
      ``X/Z``: an empty value would be invalid, a dummy discloses nothing); a Type 2/2C
      attribute is emptied (``Z``); otherwise the least-disclosing choice: ``X`` when offered,
      ``Z`` for ``Z/D``. ``X/Z/U*`` (Referenced Image / Source Image Sequence) keeps the
      sequence with every UID remapped in any case: it holds nothing but references.
    * ``X`` and ``Z`` of the table or of the engine's defaults become ``D`` for a Type 1/1C
      attribute and ``X`` becomes ``Z`` for a Type 2/2C one: removing or emptying it would make
      the instance invalid, and an empty value or a dummy carries no information.
      ``explicit`` (a profile's own override) keeps a plain ``X`` or ``Z`` as written.
    * Anything else (``K``, ``C``, ``U``, ``D``) is kept.
    """
    if "/" in action:
        if action == "X/Z/U*":
            return "U"
        choices = action.split("/")
        if attribute_type in VALUE_TYPES:
            return "D"
        if attribute_type in PRESENCE_TYPES:
            return "Z"
        return "X" if "X" in choices else choices[0]
    if explicit:
        return action
    if action == "X":
        if attribute_type in VALUE_TYPES:
            return "D"
        if attribute_type in PRESENCE_TYPES:
            return "Z"
    elif action == "Z" and attribute_type in VALUE_TYPES:
        return "D"
    return action
