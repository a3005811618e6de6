"""The key metadata of an exported DICOM file, read the way ``dcmread`` reads it, faster.

``pydicom.dcmread(..., stop_before_pixels=True, force=True)`` followed by ``ds.get(keyword)``
costs about 0.35 ms for a small file: building datasets for every nested sequence item, then
converting each wanted element through pydicom's hooks. A manifest needs ~15 elements of each
file, most of them the same in every file of a series. :class:`HeaderReader` therefore

* walks the file's elements itself (tags, VRs and lengths only, no datasets), visiting exactly
  what ``dcmread`` parses eagerly: the file meta group, the top-level elements up to the pixel
  data, and the items of undefined-length sequences (those are parsed when read, so a broken
  one makes ``dcmread`` fail); values of defined length are skipped;
* converts the wanted raw values with pydicom itself, memoized on everything the conversion
  depends on (tag, VR, bytes, VR encoding, character set), so each distinct value is converted
  once; a valid single UID needs no conversion (pydicom keeps it as is).

Anything it does not mirror exactly -- no ``DICM`` preamble, big endian or deflated data, an
implicit/explicit VR switch, an unknown VR, command set elements, an undefined-length element
that is not a sequence, a length running past the data, a stray delimiter, customised pydicom
decoding -- makes :meth:`HeaderReader.read` return ``None`` and the caller reads the file with
``dcmread`` as before. So the values are those ``dcmread`` gives, for every file.
"""

from __future__ import annotations

import re
from struct import Struct
from typing import Any

#: Item, item delimitation and sequence delimitation tags.
_ITEM = 0xFFFEE000
_ITEM_END = 0xFFFEE00D
_SEQ_END = 0xFFFEE0DD
#: Where ``stop_before_pixels`` stops (top level only).
_PIXEL_TAGS = frozenset((0x7FE00008, 0x7FE00009, 0x7FE00010))
_CHARSET = 0x00080005
_TRANSFER_SYNTAX = 0x00020010
_UNDEFINED = 0xFFFFFFFF
_EXPLICIT = Struct("<HH2sH")
_IMPLICIT = Struct("<HHL")
_LONG = Struct("<L")
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
        from pydicom.charset import default_encoding
        from pydicom.datadict import dictionary_VR, tag_for_keyword
        from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR

        self.keywords = keywords
        self.tags: list[tuple[str, int]] = []
        for keyword in keywords:
            tag = tag_for_keyword(keyword)
            if tag is None:
                raise ValueError(f"not a DICOM keyword: {keyword}")
            self.tags.append((keyword, tag))
        self.wanted = frozenset(tag for _keyword, tag in self.tags) | {_CHARSET}
        self.uid_tags = frozenset(tag for _keyword, tag in self.tags if dictionary_VR(tag) == "UI")
        # explicit VR: the 2-byte VR as bytes -> (VR, has a 4-byte length)
        self.vrs = {vr.value.encode(default_encoding): (vr.value, vr.value in EXPLICIT_VR_LENGTH_32)
                    for vr in VR}
        hk = hooks.hooks
        self.enabled = (config.data_element_callback is None and not hk.raw_element_kwargs
                        and hk.raw_element_vr is hooks.raw_element_vr
                        and hk.raw_element_value is hooks.raw_element_value)
        self.memo: dict[tuple[Any, ...], Any] = {}
        self._sq_tags: dict[int, bool] = {}
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
        n = len(data)
        if n < 140 or data[128:132] != b"DICM":
            raise _Unsupported  # no preamble: dcmread guesses
        meta, pos = self._file_meta(data, 132)
        if pos + 8 > n:
            raise _Unsupported  # nothing or a fragment after the file meta
        if data[pos] == 0 and data[pos + 1] == 0:
            raise _Unsupported  # command set elements (group 0000)
        ts_raw = meta.get(_TRANSFER_SYNTAX)
        if ts_raw is None:
            raise _Unsupported  # no transfer syntax: dcmread guesses
        ts_value = self._convert_meta(ts_raw)
        implicit = self._implicit(ts_value)
        first_implicit = not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B)
        if first_implicit != implicit:
            raise _Unsupported  # dcmread would switch the VR encoding (and warn)
        found: dict[int, tuple[str | None, bytes]] = {}
        self._dataset(data, pos, None, implicit, found, top=True)
        entry: dict[str, str] = {}
        charset = found.get(_CHARSET)
        for keyword, tag in self.tags:
            raw = found.get(tag)
            if raw is None:
                continue
            text = self._value(keyword, tag, raw, charset, implicit)
            if text is not None:
                entry[keyword] = text
        entry["TransferSyntaxUID"] = str(ts_value or "")
        return entry

    def _file_meta(self, data: bytes, pos: int) -> tuple[dict[int, tuple[str, bytes]], int]:
        """The group 0002 elements (explicit VR little endian) and where the dataset starts."""
        n = len(data)
        meta: dict[int, tuple[str, bytes]] = {}
        first = True
        while True:
            if pos + 8 > n:
                raise _Unsupported
            group, elem, vr_bytes, length = _EXPLICIT.unpack_from(data, pos)
            if group != 2:
                if first or group == 0xFFFE:
                    raise _Unsupported  # no file meta, or a delimiter where it ends
                return meta, pos
            first = False
            known = self.vrs.get(vr_bytes)
            if known is None:
                raise _Unsupported  # dcmread would retry the group as implicit VR
            vr, long = known
            head = 8
            if long:
                if pos + 12 > n:
                    raise _Unsupported
                length = _LONG.unpack_from(data, pos + 8)[0]
                head = 12
            end = pos + head + length
            if length == _UNDEFINED or vr == "SQ" or end > n:
                raise _Unsupported
            meta[group << 16 | elem] = (vr, data[pos + head:end])
            pos = end

    @staticmethod
    def _implicit(transfer_syntax: Any) -> bool:
        """Implicit VR or not, as ``read_partial`` decides it (little endian only)."""
        import pydicom.uid as uids

        if transfer_syntax == uids.ImplicitVRLittleEndian:
            return True
        if transfer_syntax == uids.ExplicitVRLittleEndian:
            return False
        if transfer_syntax in (uids.ExplicitVRBigEndian, uids.DeflatedExplicitVRLittleEndian) \
                or transfer_syntax in uids.PrivateTransferSyntaxes:
            raise _Unsupported
        return False  # every other (encapsulated) syntax is explicit VR little endian

    def _dataset(self, data: bytes, pos: int, end: int | None, implicit: bool,
                 found: dict[int, tuple[str | None, bytes]] | None, *, top: bool = False) -> int:
        """Walk one dataset from ``pos``: the top level (until the pixel data or the end),
        an undefined-length item (``end`` None, until its delimiter) or a defined-length item
        (until ``end``). Keeps the wanted top-level elements in ``found`` (a later duplicate
        wins, as in ``dcmread``). Returns the position after the dataset."""
        n = len(data)
        limit = n if end is None else end
        vrs_get = self.vrs.get
        wanted = self.wanted if found is not None else frozenset()
        explicit_unpack = _EXPLICIT.unpack_from
        implicit_unpack = _IMPLICIT.unpack_from
        long_unpack = _LONG.unpack_from
        delimited = end is None and not top  # an undefined-length item
        while pos < limit:
            if pos + 8 > n:
                raise _Unsupported
            if implicit:
                group, elem, length = implicit_unpack(data, pos)
                vr: str | None = None
                start = pos + 8
            else:
                group, elem, vr_bytes, length = explicit_unpack(data, pos)
                known = vrs_get(vr_bytes)
                if known is None:
                    if delimited and group == 0xFFFE and elem == 0xE00D:
                        return pos + 8
                    raise _Unsupported  # dcmread would assume an implicit VR switch
                vr, long = known
                if long:
                    if pos + 12 > n:
                        raise _Unsupported
                    length = long_unpack(data, pos + 8)[0]
                    start = pos + 12
                else:
                    start = pos + 8
            if group == 0xFFFE:
                if delimited and elem == 0xE00D:
                    return start  # as far as dcmread reads the delimiter
                raise _Unsupported  # a delimiter or item where an element belongs
            tag = group << 16 | elem
            if top and tag in _PIXEL_TAGS:
                self._at_pixels = True
                return pos
            if length == _UNDEFINED:
                if not self._is_sequence(tag, vr):
                    raise _Unsupported  # undefined-length value: dcmread seeks its delimiter
                if tag in wanted:
                    raise _Unsupported
                pos = self._sequence(data, start, implicit)
                continue
            pos = start + length
            if pos > n:
                raise _Unsupported  # dcmread would keep a truncated value
            if tag in wanted:
                found[tag] = (vr, data[start:pos])  # type: ignore[index]
        if pos != limit or delimited:
            raise _Unsupported  # an element ran past its item, or no item delimiter
        return pos

    def _is_sequence(self, tag: int, vr: str | None) -> bool:
        if vr is not None:
            return vr == "SQ"
        known = self._sq_tags.get(tag)
        if known is None:
            from pydicom.datadict import dictionary_VR

            try:
                known = dictionary_VR(tag) == "SQ"
            except KeyError:
                known = False  # a private tag: dcmread looks ahead for items; not mirrored
            self._sq_tags[tag] = known
        return known

    def _sequence(self, data: bytes, pos: int, implicit: bool) -> int:
        """Walk the items of an undefined-length sequence; the position after its delimiter."""
        n = len(data)
        while True:
            if pos + 8 > n:
                raise _Unsupported
            group, elem, length = _IMPLICIT.unpack_from(data, pos)
            tag = group << 16 | elem
            pos += 8
            if tag == _SEQ_END:
                return pos
            if tag != _ITEM:
                raise _Unsupported
            if length == _UNDEFINED:
                self._item_encoding(data, pos, implicit, empty_ok=True)
                pos = self._dataset(data, pos, None, implicit, None)
            elif length:
                end = pos + length
                if end > n:
                    raise _Unsupported
                self._item_encoding(data, pos, implicit, empty_ok=False)
                pos = self._dataset(data, pos, end, implicit, None)

    @staticmethod
    def _item_encoding(data: bytes, pos: int, implicit: bool, *, empty_ok: bool) -> None:
        """An explicit-VR item whose first element looks implicit is read as implicit VR by
        ``dcmread``: not mirrored (an empty undefined-length item reads the same either way)."""
        if implicit or pos + 6 > len(data):
            return
        if not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B):
            if empty_ok and data[pos:pos + 4] == b"\xfe\xff\x0d\xe0":
                return
            raise _Unsupported

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
