"""A file's header as the byte spans of its elements, decoded only where asked.

Reading a header into a pydicom dataset builds an object per element; the one-shot pass then
reads a few dozen values from it and flattens the rest into index rows, most of them repeated
byte for byte by every instance of a series. :class:`RawHeader` keeps the file's bytes and the
spans of its top-level elements (up to the pixel data, where ``dcmread(...,
stop_before_pixels=True)`` stops) and answers:

* :meth:`RawHeader.raw` — the raw element pydicom's reader yields for a tag;
* :meth:`RawHeader.value` — ``ds.get(keyword)`` of the header dataset, through the shared
  decode cache;
* :meth:`RawHeader.dataset` — that very dataset (built on first use), for whatever needs more.

Only explicit VR little endian Part 10 files whose elements split cleanly are taken
(:meth:`RawHeader.parse` returns ``None`` for anything else, and the caller reads the file as
before). A store backend may take it through ``StoreBackend.prepare_raw``.
"""

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
from gantry.dicom.header import header_from_bytes
from gantry.dicom.values import CHARSET_VRS, plain_value, ui_text_at

_MEDIA_SOP_INSTANCE = 0x00020003
#: File meta groups without their Media Storage SOP Instance UID -> (transfer syntax, taken).
_METAS: dict[tuple[bytes, bytes], tuple[Any, bool]] = {}
#: Character set elements -> (the raw element, its encodings, a dataset holding only it).
CHARSETS: dict[bytes, tuple[Any, Any, Any]] = {}
_CACHE_MAX = 1024
#: Decoded values of elements (``RawHeader.value``), and their plain forms.
_VALUES: dict[tuple[Any, ...], Any] = {}
_PLAIN: dict[tuple[Any, ...], Any] = {}
_VALUES_MAX = 8192
_VALUE_LENGTH = 1024
_MISSING: Any = object()


class RawHeader:
    """The header of one explicit VR little endian Part 10 file (see the module docstring)."""

    is_little_endian = True
    is_implicit_VR = False

    __slots__ = (
        "_charset_ds",
        "_dataset",
        "_raws",
        "charset_key",
        "charset_raw",
        "data",
        "encoding",
        "end",
        "index",
        "meta",
        "spans",
        "syntax",
    )

    def __init__(self, data: bytes, meta: list[Any], spans: list[Any], end: int, syntax: Any,
                 charset: tuple[Any, Any, Any] | None) -> None:
        self.data = data
        #: the file meta group's elements
        self.meta = meta
        #: the top-level elements of the data set before the pixel data, in tag order
        self.spans = spans
        self.index = {span.tag: span for span in spans}
        #: where the header ends: the pixel data element, or the end of the file
        self.end = end
        #: the file meta's transfer syntax (a pydicom ``UID``)
        self.syntax = syntax
        if charset is None:
            from pydicom.charset import default_encoding

            self.encoding: Any = default_encoding
            self.charset_raw: Any = None
            self._charset_ds: Any = None
        else:
            self.charset_raw, self.encoding, self._charset_ds = charset
        #: the encoding as the header rows' memo keys it
        self.charset_key = tuple(self.encoding) if isinstance(self.encoding, list) \
            else self.encoding
        self._raws: dict[int, Any] = {}
        self._dataset: Any = None

    @classmethod
    def parse(cls, data: bytes) -> RawHeader | None:
        """The header of ``data``, or ``None`` when it is not a file this can read exactly as
        pydicom's reader does (then read it with pydicom)."""
        if len(data) < 132 or data[128:132] != b"DICM":
            return None
        try:
            every = split_cached(data, 132)
        except DicomFormatError:
            return None
        count = 0
        while count < len(every) and every[count].tag >> 16 == 2:
            count += 1
        if not count:
            return None
        syntax = _meta_syntax(data, every[:count])
        if syntax is None:
            return None
        spans = every[count:]
        if spans and spans[0].tag >> 16 <= 2:
            return None
        end = len(data)
        for n, span in enumerate(spans):
            if span.tag in PIXEL_TAGS:
                end = span.start
                spans = spans[:n]
                break
        charset = None
        first = spans[0] if spans else None
        for span in spans[:8]:
            if span.tag == CHARSET:
                if span is not first or span.length == UNDEFINED or not span.length:
                    return None  # (the reader's own order of events: left to it)
                charset = _charset(data[span.start:span.end], data, span)
                if charset is None:
                    return None
                break
            if span.tag > CHARSET:
                break
        return cls(data, every[:count], spans, end, syntax, charset)

    def raw(self, tag: int) -> Any:
        """The raw element pydicom's reader yields for ``tag`` (``None``: absent)."""
        found = self._raws.get(tag)
        if found is None:
            span = self.index.get(tag)
            if span is None:
                return None
            if span.length and (span.length != UNDEFINED or span.vr == "SQ"):
                found = RawDataElement(BaseTag(tag), span.vr, span.length,
                                       self.data[span.value:span.end], span.value, False,
                                       True)
            else:  # empty, or undefined length: pydicom's reader at the file's offsets
                from pydicom.filebase import DicomBytesIO

                fp = DicomBytesIO(self.data)
                fp.is_little_endian, fp.is_implicit_VR = True, False
                found = raw_element(self.data, span, self.encoding, fp)
            self._raws[tag] = found
        return found

    def meta_text(self, tag: int) -> str | None:
        """``str(file_meta[tag].value)`` of a single-valued UI element of the file meta;
        ``None`` when absent or not that simple."""
        for span in self.meta:
            if span.tag == tag:
                return ui_text_at(self.data, span) if span.vr == "UI" and span.length and \
                    span.length != UNDEFINED else None
        return None

    def dataset_of(self, tag: int) -> Any:
        """A dataset of the element ``tag`` beside the character set, set up as the header
        dataset is (what decoding that element alone needs)."""
        return _plain_dataset(self.encoding, self.charset_raw, {tag: self.raw(tag)})

    def charset_dataset(self) -> Any:
        """A dataset holding only this header's character set (what decoding a value needs
        of the dataset around it; shared, never modified)."""
        if self._charset_ds is None:
            self._charset_ds = _plain_dataset(self.encoding)
        return self._charset_ds

    def value(self, tag: int, keyword: str) -> Any:
        """``ds.get(keyword)`` of the header dataset (as :func:`gantry.dicom.values.value_of`
        gives it; remembered per element bytes and character set, read only)."""
        span = self.index.get(tag)
        if span is None:
            return None
        vr = span.vr
        length = span.length
        if length != UNDEFINED and length <= _VALUE_LENGTH and vr != "UN" and vr != "SQ":
            if vr == "UI" and length:
                text = ui_text_at(self.data, span)
                if text is not None:
                    return text
            else:
                key = (tag, vr, self.data[span.value:span.end],
                       self.charset_key if vr in CHARSET_VRS else None)
                found = _VALUES.get(key, _MISSING)
                if found is _MISSING:
                    found = self._decoded(self.raw(tag))
                    if len(_VALUES) >= _VALUES_MAX:
                        _VALUES.clear()
                    _VALUES[key] = found
                if found is not _MISSING:
                    return found
        return self.dataset().get(keyword)

    def plain_if_set(self, tag: int, keyword: str) -> Any:
        """:func:`gantry.dicom.values.plain_value` of :meth:`value` when that is neither
        ``None`` nor ``""`` (an element present and not empty), else ``None``; per element
        bytes and character set (a list is returned as a new list)."""
        span = self.index.get(tag)
        if span is None:
            return None
        if span.length == UNDEFINED or span.length > _VALUE_LENGTH:
            return self._plain_if_set(tag, keyword)
        key = (self.data[span.start:span.end], self.charset_key)
        found = _PLAIN.get(key, _MISSING)
        if found is _MISSING:
            found = self._plain_if_set(tag, keyword)
            if len(_PLAIN) >= _VALUES_MAX:
                _PLAIN.clear()
            _PLAIN[key] = found
        return list(found) if type(found) is list else found

    def _plain_if_set(self, tag: int, keyword: str) -> Any:
        value = self.value(tag, keyword)
        return None if value is None or value == "" else plain_value(value)

    def _decoded(self, raw: Any) -> Any:
        """The value of a raw element as the dataset decodes it, or :data:`_MISSING` when
        only the dataset can say (a changed VR, an error)."""
        from pydicom.dataelem import convert_raw_data_element

        try:
            elem = convert_raw_data_element(raw, encoding=self.encoding,
                                            ds=self.charset_dataset())
        except Exception:
            return _MISSING
        return elem.value if elem.VR == raw.VR else _MISSING

    def dataset(self) -> Any:
        """The header as ``dcmread(..., stop_before_pixels=True)`` reads it (built once)."""
        if self._dataset is None:
            built = header_from_bytes(self.data)
            if built is None:  # cannot be: parse took the file  # pragma: no cover
                raise ValueError("header no longer readable from its bytes")
            self._dataset = built[0]
        return self._dataset


def _meta_syntax(data: bytes, meta: list[Any]) -> Any:
    """The transfer syntax of a file meta group when the data set is explicit VR little
    endian, else ``None``. Remembered per group (its instance UID left out): reading it as the
    reader does decodes and checks values."""
    uid = next((s for s in meta if s.tag == _MEDIA_SOP_INSTANCE), None)
    start, stop = meta[0].start, meta[-1].end
    key = (data[start:uid.start], data[uid.end:stop]) if uid is not None else \
        (data[start:stop], b"")
    found = _METAS.get(key)
    if found is None:
        checked = header_from_bytes(data)  # the reader's checks of this meta, once
        syntax = None if checked is None else checked[0].file_meta.get("TransferSyntaxUID")
        found = (syntax, checked is not None and explicit_little(syntax))
        if len(_METAS) >= _CACHE_MAX:
            _METAS.clear()
        _METAS[key] = found
    return found[0] if found[1] else None


def _charset(element: bytes, data: bytes, span: Any) -> tuple[Any, Any, Any] | None:
    """``(raw element, encoding, dataset)`` of a character set element (remembered)."""
    found = CHARSETS.get(element)
    if found is None:
        from pydicom.charset import convert_encodings, default_encoding
        from pydicom.dataelem import convert_raw_data_element

        raw = raw_element(data, span, default_encoding)
        try:
            encoding = convert_encodings(convert_raw_data_element(raw).value)
        except Exception:
            return None
        found = (raw, encoding, _plain_dataset(encoding, raw))
        if len(CHARSETS) >= _CACHE_MAX:
            CHARSETS.clear()
        CHARSETS[element] = found
    return found


def _plain_dataset(encoding: Any, charset_raw: Any = None,
                   elements: dict[int, Any] | None = None) -> Any:
    """A dataset of the character set (and ``elements``), set up as the header dataset is."""
    from pydicom.dataset import Dataset

    held = {} if charset_raw is None else {CHARSET: charset_raw}
    ds = Dataset({**held, **(elements or {})})
    ds.set_original_encoding(False, True, encoding)
    return ds
