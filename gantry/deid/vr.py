"""Value representations: which VRs carry text, and a valid dummy value for each VR."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

#: VRs whose values are free or coded text (audited and cleaned).
TEXT_VRS = frozenset({"LO", "LT", "ST", "UT", "SH", "PN", "UC"})
#: Text-ish VRs scanned for identifiers (TEXT_VRS plus coded strings and URIs).
STRING_VRS = TEXT_VRS | {"CS", "AE", "UR", "DA", "DT", "TM", "AS", "UI", "IS", "DS"}
DATE_VRS = frozenset({"DA", "DT", "TM"})
BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN"})

#: Maximum value length (characters) per VR, used to keep cleaned text valid.
MAX_LENGTH = {"AE": 16, "AS": 4, "CS": 16, "DA": 8, "DS": 16, "DT": 26, "IS": 12, "LO": 64,
              "LT": 10240, "PN": 64, "SH": 16, "ST": 1024, "TM": 14, "UI": 64}

_DUMMY: dict[str, Any] = {
    "AE": "ANONYMOUS", "AS": "000D", "CS": "ANONYMIZED", "DA": "19000101",
    "DT": "19000101000000", "TM": "000000", "DS": "0", "IS": "0", "LO": "ANONYMIZED",
    "LT": "ANONYMIZED", "SH": "ANONYMIZED", "ST": "ANONYMIZED", "UT": "ANONYMIZED",
    "UC": "ANONYMIZED", "PN": "ANONYMIZED", "UR": "https://anonymized.invalid",
    "FL": 0.0, "FD": 0.0, "SL": 0, "SS": 0, "UL": 0, "US": 0, "SV": 0, "UV": 0, "AT": 0,
    "OB": b"\x00\x00", "OW": b"\x00\x00", "OD": b"\x00" * 8, "OF": b"\x00" * 4,
    "OL": b"\x00" * 4, "OV": b"\x00" * 8, "UN": b"\x00\x00",
}


def binary_text(value: bytes, encodings: list[str] | str | None = None) -> str:
    """The text a binary value (OB, UN) may hold, for matching: its bytes read in the data
    set's own character set (``encodings``: Python codec names as pydicom lists them, escape
    sequences of ISO 2022 sets honoured), as Latin-1, UTF-8, UTF-16 LE and UTF-16 BE
    (undecodable bytes dropped), joined by newlines."""
    texts = [value.decode("latin-1")]
    if isinstance(encodings, str):  # (a file meta's: one codec)
        encodings = [encodings]
    if encodings and any(enc not in _PLAIN_CODECS for enc in encodings):
        from pydicom.charset import decode_bytes

        try:
            texts.append(decode_bytes(value, list(encodings), set()))
        except Exception:  # (a value no codec of the set reads: the others still apply)
            pass
    for encoding in ("utf-8", "utf-16-le", "utf-16-be"):
        try:
            texts.append(value.decode(encoding, "ignore"))
        except (UnicodeError, ValueError):
            continue
    return "\n".join(texts)


#: Codecs whose text :func:`binary_text` reads anyway (ASCII is a subset of both).
_PLAIN_CODECS = frozenset({"iso8859", "latin_1", "iso_ir_100", "utf_8", "UTF8", "utf-8",
                           "ascii", "iso-8859-1", "latin-1"})


#: Dummies of attributes whose VR's dummy would not do: a coding scheme of Gantry's own
#: (``99`` marks a private scheme, PS3.16 8.2), so a dummy code is a valid code.
DUMMY_BY_KEYWORD: dict[str, Any] = {"CodingSchemeDesignator": "99GANTRY"}


def dummy_value(vr: str, keyword: str = "") -> Any:
    """A value valid for ``vr`` (and for the attribute ``keyword`` where it needs its own,
    :data:`DUMMY_BY_KEYWORD`) that carries no information and names no one (``UI`` and ``SQ``
    excluded), repeated to the least value multiplicity of the attribute (an attribute of VM 3
    gets three values)."""
    value = DUMMY_BY_KEYWORD.get(keyword) if keyword else None
    if value is None:
        value = _DUMMY.get(vr, "ANONYMIZED")
    count = least_vm(keyword) if keyword else 1
    return value if count == 1 or vr in BINARY_VRS else [value] * count


@lru_cache(maxsize=4096)
def least_vm(keyword: str) -> int:
    """The least value multiplicity the dictionary allows for ``keyword`` (1 when unknown)."""
    from pydicom.datadict import dictionary_VM, tag_for_keyword

    tag = tag_for_keyword(keyword)
    if tag is None:
        return 1
    try:
        vm = dictionary_VM(tag)
    except KeyError:
        return 1
    head = vm.split("-")[0].strip()
    return int(head) if head.isdigit() and int(head) > 0 else 1


def fit(vr: str, text: str) -> str:
    """Truncate ``text`` to the maximum length of ``vr`` (per value)."""
    limit = MAX_LENGTH.get(vr)
    return text[:limit] if limit else text
