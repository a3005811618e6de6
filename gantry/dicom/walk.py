"""One look-up per top-level element for everything a worker derives from it.

The one-shot pass reads each file once and then needs, per top-level element: the store
backend's index entry (at ingest), the byte pass's facts (identifier items, strings, private
creator) and the byte pass's treatment of the element under the instance's context (at
export). All of it depends only on the element's bytes, the transfer syntax and the character
set (plus the backend's decoding settings), and the instances of a series repeat most
elements byte for byte. :data:`TABLE` holds one :class:`Element` per distinct element;
:func:`walk` finds the header's elements in it once, builds the backend's entries of the
elements it has not seen (``StoreBackend.prepare_entries``), and leaves the records found for
the byte pass of the same file (:func:`walked`), so that its loops index them instead of
looking each element up again.
"""

from __future__ import annotations

from typing import Any

from gantry.dicom.elements import LAST_FILE, ElementSpan

#: Elements with longer values are never remembered (pixel data, blobs): found each time.
MAX_VALUE = 16384
_MAX_ENTRIES = 4096


class Element:
    """What a worker found for one distinct top-level element (read only once set)."""

    __slots__ = ("entry", "facts", "raw", "token")

    def __init__(self, raw: bytes) -> None:
        #: the element's bytes (header and value) as read: the look-up key of everything below
        self.raw = raw
        #: the byte pass's facts of the element (set by the pass on first use)
        self.facts: Any = None
        #: the store backend's index entry, valid while its token is :attr:`token`
        self.entry: Any = None
        self.token: Any = None


#: ``(context key, element bytes) -> Element``; the context key is ``(transfer syntax,
#: character set)`` as the byte pass keys it.
TABLE: dict[tuple[Any, bytes], Element] = {}


def element(ckey: Any, data: bytes, span: ElementSpan) -> Element:
    """The record of the element at ``span`` of ``data`` under ``ckey`` (remembered unless its
    value is longer than :data:`MAX_VALUE`)."""
    raw = data[span.start:span.end]
    key = (ckey, raw)
    found = TABLE.get(key)
    if found is None:
        found = Element(raw)
        if span.end - span.value <= MAX_VALUE:
            if len(TABLE) >= _MAX_ENTRIES:
                TABLE.clear()
            TABLE[key] = found
    return found


def walk(header: Any, index: Any) -> list[Any] | None:
    """The backend's entries of the top-level elements of a
    :class:`~gantry.dicom.rawheader.RawHeader`, in the order of ``header.spans`` (``index``: a
    :class:`~gantry.components.IndexEntries`); ``None`` when the backend cannot take entries
    now (its token is ``None``). The records found stay for :func:`walked` of the same bytes (until
    :func:`~gantry.dicom.elements.forget_split`)."""
    token = index.token()
    if token is None:
        return None
    ckey = (str(header.syntax), header.charset_key)
    data = header.data
    spans = header.spans
    entry_of = index.entry
    get = TABLE.get
    records: list[Element] = []
    entries: list[Any] = []
    for span in spans:
        raw = data[span.start:span.end]
        found = get((ckey, raw))
        if found is None:
            found = element(ckey, data, span)
        if found.token is not token:
            found.entry = entry_of(header, span)
            found.token = token
        records.append(found)
        entries.append(found.entry)
    LAST_FILE.walked = (data, spans[0] if spans else None, records, ckey)
    return entries


def walked(data: bytes, spans: list[ElementSpan], ckey: Any) -> list[Element] | None:
    """The records :func:`walk` found under ``ckey`` for the first elements of ``spans`` (the
    top level of the same ``data``, split by the same cached split), or ``None``."""
    last = getattr(LAST_FILE, "walked", None)
    if last is None or last[0] is not data or not spans or last[1] is not spans[0] or \
            last[3] != ckey:
        return None
    return last[2]


def raw_preparer(backend: Any) -> Any:
    """``prepare_raw`` of a store backend as the kernel calls it: from the entries of
    :func:`walk` when the backend declares ``prepare_entries`` (falling back to its
    ``prepare_raw`` when it declines them), else its own ``prepare_raw``."""
    index = getattr(backend, "prepare_entries", None)
    fallback = backend.prepare_raw
    if index is None or fallback is None:
        return fallback

    def prepare_raw(header: Any) -> Any:
        entries = walk(header, index)
        if entries is not None:
            found = index.prepare(header, entries)
            if found is not None:
                return found
        return fallback(header)

    return prepare_raw


__all__ = ["MAX_VALUE", "TABLE", "Element", "element", "raw_preparer", "walk",
           "walked"]
