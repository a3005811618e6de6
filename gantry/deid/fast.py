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




#: pydicom's CUSTOMIZABLE_CHARSET_VR: values decoded with the dataset's character set.
_CHARSET_VRS = frozenset({"SH", "LO", "ST", "PN", "LT", "UC", "UT"})
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
    if vr in _CHARSET_VRS:
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


# --------------------------------------------------------------------------- encoding
def copy_dataset(ds: Any) -> Any:
    """A copy of ``ds`` whose datasets (sequence items too) and elements are new objects and
    whose values are shared (raw elements are immutable tuples): enough for code that adds,
    removes or re-assigns elements, never for code that mutates a value in place."""
    import copy

    from pydicom.dataelem import DataElement
    from pydicom.sequence import Sequence

    clone = copy.copy(ds)
    state = clone.__dict__
    elements: dict[Any, Any] = {}
    for tag, elem in ds._dict.items():
        if isinstance(elem, DataElement):
            new = copy.copy(elem)
            if elem.VR == "SQ" and elem._value:
                seq = Sequence([copy_dataset(item) for item in elem._value])
                seq.is_undefined_length = getattr(elem._value, "is_undefined_length", False)
                new.__dict__["_value"] = seq
            elem = new
        elements[tag] = elem
    state["_dict"] = elements
    state["_private_blocks"] = {}
    if "_pixel_array" in state:
        state["_pixel_array"] = None
        state["_pixel_id"] = {}
    return clone


def dcmwrite_bytes(ds: Any) -> bytes:
    """``pydicom.dcmwrite(buffer, ds, enforce_file_format=True)``: the kernel's encoding."""
    import io

    from pydicom import dcmwrite

    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def encode(ds: Any) -> bytes:
    """The same bytes as :func:`dcmwrite_bytes` (``dcmwrite(..., enforce_file_format=True)``),
    written faster: the file meta is copied lightly instead of deep-copied, and top-level
    elements still raw are written straight from the bytes read (exactly pydicom's raw-element
    path), skipping pydicom's per-element machinery. Anything unusual (no file meta, deflated
    or big-endian or implicit→explicit re-encoding, a changed character set, deferred values)
    goes through ``dcmwrite`` itself. Like ``dcmwrite``, it sets Pixel Data's
    ``is_undefined_length`` from the transfer syntax.
    """
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import _determine_encoding
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    meta = ds.__dict__.get("file_meta")
    if meta is None or any(tag >> 16 in (0, 2) for tag in ds._dict):
        return dcmwrite_bytes(ds)
    tsyntax = meta.get("TransferSyntaxUID", None)
    if tsyntax is None or tsyntax == DeflatedExplicitVRLittleEndian:
        return dcmwrite_bytes(ds)
    try:
        encoding = _determine_encoding(ds, tsyntax, None, None, False)
    except Exception:
        return dcmwrite_bytes(ds)
    preamble = getattr(ds, "preamble", None)
    if encoding[1] is not True or (preamble and len(preamble) != 128):
        return dcmwrite_bytes(ds)
    if not preamble:
        preamble = b"\x00" * 128
    if not tsyntax.is_private and tsyntax.is_transfer_syntax and "PixelData" in ds:
        ds["PixelData"].is_undefined_length = tsyntax.is_compressed
    meta_bytes = encode_meta(ds, meta)
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = encoding
    fp.write(preamble)
    fp.write(b"DICM")
    fp.write(meta_bytes)
    _write_dataset(fp, ds)
    return fp.getvalue()


def encode_meta(ds: Any, meta: Any) -> bytes:
    """The file meta group as :func:`encode` writes it for ``ds``: a light copy of ``meta``
    whose Media Storage SOP Class/Instance UIDs follow ``ds``, validated and written with its
    group length (``b""`` for an empty meta)."""
    from pydicom.dataset import validate_file_meta
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info

    meta = copy_dataset(meta)
    meta_class = meta.get("MediaStorageSOPClassUID", None)
    ds_class = ds.get("SOPClassUID", None)
    if meta_class is None or (ds_class and ds_class != meta_class):
        meta.MediaStorageSOPClassUID = ds_class
    meta_instance = meta.get("MediaStorageSOPInstanceUID", None)
    ds_instance = ds.get("SOPInstanceUID", None)
    if meta_instance is None or (ds_instance and ds_instance != meta_instance):
        meta.MediaStorageSOPInstanceUID = ds_instance
    validate_file_meta(meta, enforce_standard=True)
    if not meta:
        return b""
    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    write_file_meta_info(fp, meta, enforce_standard=True)
    return fp.getvalue()


_DELIMITER = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"


def _write_dataset(fp: Any, ds: Any) -> None:
    """``pydicom.filewriter.write_dataset(fp, ds)`` for a little-endian ``fp``."""
    from pydicom.charset import default_encoding
    from pydicom.filewriter import write_dataset

    implicit = fp.is_implicit_VR
    if (implicit, True) != ds.original_encoding or \
            ds.original_character_set != ds._character_set:
        write_dataset(fp, ds)  # re-encoding: pydicom decodes every element
        return
    _write_elements(fp, ds._dict, ds.get("SpecificCharacterSet", default_encoding), implicit)


def element_bytes(tag: int, elem: Any, encodings: Any) -> bytes:
    """One top-level element exactly as :func:`encode` writes it into an explicit VR little
    endian file whose character set is ``encodings``."""
    from pydicom.filebase import DicomBytesIO

    fp = DicomBytesIO()
    fp.is_implicit_VR, fp.is_little_endian = False, True
    _write_elements(fp, {tag: elem}, encodings, False)
    return fp.getvalue()


def _write_elements(fp: Any, elements: dict[Any, Any], encodings: Any, implicit: bool) -> None:
    """The elements of one dataset in tag order: raw ones from the bytes read, others through
    pydicom's ``write_data_element``."""
    import struct

    from pydicom.filewriter import write_data_element
    from pydicom.valuerep import EXPLICIT_VR_LENGTH_32

    write = fp.write
    pack_tag = struct.Struct("<HH").pack
    pack_ul = struct.Struct("<L").pack
    pack_us = struct.Struct("<H").pack
    for tag in sorted(elements):
        if tag & 0xFFFF == 0 and tag >> 16 > 6:
            continue  # retired group length: pydicom does not write it
        elem = elements[tag]
        if type(elem) is RawDataElement and elem.value is not None:
            value = elem.value
            vr = elem.VR
            undefined = elem.length == 0xFFFFFFFF
            length = len(value)
            if implicit:
                if undefined and tag == 0x7FE00010:
                    write_data_element(fp, elem, encodings)  # pydicom checks encapsulation
                    continue
                header = pack_tag(tag >> 16, tag & 0xFFFF) + \
                    pack_ul(0xFFFFFFFF if undefined else length)
            elif vr is not None and len(vr) == 2 and not (undefined and tag == 0x7FE00010):
                if vr in EXPLICIT_VR_LENGTH_32:
                    header = pack_tag(tag >> 16, tag & 0xFFFF) + vr.encode() + b"\x00\x00" + \
                        pack_ul(0xFFFFFFFF if undefined else length)
                elif not undefined and length <= 0xFFFF:
                    header = pack_tag(tag >> 16, tag & 0xFFFF) + vr.encode() + pack_us(length)
                else:
                    write_data_element(fp, elem, encodings)
                    continue
            else:
                write_data_element(fp, elem, encodings)
                continue
            write(header)
            write(value)
            if undefined:
                write(_DELIMITER)
            continue
        write_data_element(fp, elem, encodings)


def ui_text(raw: Any) -> str | None:
    """The value pydicom decodes a raw single-valued UI element to (``str(ds[tag].value)``),
    without decoding it into the dataset; ``None`` when not that simple (multi-valued, empty,
    deferred, or pydicom set to raise on invalid values)."""
    value = raw.value
    if value is None or raw.VR != "UI" or _raising():
        return None
    return ui_value(value)


def ui_value(value: bytes) -> str | None:
    """The text of a single-valued UI value's bytes as pydicom decodes it; ``None`` when
    empty or multi-valued (the reading validation mode is the caller's to check)."""
    text = value.decode("latin-1").rstrip("\0 ")
    if not text or "\\" in text:
        return None
    return text.strip()


def _raising() -> bool:
    from pydicom import config

    return config.settings.reading_validation_mode == config.RAISE
