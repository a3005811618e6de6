"""Attribute names: DICOM keywords and tags, resolved to a column name, a value kind and whether
the attribute is multi-valued.

The kind of a column comes from the DICOM data dictionary (VR and VM of the tag), never from a
particular file, so every instance of a cohort gives the same column type. Attributes without a
keyword (private, repeating groups, unknown) are named by 8 upper-case hex digits
(``00191010``) and hold text.
"""

from __future__ import annotations

import difflib
import re
from functools import lru_cache

from gantry.query.syntax import Kind, Name

_INT_VRS = {"IS", "SS", "US", "SL", "UL", "SV", "UV", "US or SS"}
_FLOAT_VRS = {"DS", "FL", "FD"}
_BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN", "OB or OW", "US or OW", "US or SS or OW"}
_TAG = re.compile(r"^\(\s*([0-9A-Fa-f]{4})\s*,\s*([0-9A-Fa-f]{4})\s*\)$")


def kind_for_vr(vr: str) -> Kind:
    """The value kind stored for a VR (``DS`` → ``float``, ``DA`` → ``date``, ``SQ`` → ...)."""
    if vr in _INT_VRS:
        return "int"
    if vr in _FLOAT_VRS:
        return "float"
    if vr == "DA":
        return "date"
    if vr == "SQ":
        return "sequence"
    if vr in _BINARY_VRS:
        return "binary"
    return "string"


def tag_column(tag: int) -> str:
    """The column name of a tag without a dictionary keyword: 8 upper-case hex digits."""
    return f"{tag:08X}"


@lru_cache(maxsize=8192)
def spec_for_tag(tag: int) -> tuple[str, Kind, bool]:
    """``(column, kind, multi)`` for a tag, from the data dictionary.

    Public tags with a keyword are named by it; the kind follows the dictionary VR and ``multi``
    is true when the dictionary VM allows more than one value. Private tags and tags the
    dictionary does not know are named by hex and hold text (binary for binary VRs is decided
    by the caller, which knows the element's VR).
    """
    from pydicom.datadict import get_entry, keyword_dict

    if (tag >> 16) % 2 == 1:
        return tag_column(tag), "string", False
    try:
        vr, vm, _name, _retired, keyword = get_entry(tag)
    except KeyError:
        return tag_column(tag), "string", False
    kind = kind_for_vr(vr)
    multi = vm != "1" and kind not in ("sequence", "binary")
    column = keyword if keyword and keyword_dict.get(keyword) == tag else tag_column(tag)
    return column, kind, multi


@lru_cache(maxsize=1)
def _keywords() -> tuple[str, ...]:
    from pydicom.datadict import keyword_dict

    return tuple(keyword_dict)


@lru_cache(maxsize=1)
def _keywords_by_lower() -> dict[str, str]:
    return {k.lower(): k for k in _keywords()}


def suggest(word: str) -> str | None:
    """The closest DICOM keyword to a misspelt one, or ``None``."""
    exact = _keywords_by_lower().get(word.lower())
    if exact:
        return exact
    found = difflib.get_close_matches(word, _keywords(), n=1, cutoff=0.75)
    return found[0] if found else None


def resolve_keyword(word: str, position: int = 0,
                    extra: dict[str, Kind] | None = None) -> Name | None:
    """The :class:`Name` of a DICOM keyword (or an ``extra`` column), or ``None`` if unknown."""
    if extra and word in extra:
        return Name(word, extra[word], False, position)
    from pydicom.datadict import keyword_dict

    tag = keyword_dict.get(word)
    if tag is None:
        return None
    column, kind, multi = spec_for_tag(tag)
    return Name(column, kind, multi, position)


def resolve_tag(text: str, position: int = 0) -> Name:
    """The :class:`Name` of a tag written ``(gggg,eeee)``."""
    match = _TAG.match(text)
    if not match:
        raise ValueError(f"not a tag: {text!r}")
    tag = int(match.group(1) + match.group(2), 16)
    column, kind, multi = spec_for_tag(tag)
    return Name(column, kind, multi, position)


def name_for_column(column: str, extra: dict[str, Kind] | None = None) -> Name | None:
    """The :class:`Name` of a table column (a keyword, 8 hex digits or an ``extra`` column)."""
    if extra and column in extra:
        return Name(column, extra[column])
    if re.fullmatch(r"[0-9A-F]{8}", column):
        _column, kind, multi = spec_for_tag(int(column, 16))
        return Name(column, kind, multi)
    return resolve_keyword(column)
