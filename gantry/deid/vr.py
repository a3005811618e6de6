"""Value representations: which VRs carry text, and a valid dummy value for each VR."""

from __future__ import annotations

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


def dummy_value(vr: str) -> Any:
    """A value valid for ``vr`` that carries no information (``UI`` and ``SQ`` excluded)."""
    return _DUMMY.get(vr, "ANONYMIZED")


def fit(vr: str, text: str) -> str:
    """Truncate ``text`` to the maximum length of ``vr`` (per value)."""
    limit = MAX_LENGTH.get(vr)
    return text[:limit] if limit else text
