"""Helpers for working on a dataset's elements without decoding them (pydicom internals).

pydicom decodes an element (``RawDataElement`` → ``DataElement``) on first access; decoding
every element of every instance is most of what a header pass costs. These helpers let the
engine, the identifier collection and the auditor skip elements that can carry no identifier
and that the engine keeps as they are, so that they are never decoded and are written back
exactly as read.
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import DicomDictionary
from pydicom.dataelem import RawDataElement

_KEYWORDS: dict[int, str] = {}


def keyword_of(tag: int) -> str:
    """``DataElement.keyword`` of a tag (the dictionary keyword, ``""`` if not registered),
    without building an element; cached."""
    found = _KEYWORDS.get(tag)
    if found is None:
        entry = DicomDictionary.get(tag)
        found = _KEYWORDS[int(tag)] = entry[4] if entry else ""
    return found


#: VRs whose raw (still undecoded) value pydicom would decode and encode back to the very same
#: bytes, with the item size each length must be a multiple of. Such an element kept by the
#: engine is left raw: it is written as read, byte for byte, without a decode/encode round trip.
#: (FL is not here: a float32 NaN payload may change through a Python float.)
_VERBATIM_VRS = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "UV": 8, "SV": 8, "FD": 8,
                 "OB": 2, "OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def verbatim(elem: Any) -> bool:
    """Whether ``elem`` is a raw element of a :data:`_VERBATIM_VRS` VR (explicit VR, value
    present, length a multiple of its item size, or undefined)."""
    if type(elem) is not RawDataElement:
        return False
    size = _VERBATIM_VRS.get(elem.VR)
    if size is None or elem.value is None:
        return False
    length = elem.length
    return length == 0xFFFFFFFF or length % size == 0


