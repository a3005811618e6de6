"""The key metadata of an exported DICOM file, read the way ``dcmread`` reads it, faster.

``pydicom.dcmread(..., stop_before_pixels=True, force=True)`` followed by ``ds.get(keyword)``
costs about 0.35 ms for a small file: building datasets for every nested sequence item, then
converting each wanted element through pydicom's hooks. A manifest needs ~15 elements of each
file, most of them the same in every file of a series. :class:`HeaderReader` therefore

* splits the file into its top-level elements up to the pixel data with the kernel's byte
  layer (``gantry.api.split_header``: tags, VRs and lengths only, sequences walked item by
  item, no datasets);
* converts the wanted raw values with pydicom itself, memoized on everything the conversion
  depends on (tag, VR, bytes, VR encoding, character set), so each distinct value is converted
  once; a valid single UID needs no conversion (pydicom keeps it as is).

Anything the byte layer does not split -- no ``DICM`` preamble, implicit VR, big endian or
deflated data, an unknown VR, command set elements, an undefined-length element that is not a
sequence, a length running past the data, a stray delimiter -- and customised pydicom decoding
make :meth:`HeaderReader.read` return ``None``, and the caller reads the file with ``dcmread``
as before. So the values are those ``dcmread`` gives, for every file.
"""

from __future__ import annotations

import re
from typing import Any

_CHARSET = 0x00080005
_TRANSFER_SYNTAX = 0x00020010
_UNDEFINED = 0xFFFFFFFF
#: A valid UID (pydicom's own validation pattern): decoded and kept as is.
_UID = re.compile(rb"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
#: Conversions memoized per reader; cleared when this many (memory stays flat).
_MEMO_MAX = 50_000


class _Unsupported(Exception):
    """Not a layout this reader mirrors exactly: read the file with ``dcmread``."""


class HeaderReader:
    """Reads ``keywords`` (top-level elements) and the transfer syntax of DICOM files.

    One reader per manifest: it memoizes conversions under pydicom's configuration of the
    moment, and refuses (every :meth:`read` returns ``None``) when pydicom's decoding is
    customised -- a data element callback or non-default raw element hooks may depend on
    more than the memo key.
    """

    def __init__(self, keywords: tuple[str, ...]) -> None:
        from pydicom import config, hooks
        from pydicom.datadict import dictionary_VR, tag_for_keyword

        self.keywords = keywords
        self.tags: list[tuple[str, int]] = []
        for keyword in keywords:
            tag = tag_for_keyword(keyword)
            if tag is None:
                raise ValueError(f"not a DICOM keyword: {keyword}")
            self.tags.append((keyword, tag))
        self.wanted = frozenset(tag for _keyword, tag in self.tags) | {_CHARSET}
        self.uid_tags = frozenset(tag for _keyword, tag in self.tags if dictionary_VR(tag) == "UI")
        hk = hooks.hooks
        self.enabled = (config.data_element_callback is None and not hk.raw_element_kwargs
                        and hk.raw_element_vr is hooks.raw_element_vr
                        and hk.raw_element_value is hooks.raw_element_value)
        self.memo: dict[tuple[Any, ...], Any] = {}
        self._at_pixels = False  # the last read stopped at the pixel data

    # -- reading ---------------------------------------------------------------------------

    def read(self, data: bytes) -> dict[str, str] | None:
        """``{keyword: str(value)}`` for the wanted elements present and not empty, plus
        ``TransferSyntaxUID`` (``""`` when none), exactly as ``dcmread(BytesIO(data),
        stop_before_pixels=True, force=True)`` and ``ds.get(keyword)`` give them; ``None``
        when the file must be read with ``dcmread``."""
        if not self.enabled:
            return None
        self._at_pixels = False
        try:
            return self._read(data)
        except _Unsupported:
            return None

    def read_head(self, head: bytes) -> dict[str, str] | None:
        """:meth:`read` on the first bytes of a longer file: the same result when they hold
        the whole header up to the pixel data, ``None`` otherwise (read the whole file)."""
        entry = self.read(head)
        return entry if entry is not None and self._at_pixels else None

    def _read(self, data: bytes) -> dict[str, str]:
        from gantry.api import DicomFormatError, explicit_little, split_header

        if len(data) < 140 or data[128:132] != b"DICM":
            raise _Unsupported  # no preamble: dcmread guesses
        try:
            spans, pixels = split_header(data, 132)
        except DicomFormatError:
            raise _Unsupported from None
        count = 0
        while count < len(spans) and spans[count].tag >> 16 == 2:
            count += 1
        if not count or (count == len(spans) and pixels is None):
            raise _Unsupported  # no file meta, or nothing after it
        meta = {}
        for span in spans[:count]:
            if span.length == _UNDEFINED or span.vr == "SQ":
                raise _Unsupported
            meta[span.tag] = (span.vr, data[span.value:span.end])
        ts_raw = meta.get(_TRANSFER_SYNTAX)
        if ts_raw is None:
            raise _Unsupported  # no transfer syntax: dcmread guesses
        ts_value = self._convert_meta(ts_raw)
        if not explicit_little(ts_value):
            raise _Unsupported  # implicit VR, big endian, deflated: dcmread reads it
        found: dict[int, tuple[str | None, bytes]] = {}
        wanted = self.wanted
        for span in spans[count:]:
            tag = span.tag
            if tag >> 16 <= 2:
                raise _Unsupported  # command set elements (group 0000), or meta after meta
            if span.length == _UNDEFINED:
                if span.vr != "SQ" or tag in wanted:
                    raise _Unsupported  # undefined-length value: dcmread seeks its delimiter
            elif tag in wanted:
                found[tag] = (span.vr, data[span.value:span.end])
        self._at_pixels = pixels is not None
        entry: dict[str, str] = {}
        charset = found.get(_CHARSET)
        implicit = False
        for keyword, tag in self.tags:
            raw = found.get(tag)
            if raw is None:
                continue
            text = self._value(keyword, tag, raw, charset, implicit)
            if text is not None:
                entry[keyword] = text
        entry["TransferSyntaxUID"] = str(ts_value or "")
        return entry

    # -- values ----------------------------------------------------------------------------

    def _memo_get(self, key: tuple[Any, ...]) -> Any:
        return self.memo.get(key, self)  # ``self``: not memoized yet

    def _memo_put(self, key: tuple[Any, ...], value: Any) -> None:
        if len(self.memo) >= _MEMO_MAX:
            self.memo.clear()
        self.memo[key] = value

    def _convert_meta(self, raw: tuple[str, bytes]) -> Any:
        """The transfer syntax value as ``file_meta.get("TransferSyntaxUID")`` gives it."""
        key = ("meta", *raw)
        value = self._memo_get(key)
        if value is self:
            from pydicom.charset import default_encoding
            from pydicom.dataelem import RawDataElement, empty_value_for_VR
            from pydicom.dataset import FileMetaDataset
            from pydicom.tag import BaseTag

            vr, value_bytes = raw
            tag = BaseTag(_TRANSFER_SYNTAX)
            meta = FileMetaDataset()
            meta._dict[tag] = RawDataElement(
                tag, vr, len(value_bytes),
                value_bytes if value_bytes else empty_value_for_VR(vr, raw=True), 0, False, True)
            meta.set_original_encoding(False, True, default_encoding)
            try:
                value = meta.get("TransferSyntaxUID")
            except Exception as exc:  # dcmread fails inside: the caller reports that
                raise _Unsupported from exc
            self._memo_put(key, value)
        return value

    def _value(self, keyword: str, tag: int, raw: tuple[str | None, bytes],
               charset: tuple[str | None, bytes] | None, implicit: bool) -> str | None:
        """``str(ds.get(keyword))``, or ``None`` for an empty value (the manifest omits it)."""
        vr, value_bytes = raw
        if tag in self.uid_tags and vr in ("UI", None):
            text = value_bytes.rstrip(b"\0 ")
            if len(text) <= 64 and _UID.fullmatch(text):
                return text.decode("ascii")  # what convert_UI and UID() give a valid UID
        key = (tag, vr, value_bytes, implicit, charset)
        text = self._memo_get(key)
        if text is self:
            text = self._convert(keyword, tag, raw, charset, implicit)
            self._memo_put(key, text)
        return text

    @staticmethod
    def _convert(keyword: str, tag: int, raw: tuple[str | None, bytes],
                 charset: tuple[str | None, bytes] | None, implicit: bool) -> str | None:
        """Convert one value with pydicom, in a dataset set up as ``read_partial`` sets up the
        file's (its character set element, its VR encoding)."""
        from pydicom.dataelem import RawDataElement, empty_value_for_VR
        from pydicom.dataset import Dataset
        from pydicom.tag import BaseTag

        def element(at: int, vr: str | None, value: bytes) -> RawDataElement:
            return RawDataElement(BaseTag(at), vr, len(value),
                                  value if value else empty_value_for_VR(vr, raw=True), 0,
                                  implicit, True)

        elements = {BaseTag(tag): element(tag, *raw)}
        if charset is not None:
            elements[BaseTag(_CHARSET)] = element(_CHARSET, *charset)
        ds = Dataset(elements)
        try:
            encoding = ds._character_set
        except Exception as exc:  # decoded inside dcmread, which then fails: the caller says so
            raise _Unsupported from exc
        ds.set_original_encoding(implicit, True, encoding)
        value = ds.get(keyword)  # an error here is raised by ds.get() after dcmread too
        if value is not None and value != "":
            return str(value)
        return None
