"""Values of raw elements, decoded without decoding them into their dataset (pydicom internals).

pydicom decodes an element (``RawDataElement`` → ``DataElement``) on first access; decoding
every element of every instance is most of what a header pass costs. These helpers let the
engine, the identifier collection and the auditor skip elements that can carry no identifier
and that the engine keeps as they are, so that they are never decoded and are written back
exactly as read.
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import DicomDictionary, RepeatersDictionary, mask_match
from pydicom.dataelem import RawDataElement

_KEYWORDS: dict[int, str] = {}
_STANDARD: dict[int, bool] = {}


def keyword_of(tag: int) -> str:
    """``DataElement.keyword`` of a tag (the dictionary keyword, ``""`` if not registered),
    without building an element; cached."""
    found = _KEYWORDS.get(tag)
    if found is None:
        entry = DicomDictionary.get(tag)
        found = _KEYWORDS[int(tag)] = entry[4] if entry else ""
    return found


def is_standard_tag(tag: int) -> bool:
    """Whether the data dictionary defines ``tag`` (repeating groups such as ``(60xx,0022)``
    included): a public tag it does not know is no standard attribute; cached."""
    found = _STANDARD.get(tag)
    if found is None:
        found = _STANDARD[int(tag)] = tag in DicomDictionary or \
            mask_match(tag) in RepeatersDictionary
    return found


#: VRs whose raw (still undecoded) value pydicom would decode and encode back to the very same
#: bytes, with the item size each length must be a multiple of. Such an element kept by the
#: engine is left raw: it is written as read, byte for byte, without a decode/encode round trip.
#: (FL is not here: a float32 NaN payload may change through a Python float.)
VERBATIM_VRS = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "UV": 8, "SV": 8, "FD": 8,
                 "OB": 2, "OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def verbatim(elem: Any) -> bool:
    """Whether ``elem`` is a raw element of a :data:`VERBATIM_VRS` VR (explicit VR, value
    present, length a multiple of its item size, or undefined)."""
    if type(elem) is not RawDataElement:
        return False
    size = VERBATIM_VRS.get(elem.VR)
    if size is None or elem.value is None:
        return False
    length = elem.length
    return length == 0xFFFFFFFF or length % size == 0


#: pydicom's CUSTOMIZABLE_CHARSET_VR: values decoded with the dataset's character set.
CHARSET_VRS = frozenset({"SH", "LO", "ST", "PN", "LT", "UC", "UT"})
_DECODED: dict[tuple[Any, ...], tuple[Any, bool] | None] = {}
_DECODED_MAX = 8192
#: Longer values are decoded in place as usual (they rarely repeat; keys stay small).
_DECODED_LENGTH = 1024


def decoded(ds: Any, raw: RawDataElement) -> tuple[Any, bool] | None:
    """``(value, same)`` for an explicit-VR raw element of ``ds``: the value pydicom decodes it
    to (exactly what ``ds[tag].value`` would be), and whether pydicom writes that decoded
    element back as the very bytes it was read from. ``None`` when not applicable (implicit
    VR, UN, SQ, deferred or undefined-length values, or decoding fails).

    Cached on everything the result depends on (tag, VR, bytes, byte order, VR explicitness,
    character set): a series repeats most of its values, so most elements are decoded once
    per run, not once per instance. The cached value is shared and read only.
    """
    vr = raw.VR
    if vr is None or vr == "UN" or vr == "SQ" or raw.value is None or \
            raw.length > _DECODED_LENGTH:
        return None
    charset: Any = None
    if vr in CHARSET_VRS:
        charset = ds.original_character_set or ds._character_set
        ckey = tuple(charset) if isinstance(charset, list) else charset
    else:
        ckey = None
    key = (int(raw.tag), vr, raw.value, raw.is_little_endian, raw.is_implicit_VR, ckey)
    try:
        return _DECODED[key]
    except KeyError:
        pass
    if len(_DECODED) >= _DECODED_MAX:
        _DECODED.clear()
    result = _decode(ds, raw, charset)
    _DECODED[key] = result
    return result


def value_of(ds: Any, tag: int, keyword: str) -> Any:
    """``ds.get(keyword)`` for the element ``tag``; a raw element is decoded through the
    shared cache (:func:`decoded`; a single UID directly), not into ``ds``."""
    raw = ds._dict.get(tag)
    if raw is None:
        return None
    if type(raw) is RawDataElement:
        found = raw_value(ds, raw)
        if found is not UNDECODED:
            return found
    return ds.get(keyword)


#: :func:`raw_value` could not tell the value without the dataset's own decoding.
UNDECODED: Any = object()


def raw_value(ds: Any, raw: RawDataElement) -> Any:
    """The value of a raw element as :func:`value_of` reads it, from its bytes alone (``ds``
    only lends its character set, and only to the VRs decoded with one); :data:`UNDECODED`
    when ``ds.get`` has to say."""
    if raw.VR == "UI":
        text = ui_text(raw)
        return UNDECODED if text is None else text
    found = decoded(ds, raw)
    return UNDECODED if found is None else found[0]


def _decode(ds: Any, raw: RawDataElement, charset: Any) -> tuple[Any, bool] | None:
    from pydicom.charset import default_encoding
    from pydicom.dataelem import convert_raw_data_element
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_data_element

    try:
        encoding = charset if charset is not None else (
            ds.original_character_set or ds._character_set)
        if int(raw.tag) == 0x00080005:
            encoding = default_encoding
        elem = convert_raw_data_element(raw, encoding=encoding, ds=ds)
        if elem.VR != raw.VR:
            return None
        written = []
        for item in (elem, raw):
            buf = DicomBytesIO()
            buf.is_little_endian = raw.is_little_endian
            buf.is_implicit_VR = raw.is_implicit_VR
            write_data_element(buf, item, encodings=charset)
            written.append(buf.getvalue())
    except Exception:
        return None
    return elem.value, written[0] == written[1]


def ui_text(raw: Any) -> str | None:
    """The value pydicom decodes a raw single-valued UI element to (``str(ds[tag].value)``),
    without decoding it into the dataset; ``None`` when not that simple (multi-valued, empty,
    deferred, or pydicom set to raise on invalid values)."""
    value = raw.value
    if value is None or raw.VR != "UI" or raising():
        return None
    return ui_value(value)


def ui_value(value: bytes) -> str | None:
    """The text of a single-valued UI value's bytes as pydicom decodes it; ``None`` when
    empty or multi-valued (the reading validation mode is the caller's to check)."""
    text = value.decode("latin-1").rstrip("\0 ")
    if not text or "\\" in text:
        return None
    return text.strip()


def ui_text_at(data: bytes, span: Any) -> str | None:
    """:func:`ui_text` of the raw element at ``span`` (an
    :class:`~gantry.dicom.elements.ElementSpan` of a defined-length, non-empty UI element of
    ``data``), without building it."""
    return None if raising() else ui_value(data[span.value:span.end])


def raising() -> bool:
    from pydicom import config

    return config.settings.reading_validation_mode == config.RAISE


def plain_value(value: Any) -> Any:
    """Convert a pydicom value (MultiValue, DSfloat, IS, PersonName) to JSON-friendly Python."""
    from pydicom.multival import MultiValue
    from pydicom.valuerep import IS, DSfloat, PersonName

    if isinstance(value, (list, tuple, MultiValue)):
        return [plain_value(v) for v in value]
    if isinstance(value, IS):
        return int(value)
    if isinstance(value, DSfloat):
        return float(value)
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace")
    return value
