"""A file's header as ``dcmread(BytesIO(data), stop_before_pixels=True)`` reads it, built from
the byte spans of :mod:`gantry.dicom.elements` without pydicom's per-element reader."""

from __future__ import annotations

from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.tag import BaseTag

from gantry.dicom.elements import (
    CHARSET,
    PIXEL_TAGS,
    UNDEFINED,
    explicit_little,
    raw_element,
    split_cached,
)
from gantry.dicom.errors import DicomFormatError


def header_from_bytes(data: bytes) -> tuple[Any, int] | None:
    """``(header, end)``: what ``dcmread(BytesIO(data), stop_before_pixels=True)`` returns and
    where it stops, built from :func:`split` without pydicom's per-element reader; ``None``
    when the file is not an explicit VR little endian Part 10 file it can split.

    One difference, by design: ``dcmread`` parses an undefined-length sequence as it reads it;
    here it stays a raw element (its items and delimiter) until accessed, and decodes then to
    the same element (same items, offsets and ``is_undefined_length``; only the ``Sequence``
    object's own ``is_undefined_length`` attribute, which nothing writes from, is ``False``).
    What is never accessed is never parsed."""
    import io

    from pydicom.charset import convert_encodings, default_encoding
    from pydicom.dataelem import convert_raw_data_element
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.filebase import DicomBytesIO

    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    try:
        every = split_cached(data, 132)  # the file meta group, then the data set
        count = 0
        while count < len(every) and every[count].tag >> 16 == 2:
            count += 1
        if not count:
            return None
        spans = every[count:]
        # the file meta as pydicom's reader builds it: raw elements of group 2, its first
        # element decoded (the reader's explicit VR check)
        meta = FileMetaDataset({BaseTag(s.tag): raw_element(data, s, default_encoding)
                                for s in every[:count]})
        meta.set_original_encoding(False, True, default_encoding)
        meta[every[0].tag]  # decoded in place, as the reader does
        if 0x00020000 in meta._dict:
            meta[0x00020000]  # the reader reads the group length
        tsyntax = meta.get("TransferSyntaxUID", None)
        if not explicit_little(tsyntax):
            return None
    except DicomFormatError:
        return None
    except Exception:
        return None  # dcmread says what is wrong
    if spans and spans[0].tag >> 16 <= 2:
        return None
    encoding: Any = default_encoding
    elements: dict[Any, Any] = {}
    end = len(data)
    fp = None
    for span in spans:
        tag, vr, _start, value, length, stop = span
        if tag in PIXEL_TAGS:
            end = span.start
            break
        if length and (length != UNDEFINED or vr == "SQ"):
            # as the reader yields it; an undefined-length sequence is left raw (its items
            # and delimiter) and decoded on access like any raw element
            elem = RawDataElement(BaseTag(tag), vr, length, data[value:stop], value,
                                  False, True)
        else:  # empty; or undefined length, not a sequence: pydicom's reader, at the file's
            if fp is None and length:  # offsets
                fp = DicomBytesIO(data)
                fp.is_little_endian, fp.is_implicit_VR = True, False
            elem = raw_element(data, span, encoding, fp)
        if tag == CHARSET:
            encoding = convert_encodings(convert_raw_data_element(elem).value)
        elements[elem.tag] = elem
    dataset = Dataset(elements)
    dataset.set_original_encoding(False, True, encoding)
    fileobj = io.BytesIO(data)
    fileobj.seek(end)
    ds = FileDataset(fileobj, dataset, data[:128], meta, False, True)
    ds.set_original_encoding(False, True, dataset._character_set)
    return ds, end
