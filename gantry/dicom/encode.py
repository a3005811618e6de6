"""The kernel's encoder: the bytes ``dcmwrite(..., enforce_file_format=True)`` writes, faster.

Top-level elements still raw are written straight from the bytes read (exactly pydicom's
raw-element path); everything else goes through pydicom's own writer.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import RawDataElement


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
