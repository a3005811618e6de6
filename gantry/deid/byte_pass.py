"""The built-in Annex E redactor's byte pass: the export computed once per distinct element
instead of once per instance (the redactor offers it as its
:class:`~gantry.components.BytePass`; see ``RedactorImpl.byte_pass``).

The instances of a series repeat almost every header element byte for byte (patient, study,
series, equipment, acquisition parameters), and what the pipeline does to an element — the
Annex E action, the identifiers it contributes, the bytes it is written as, the audit's text
hits — depends only on that element's bytes and on a small *context*: the transfer syntax, the
character set, the IOD (from the SOP Class UID), the patient, the instance's non-UID
identifying values, and which of the instance's UIDs occur inside the element (UIDs are
matched by plain substring search, so a UID that does not occur in an element cannot change
what happens to it).

:class:`AnnexEBytePass` reads the file's bytes once, splits the data set into top-level elements
without decoding them, and looks each one up under that context. An element seen for the first
time is processed by the very code of the full pipeline (the engine's walk, the identifier
collection, the encoder, the auditor's text scan) on a one-element dataset parsed by pydicom's
own reader, and the result is remembered. Numbers, pixel data and other binary values the
profile keeps are copied as read. What is not per-element (private creators kept with their
blocks, orphan overlays, the preamble, the file meta, the markers, the audit summary) is done
the same way the full pipeline does it.

Whatever this pass cannot prove equivalent — implicit VR or big endian files, unsorted or
duplicate tags, undefined-length UN, a changed character set, markers already present — raises
:class:`~gantry.components.BytePassDeclined` and the instance goes through the full pipeline
(the run summary counts it). The redactor does not offer the pass at all for a reversible
profile or auditors other than the built-in Annex E one; the pipeline does not ask for it for
sinks that do not declare ``takes_byte_pass_stub``. ``tests/deid/test_byte_pass.py`` and
``tests/deid/test_byte_pass_property.py`` check that both give the same bytes, changes and
findings.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydicom.dataelem import RawDataElement

from gantry.components import BytePassDeclined
from gantry.dicom.elements import (
    CHARSET,
    LONG_VRS,
    PIXEL_DATA,
    SOP_CLASS,
    SOP_INSTANCE,
    TAG,
    UL,
    UNDEFINED,
    US,
    ElementSpan,
    element_header,
    explicit_little,
    raw_element,
    read_back,
    split_cached,
)
from gantry.dicom.encode import element_bytes
from gantry.dicom.streamed import STREAM_ABOVE, Streamed
from gantry.dicom.values import VERBATIM_VRS, keyword_of, ui_text_at, value_of
from gantry.dicom.walk import Element, walked
from gantry.dicom.walk import element as element_record

if TYPE_CHECKING:
    from gantry.context import InstanceContext, Run
    from gantry.deid.engine import DeidEngine
    from gantry.model import Instance

#: Values larger than this are processed each time, never remembered (pixel data, blobs).
_CACHE_MAX_VALUE = 16384
_CACHE_MAX_ENTRIES = 4096
#: Number strings: kept as read unless the profile acts on them (see _number_as_read).
_NUMBER_STRING_VRS = frozenset({"IS", "DS"})
#: Tags whose decoded string the pass needs (``str(ds.get(keyword, "") or "")``).
_STRING_TAGS = {0x00100020: "PatientID", 0x00100010: "PatientName",
                0x00100021: "IssuerOfPatientID", 0x00100030: "PatientBirthDate",
                SOP_CLASS: "SOPClassUID"}
#: Elements the DICOM folder sink reads from the redacted dataset (plus the file meta's two).
_SINK_TAGS = (0x00100020, 0x0020000D, 0x0020000E, SOP_INSTANCE, SOP_CLASS)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What an original element contributes before the engine runs."""

    items: tuple[Any, ...]  # identifier collection items
    text: str  # str(ds.get(keyword)) for the _STRING_TAGS, else ""
    creator: str | None  # a private creator's text


@dataclass(frozen=True, slots=True)
class _Result:
    """What the pipeline does to one element under one context."""

    out: bytes | None  # the element as written, None when removed
    changes: tuple[Any, ...]
    hits: tuple[Any, ...]  # the auditor's text hits on the written element


@dataclass(frozen=True, slots=True)
class _Meta:
    """A kind of file meta (everything but its Media Storage SOP Instance UID)."""

    meta: Any  # the FileMetaDataset of the first instance seen
    tsyntax: Any
    items: tuple[Any, ...]  # its identifier collection items
    uid_index: int  # which item is the Media Storage SOP Instance UID
    outputs: dict[tuple[Any, ...], tuple[bytes, bytes, tuple[Any, ...]]]


#: Character set values (bytes as read) -> the encodings pydicom converts them to.
_ENCODINGS: dict[Any, Any] = {}
#: Written elements of the stub, read back (a defined-length element reads the same whatever
#: the character set: only its value is decoded with it, on access).
_STUB_RAWS: dict[bytes, Any] = {}


def _bounded(cache: dict[Any, Any], limit: int) -> None:
    if len(cache) >= limit:
        cache.clear()


# ------------------------------------------------------------------------------- the pass
class AnnexEBytePass:
    """The export pass of one run, element by element (built once per worker and run): a
    :class:`~gantry.components.BytePass` doing the work of the Annex E engine and, when given,
    of the Annex E auditor."""

    def __init__(self, run: Run, engine: DeidEngine, auditor: Any | None) -> None:
        self.run = run
        self.engine = engine
        self.auditor = auditor
        self._results: dict[tuple[Any, ...], dict[tuple[Any, ...], _Result]] = {}
        self._result_count = 0
        self._metas: dict[Any, _Meta] = {}
        #: the identifier set of the first instance of each context (its matchers are shared)
        self._sets: dict[tuple[Any, ...], Any] = {}
        self._markers: dict[Any, tuple[list[tuple[int, bytes]], Any]] = {}
        self._plain_ds: Any = None  # an empty dataset (what decoding a number needs of one)
        self._plans: dict[int, Any] = {}  # what each identifier item contributes

    # -- per element -----------------------------------------------------------------------
    def _mini(self, elements: dict[int, Any], encoding: Any) -> Any:
        from pydicom.dataset import Dataset

        ds = Dataset(elements)
        ds.set_original_encoding(False, True, encoding)
        return ds

    def _plain(self, encoding: Any) -> Any:
        """An empty dataset: all that decoding a value of a VR without a character set needs
        of the dataset around it (built once)."""
        if self._plain_ds is None:
            self._plain_ds = self._mini({}, encoding)
        return self._plain_ds

    def _facts(self, data: bytes, span: ElementSpan, cs: Any, encoding: Any,
               record: Element) -> _Facts:
        """The facts of the element at ``span``, kept on its record."""
        tag = span.tag
        if span.vr == "UI" and span.length and span.length != UNDEFINED and \
                not tag >> 16 & 1:  # (most differ per instance): from the bytes
            text = ui_text_at(data, span)
            if text:
                items = () if _identifier_skip(tag, "UI") else \
                    (("UI", text, tag, keyword_of(tag), False),)
                found = record.facts = _Facts(items, text if tag in _STRING_TAGS else "",
                                              None)
                return found
        from gantry.deid.engine import creator_text
        from gantry.deid.identifiers import element_items

        elem = raw_element(data, span, encoding)
        elements = {span.tag: elem} if cs is None or span.tag == CHARSET else \
            {CHARSET: cs, span.tag: elem}
        mini = self._mini(elements, encoding)
        items: list[Any] = []
        element_items(mini, False, items)
        if cs is not None and span.tag != CHARSET:  # the character set's own item (a UN one)
            items = [item for item in items if not (item[2] == CHARSET and item is items[0])]
        keyword = _STRING_TAGS.get(span.tag)
        text = str(mini.get(keyword, "") or "") if keyword else ""
        creator = None
        group, element = span.tag >> 16, span.tag & 0xFFFF
        if group & 1 and 0x0010 <= element <= 0x00FF:
            creator = creator_text(mini[span.tag].value)
        found = record.facts = _Facts(tuple(items), text, creator)
        return found

    # -- per instance ----------------------------------------------------------------------
    def process(self, instance: Instance, data: bytes, context_factory: Any, with_audit: bool
                ) -> tuple[bytes | Streamed, InstanceContext, list[Any], list[Any], Any]:
        """``(file bytes, context, changes, findings, redacted stub dataset)`` for one
        instance; raises :class:`BytePassDeclined` when the full pipeline must do it. A large
        native pixel value kept as read is not copied: the file is then a
        :class:`~gantry.dicom.streamed.Streamed` (its pixel value a view of ``data``)."""
        from pydicom.charset import default_encoding

        from gantry.deid.engine import Walk
        from gantry.deid.identifiers import identifiers_from_items
        from gantry.deid.iod import iod_of
        from gantry.records import PatientKey

        if len(data) < 132 or data[128:132] != b"DICM":
            raise BytePassDeclined("no DICM prefix")
        meta_info, body, meta_uid = self._meta_info(data)
        tsyntax = meta_info.tsyntax
        spans = split_cached(data, body)
        if not spans or spans[0].tag >> 16 <= 2:
            raise BytePassDeclined("empty data set, or command or meta elements in it")
        compressed = tsyntax.is_compressed
        own_uid = getattr(instance, "sop_instance_uid", "") or meta_uid

        # character set, as pydicom's reader sets it
        cs = None
        encoding: Any = default_encoding
        charset_span = next((s for s in spans[:16] if s.tag >= CHARSET), None)
        if charset_span is not None and charset_span.tag == CHARSET:
            from pydicom.charset import convert_encodings
            from pydicom.dataelem import convert_raw_data_element

            if charset_span.length == UNDEFINED or spans[0] is not charset_span:
                raise BytePassDeclined("elements before the character set")
            cs = raw_element(data, charset_span, default_encoding)
            found = _ENCODINGS.get(cs.value)
            if found is None:
                found = convert_encodings(convert_raw_data_element(cs).value)
                _bounded(_ENCODINGS, 64)
                _ENCODINGS[cs.value] = found
            encoding = list(found) if isinstance(found, list) else found
        ckey = (str(tsyntax), tuple(encoding) if isinstance(encoding, list) else encoding)

        # 1. facts: identifier items, patient, IOD, private creators
        engine = self.engine
        rules = engine.rules
        items: list[Any] = []
        texts: dict[int, str] = {}
        creators: list[tuple[int, int, str]] = []
        passes = _passes_over
        # the elements' records: found once per file, by the ingest's walk when it ran
        records = walked(data, spans, ckey) or []
        n_records = len(records)
        for i, span in enumerate(spans):
            tag = span.tag
            if passes(tag, span.vr):
                continue
            record = records[i] if i < n_records else element_record(ckey, data, span)
            facts = record.facts or self._facts(data, span, cs, encoding, record)
            if facts.items:
                items.extend(facts.items)
            if facts.text:
                texts[tag] = facts.text
            if facts.creator is not None:
                creators.append((tag >> 16, tag & 0xFFFF, facts.creator))
        items.extend(meta_info.items)
        items[len(items) - len(meta_info.items) + meta_info.uid_index] = \
            (*meta_info.items[meta_info.uid_index][:1], meta_uid,
             *meta_info.items[meta_info.uid_index][2:])
        patient = PatientKey(patient_id=texts.get(0x00100020, "").strip(),
                             patient_name=texts.get(0x00100010, "").strip(),
                             issuer=texts.get(0x00100021, "").strip(),
                             birth_date=texts.get(0x00100030, "").strip())
        identifiers = identifiers_from_items(items, patient, profile=self.run.profile,
                                             plans=self._plans)
        context = context_factory(patient, identifiers)
        context.notes["private_creators"] = creators
        iod = iod_of(texts.get(SOP_CLASS, ""))
        walk = Walk(engine, context, iod, identifiers)
        actions = walk.actions

        # which instance UIDs occur where (outside large values, which are never cached)
        uid_text = identifiers.uids()
        uids = [u.encode("ascii", "ignore") for u in uid_text]
        starts = [s.start for s in spans]
        occurs: dict[int, set[int]] = {}
        if uids:
            regions = []
            lo = body
            for s in spans:
                if s.end - s.value > _CACHE_MAX_VALUE:
                    regions.append((lo, s.start))
                    lo = s.end
            regions.append((lo, len(data)))
            index = {uid: n for n, uid in enumerate(uid_text)}
            for a, b in regions:  # one pass for every UID (see IdentifierSet.uid_occurrences)
                for offset, uid in identifiers.uid_occurrences(data[a:b].decode("latin-1")):
                    pos = a + offset
                    i = bisect_right(starts, pos) - 1
                    if pos + len(uid) <= spans[i].end:
                        occurs.setdefault(i, set()).add(index[uid])
        context_key = (ckey, iod, patient,
                       frozenset((v, k) for v, k in identifiers.values.items() if k != "UID"),
                       bool(len(identifiers)))
        results = self._results.get(context_key)
        if results is None:
            if len(self._results) > 256 or self._result_count > _CACHE_MAX_ENTRIES:
                self._results.clear()
                self._sets.clear()
                self._result_count = 0
            results = self._results[context_key] = {}
            self._sets[context_key] = identifiers
        else:  # the same non-UID values: the same match keys and patterns (built once)
            identifiers.share_matchers(self._sets[context_key])
        blocks = {(g, e): c for g, e, c in creators}

        # 2. the engine, element by element
        out: list[tuple[int, bytes]] = []
        changes = walk.changes
        hits: list[tuple[int, Any]] = []  # (top-level tag, hit)
        kept_blocks: set[tuple[int, int]] = set()
        creator_spans: list[ElementSpan] = []
        has_masks = engine.has_masks
        pixel_value: memoryview | None = None  # a large pixel value kept, as read
        for i, span in enumerate(spans):
            tag = span.tag
            group = tag >> 16
            element = tag & 0xFFFF
            if group & 1:
                if 0x0010 <= element <= 0x00FF:
                    creator_spans.append(span)
                    continue
                if element >= 0x0010:
                    creator = blocks.get((group, element >> 8))
                    if rules.private_action(creator, group, element & 0xFF) != "X":
                        kept_blocks.add((group, element >> 8))
            elif tag in (0x00120062, 0x00120063, 0x00120064, 0x00280303):
                raise BytePassDeclined("markers already present")
            elif span.vr in VERBATIM_VRS and span.length != UNDEFINED and \
                    span.length % VERBATIM_VRS[span.vr] == 0 and element != 0:
                action = actions.get(tag)
                if action is None and has_masks:
                    action = rules.mask_action(tag)
                if action is None and self.engine.drops_unknown(tag, span.vr):
                    pass  # removed by the engine (a tag the standard does not define...), below
                elif action is None or action == "K":
                    if tag == PIXEL_DATA and (span.length & 1 or compressed):
                        raise BytePassDeclined("odd-length or encapsulated defined-length pixels")
                    if tag == PIXEL_DATA and span.length >= STREAM_ABOVE:  # not copied
                        pixel_value = memoryview(data)[span.value:span.end]
                        out.append((tag, _header(span)))
                    else:
                        out.append((tag, _rebuilt(data, span)))
                    if span.vr == "OB":
                        hits.extend((tag, h) for h in _ob_hits(data, span, identifiers))
                    continue
            found = tuple(uid_text[n] for n in sorted(occurs[i])) if i in occurs else ()
            creator = blocks.get((group, element >> 8)) if group & 1 else None
            result = None
            raw_bytes = records[i].raw if i < n_records else data[span.start:span.end]
            if not found and span.end - span.value <= _CACHE_MAX_VALUE:  # _result's own hit
                result = results.get((raw_bytes, found, creator))
                if result is None and span.vr in _NUMBER_STRING_VRS and not group & 1 and \
                        element and span.length != UNDEFINED and \
                        self._number_as_read(data, span, actions, encoding):
                    out.append((tag, _rebuilt(data, span)))  # (a value new to the pass,
                    continue  # like most InstanceNumbers and positions)
            if result is None:
                result = self._result(data, span, cs, encoding, walk, blocks, found, results,
                                      creator, own_uid=own_uid, compressed=compressed,
                                      raw_bytes=raw_bytes)
            if tag == CHARSET and (result.changes or result.out is None):
                raise BytePassDeclined("the character set changes")
            if result.out is not None:
                out.append((tag, result.out))
            if result.changes:
                changes.extend(result.changes)
            if result.hits:
                hits.extend((tag, h) for h in result.hits)
        for span in creator_spans:
            if (span.tag >> 16, span.tag & 0xFF) in kept_blocks:
                raw = raw_element(data, span, encoding)
                out.append((span.tag, element_bytes(span.tag, raw, encoding)))
                hits.extend((span.tag, h)
                            for h in self._hits_of(span.tag, raw, cs, encoding, identifiers))

        # 3. orphan overlays, preamble, file meta, markers
        from gantry.deid.engine import orphan_overlay_groups

        removed = orphan_overlay_groups(changes, [t for t, _ in out])
        if removed:
            dropped = sorted(t for t, _ in out if t >> 16 in removed)
            out = [(t, b) for t, b in out if t >> 16 not in removed]
            hits = [h for h in hits if h[0] >> 16 not in removed]
            for tag in dropped:
                walk.change("X", tag, "", "", "overlay without data")
        if data[:128].strip(b"\x00"):
            walk.change("Z", 0, "preamble", "", "file preamble zeroed")
        stub = self._stub(out, cs, encoding)
        meta_bytes, meta_changes = self._meta_output(meta_info, meta_uid, stub, walk)
        changes.extend(meta_changes)
        from gantry.deid.markers import dummied_attributes

        marker_elements, marker_hits = self._marker_elements(cs, encoding, identifiers,
                                                             context_key,
                                                             dummied_attributes(changes))
        out.extend(marker_elements)
        from gantry.deid.markers import MARKER_TAGS

        for keyword, tag in MARKER_TAGS:
            walk.change("marker", tag, keyword, "")
        hits.extend(marker_hits)
        out.sort(key=lambda pair: pair[0])
        hits.sort(key=lambda pair: pair[0])  # stable: an element's own hits keep their order
        context.notes["output_fields"] = self._output_fields(out, cs, encoding, tsyntax)
        encoded: bytes | Streamed
        if pixel_value is None:
            encoded = b"".join((b"\x00" * 128, b"DICM", meta_bytes, *(b for _, b in out)))
        else:  # the pixel value handed on as read (see gantry.dicom.streamed)
            at = [t for t, _ in out].index(PIXEL_DATA) + 1
            encoded = Streamed(b"".join((b"\x00" * 128, b"DICM", meta_bytes,
                                         *(b for _, b in out[:at]))),
                               pixel_value, b"".join(b for _, b in out[at:]))
        findings: list[Any] = []
        if with_audit and self.auditor is not None:
            findings = self.auditor.verified(list(changes), creators, [], [h for _, h in hits])
        return encoded, context, list(changes), findings, stub

    def _meta_info(self, data: bytes) -> tuple[_Meta, int, str]:
        """The file meta of ``data`` (remembered with its Media Storage SOP Instance UID left
        out), where the data set starts, and that UID as the identifier collection reads it."""
        from gantry.dicom.values import ui_text

        pos = 132
        uid_span = None
        end = len(data)
        while pos + 8 <= end and data[pos:pos + 2] == b"\x02\x00":
            tag, vr, length, size = element_header(data, pos)
            if length == UNDEFINED:
                raise BytePassDeclined("undefined length in the file meta")
            if tag == 0x00020003:
                uid_span = ElementSpan(tag, vr, pos, pos + size, length, pos + size + length)
            pos += size + length
        body = pos
        if uid_span is None or uid_span.vr != "UI" or body > end:
            raise BytePassDeclined("file meta without a Media Storage SOP Instance UID")
        uid = ui_text(raw_element(data, uid_span, None))
        if not uid:
            raise BytePassDeclined("Media Storage SOP Instance UID")
        key = (data[132:uid_span.value], data[uid_span.end:body])
        found = self._metas.get(key)
        if found is None:
            found = self._read_meta(data, body, uid, key)
        return found, body, uid

    def _read_meta(self, data: bytes, body: int, uid: str, key: Any) -> _Meta:
        from pydicom.filebase import DicomBytesIO
        from pydicom.filereader import _read_file_meta_info

        from gantry.deid.identifiers import element_items

        fp = DicomBytesIO(data)
        fp.is_little_endian, fp.is_implicit_VR = True, False
        fp.seek(132)
        meta = _read_file_meta_info(fp)
        if fp.tell() != body:
            raise BytePassDeclined("file meta")
        tsyntax = meta.get("TransferSyntaxUID", None)
        if not explicit_little(tsyntax):
            raise BytePassDeclined("transfer syntax")
        items: list[Any] = []
        element_items(meta, False, items)
        where = [i for i, item in enumerate(items) if item[2] == 0x00020003]
        if len(where) != 1 or items[where[0]][1] != uid:
            raise BytePassDeclined("file meta items")
        found = _Meta(meta, tsyntax, tuple(items), where[0], {})
        if len(self._metas) > 1024:
            self._metas.clear()
        self._metas[key] = found
        return found

    def _meta_output(self, info: _Meta, uid: str, stub: Any,
                     walk: Any) -> tuple[bytes, list[Any]]:
        """The file meta as written and the engine's changes to it. Done once per kind of
        meta with a stand-in SOP Instance UID of the same length, which is then replaced."""
        from pydicom.uid import UID

        from gantry.dicom.encode import copy_dataset, encode_meta

        if SOP_INSTANCE not in stub._dict:
            raise BytePassDeclined("no SOP Instance UID")
        new = str(value_of(stub, SOP_INSTANCE, "SOPInstanceUID"))
        sop_class = str(value_of(stub, SOP_CLASS, "SOPClassUID") or "")
        key = (sop_class, len(new), uid == new)
        found = info.outputs.get(key)
        if found is None:
            stand_in = "9" * len(new)
            meta = copy_dataset(info.meta)
            if uid == new:
                meta.MediaStorageSOPInstanceUID = UID(stand_in)
            elements = dict(stub._dict)
            mini = self._mini(elements, stub.original_character_set)
            from pydicom.dataelem import DataElement

            mini[SOP_INSTANCE] = DataElement(SOP_INSTANCE, "UI", stand_in)
            before = len(walk.changes)
            self.engine.meta(walk, mini, meta)
            changes = tuple(walk.changes[before:])
            del walk.changes[before:]
            written = encode_meta(mini, meta)
            marker = stand_in.encode()
            if written.count(marker) != 1:
                raise BytePassDeclined("file meta template")
            head, tail = written.split(marker)
            found = info.outputs[key] = (head, tail, changes)
        head, tail, changes = found
        return head + new.encode() + tail, list(changes)

    def _result(self, data: bytes, span: ElementSpan, cs: Any, encoding: Any, walk: Any,
                blocks: dict[tuple[int, int], str], found: tuple[str, ...],
                results: dict[tuple[Any, ...], _Result] | None,
                creator: str | None = None, *, own_uid: str = "",
                compressed: bool = False, raw_bytes: bytes | None = None) -> _Result:
        """The pipeline's treatment of one element (remembered under the context;
        ``raw_bytes``: the element's bytes, when already at hand)."""
        # an element holding the instance's own SOP Instance UID never repeats: not kept
        cacheable = results is not None and span.end - span.value <= _CACHE_MAX_VALUE and \
            own_uid not in found
        if cacheable:
            key = (data[span.start:span.end] if raw_bytes is None else raw_bytes, found,
                   creator)
            hit = results.get(key)  # type: ignore[union-attr]
            if hit is not None:
                return hit
        tag = span.tag
        if found and span.vr == "UI" and not tag >> 16 & 1 and tag & 0xFFFF and \
                span.length != UNDEFINED and not self.engine.retain_uids:
            mapped = self._mapped_uid(data, span, walk.actions, walk, walk.identifiers)
            if mapped is not None:
                result = _Result(mapped[0], (mapped[1],), tuple(mapped[2]))
                if cacheable:
                    self._result_count += 1
                    results[key] = result  # type: ignore[index]
                return result
        from gantry.deid.engine import NORMAL

        raw = cs if tag == CHARSET else raw_element(data, span, encoding)
        elements = {tag: raw} if cs is None or tag == CHARSET else {CHARSET: cs, tag: raw}
        mini = self._mini(elements, encoding)
        before = len(walk.changes)
        self.engine._dataset(walk, mini, "", NORMAL, blocks)
        new_changes = tuple(walk.changes[before:])
        del walk.changes[before:]
        elem = mini._dict.get(tag)
        if tag == PIXEL_DATA and elem is not None:
            elem = mini[tag]  # the encoder converts it and sets its length form (see fast)
            elem.is_undefined_length = compressed
        out = None if elem is None else element_bytes(tag, elem, _encodings(mini))
        hits: tuple[Any, ...] = ()
        if elem is not None and self.auditor is not None:
            hits = tuple(_own_hits(tag, mini, walk.identifiers))
        result = _Result(out, new_changes, hits)
        if cacheable:
            self._result_count += 1
            results[key] = result  # type: ignore[index]
        return result

    def _number_as_read(self, data: bytes, span: ElementSpan, actions: dict[int, str],
                        encoding: Any) -> bool:
        """Whether the engine keeps a top-level IS or DS element as read: no action or ``K``
        (the default action of these VRs is none), and pydicom writes its decoded value back
        as the very same bytes. Then it has no change, and no audit hit (the auditor does not
        scan these VRs): what the element-by-element pass would find, without running it."""
        tag = span.tag
        action = actions.get(tag)
        if action is None and self.engine.has_masks:
            action = self.engine.rules.mask_action(tag)
        if action is not None and action != "K":
            return False
        from gantry.dicom.values import decoded

        found = decoded(self._plain(encoding), raw_element(data, span, encoding))
        return found is not None and found[1]

    def _mapped_uid(self, data: bytes, span: ElementSpan, actions: dict[int, str], walk: Any,
                    identifiers: Any) -> tuple[bytes, Any, list[Any]] | None:
        """An instance UID the engine maps (``U``/``D``/``C``; see ``DeidEngine._raw``): the
        element written, its change, its audit hits. ``None``: not that simple."""
        from pydicom.dataelem import DataElement

        from gantry.deid.uids import keeps_uid
        from gantry.dicom.values import ui_text

        tag = span.tag
        engine = self.engine
        action = actions.get(tag)
        if action is None and engine.has_masks:
            action = engine.rules.mask_action(tag)
        keyword = keyword_of(tag)
        if action is None:
            action = None if keeps_uid(keyword) else "U"
        if action not in ("U", "D", "C"):
            return None
        text = ui_text(raw_element(data, span, None))
        if not text:
            return None
        new = walk.map_uid(text)
        if action == "U" and new == text:
            return None
        walk.change("U", tag, keyword, "")
        change = walk.changes.pop()
        written = _ui_bytes(tag, new)
        if written is None:
            written = element_bytes(tag, DataElement(tag, "UI", new), None)
        hits: list[Any] = []
        if self.auditor is not None and len(identifiers) and "UI" not in identifiers.exempt_vrs:
            kinds = identifiers.find(str(new))  # (as text_hits reads a UI element)
            if kinds:
                hits.append((f"({tag >> 16:04X},{tag & 0xFFFF:04X})", keyword, "",
                             sorted(set(kinds))))
        return written, change, hits

    def _hits_of(self, tag: int, elem: Any, cs: Any, encoding: Any,
                 identifiers: Any) -> list[Any]:
        """The auditor's text hits on one written element (nested items included)."""
        elements = {tag: elem} if cs is None or tag == CHARSET else {CHARSET: cs, tag: elem}
        return _own_hits(tag, self._mini(elements, encoding), identifiers)

    def _stub(self, out: list[tuple[int, bytes]], cs: Any, encoding: Any) -> Any:
        """The redacted dataset's elements the file meta and the sink read."""
        elements: dict[int, Any] = {} if cs is None else {CHARSET: cs}
        for tag, written in out:
            if tag in _SINK_TAGS:
                written = bytes(written)
                raw = _STUB_RAWS.get(written)
                if raw is None:
                    raw = read_back(written, encoding)
                    if raw is None:
                        raise BytePassDeclined("unexpected form of a UID or ID element")
                    if tag != SOP_INSTANCE:  # (one of a kind: not worth remembering)
                        _bounded(_STUB_RAWS, _CACHE_MAX_ENTRIES)
                        _STUB_RAWS[written] = raw
                elements[tag] = raw
        return self._mini(elements, encoding)

    def _output_fields(self, out: list[tuple[int, Any]], cs: Any, encoding: Any,
                       tsyntax: Any) -> tuple[tuple[str, str], ...]:
        """The written file's :data:`~gantry.records.EXPORT_FIELDS` (``out``: its elements,
        sorted; a field absent from them is absent from the file)."""
        wanted = _field_tags()
        ckey = tuple(encoding) if isinstance(encoding, list) else encoding
        texts: dict[int, str | None] = {}
        for tag, written in out:
            if tag > _LAST_FIELD_TAG:
                break
            if tag in wanted:
                written = bytes(written)
                key = (ckey, written)
                text = _FIELD_TEXTS.get(key, _UNSEEN)
                if text is _UNSEEN:
                    text = self._field_text(tag, wanted[tag], written, cs, encoding)
                    if text is _UNSEEN:
                        return ()  # (a sequence under a field's tag: let the reader say)
                    if tag != SOP_INSTANCE:  # (one of a kind: not worth remembering)
                        _bounded(_FIELD_TEXTS, _CACHE_MAX_ENTRIES)
                        _FIELD_TEXTS[key] = text
                texts[tag] = text
        fields = [(keyword, texts[tag]) for tag, keyword in wanted.items()
                  if texts.get(tag) is not None]
        fields.append(("TransferSyntaxUID", str(tsyntax or "")))
        return tuple(fields)  # type: ignore[arg-type]

    def _field_text(self, tag: int, keyword: str, written: bytes, cs: Any,
                    encoding: Any) -> Any:
        """``str(value)`` of one written element read back (``None``: empty), or
        :data:`_UNSEEN` when it is not a plain element."""
        from gantry.dicom.values import CHARSET_VRS, UNDECODED, raw_value

        raw = read_back(written, encoding)
        if raw is None:
            return _UNSEEN
        value: Any = UNDECODED
        if raw.VR not in CHARSET_VRS:  # what value_of reads, without a dataset around it
            value = raw_value(self._plain(encoding), raw)
        if value is UNDECODED:
            mini = self._mini({tag: raw} if cs is None else {CHARSET: cs, tag: raw}, encoding)
            value = value_of(mini, tag, keyword)
        return None if value is None or value == "" else str(value)

    def _marker_elements(self, cs: Any, encoding: Any, identifiers: Any, context_key: Any,
                         dummies: tuple[str, ...]) -> tuple[list[tuple[int, bytes]], list[Any]]:
        """The marker elements as written, and their audit hits (once per context and list
        of attributes given dummies)."""
        key = (context_key, dummies)
        found = self._markers.get(key)
        if found is None:
            from gantry.deid.markers import set_markers

            mini = self._mini({} if cs is None else {CHARSET: cs}, encoding)
            set_markers(mini, self.run.profile, None, dummies)
            encodings = _encodings(mini)
            elements = [(int(t), element_bytes(int(t), mini._dict[t], encodings))
                        for t in sorted(mini._dict) if int(t) != CHARSET]
            hits: list[Any] = []
            if self.auditor is not None:
                for tag, _ in elements:
                    hits.extend((tag, h) for h in self._hits_of(tag, mini._dict[tag], cs,
                                                                encoding, identifiers))
            if len(self._markers) > 256:
                self._markers.clear()
            found = self._markers[key] = (elements, hits)
        return found


_FIELD_TAGS: dict[int, str] = {}
#: ``(encoding, written element) -> str(value)`` of the fields (``None``: empty).
_FIELD_TEXTS: dict[tuple[Any, bytes], str | None] = {}
_UNSEEN: Any = object()
_LAST_FIELD_TAG = 0x7FE00010  # lowered to the largest field tag on first use


def _field_tags() -> dict[int, str]:
    """``{tag: keyword}`` of the :data:`~gantry.records.EXPORT_FIELDS` of the data set, in
    the order of that list."""
    global _LAST_FIELD_TAG
    if not _FIELD_TAGS:
        from pydicom.datadict import tag_for_keyword

        from gantry.records import EXPORT_FIELDS

        for keyword in EXPORT_FIELDS:
            tag = tag_for_keyword(keyword)
            if tag is not None and tag >> 16 != 2:
                _FIELD_TAGS[int(tag)] = keyword
        _LAST_FIELD_TAG = max(_FIELD_TAGS)
    return _FIELD_TAGS


def _ui_bytes(tag: int, uid: Any) -> bytes | None:
    """A single-valued UI element as pydicom writes it (value padded with NUL to an even
    length); ``None`` when not that simple."""
    if not isinstance(uid, str) or not uid.isascii() or "\\" in uid:
        return None
    value = uid.encode("ascii")
    if len(value) & 1:
        value += b"\x00"
    if len(value) > 0xFFFF:
        return None
    return TAG.pack(tag >> 16, tag & 0xFFFF) + b"UI" + US.pack(len(value)) + value


def _own_hits(tag: int, mini: Any, identifiers: Any) -> list[Any]:
    """The auditor's text hits of ``mini`` that belong to its element ``tag`` (not to the
    character set element that may sit beside it)."""
    from gantry.deid.audit import text_hits

    own = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return [h for h in text_hits(mini, identifiers) if h[2] or h[0] == own]


def _encodings(ds: Any) -> Any:
    """``ds.get("SpecificCharacterSet", default_encoding)`` of a mini dataset (remembered
    per raw character set element while the dataset still holds it as read)."""
    from pydicom.charset import default_encoding

    held = ds._dict.get(CHARSET)
    if held is None:
        return default_encoding
    if type(held) is RawDataElement:
        found = _CHARSET_VALUES.get(held)
        if found is None:
            found = ds.get("SpecificCharacterSet")
            _bounded(_CHARSET_VALUES, 64)
            _CHARSET_VALUES[held] = found
        return found
    return ds.get("SpecificCharacterSet", default_encoding)


_CHARSET_VALUES: dict[Any, Any] = {}


def _header(span: ElementSpan) -> bytes:
    """A kept binary element's header as the encoder writes it."""
    tag = span.tag
    vr = span.vr
    head = TAG.pack(tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr in LONG_VRS:
        return head + b"\x00\x00" + UL.pack(span.length)
    return head + US.pack(span.length)


def _rebuilt(data: bytes, span: ElementSpan) -> bytes:
    """A kept binary element as the encoder writes it: its header rebuilt, its value as read."""
    head = _header(span)
    if span.start + len(head) == span.value and data[span.start:span.value] == head:
        return memoryview(data)[span.start:span.end]  # type: ignore[return-value]
    return head + data[span.value:span.end]


def _ob_hits(data: bytes, span: ElementSpan, identifiers: Any) -> list[Any]:
    """The auditor's hits on a kept raw OB value (it scans OB as Latin-1 text)."""
    if not len(identifiers):
        return []
    if span.tag == PIXEL_DATA and data[span.value:span.value + 4] != b"\xfe\xff\x00\xe0":
        return []  # native pixels: no text segments (bytes_text finds none), and no copy
    from gantry.deid.audit import bytes_text

    kinds = identifiers.find(bytes_text(span.tag, data[span.value:span.end], True))
    if not kinds:
        return []
    tag = span.tag
    return [(f"({tag >> 16:04X},{tag & 0xFFFF:04X})", keyword_of(tag), "", sorted(set(kinds)))]


_SKIP: dict[tuple[int, str], bool] = {}


_PASSES: dict[tuple[int, str], bool] = {}


def _passes_over(tag: int, vr: str) -> bool:
    """Whether the pass needs nothing from a raw element before the engine runs: not an
    identifier source, not one of the strings it reads, not a private creator."""
    key = (tag, vr)
    found = _PASSES.get(key)
    if found is None:
        found = _PASSES[key] = vr != "SQ" and vr != "UN" and _identifier_skip(tag, vr) and \
            tag not in _STRING_TAGS and \
            not (tag >> 16 & 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF)
    return found


def _identifier_skip(tag: int, vr: str) -> bool:
    """Whether the identifier collection skips a raw element of ``vr`` without decoding it."""
    key = (tag, vr)
    found = _SKIP.get(key)
    if found is None:
        from gantry.deid.identifiers import CODE_VALUE_KEYWORDS, IDENTIFYING_VRS, KINDS
        from gantry.deid.vr import TEXT_VRS

        keyword = keyword_of(tag)
        found = _SKIP[key] = (vr not in IDENTIFYING_VRS and keyword not in KINDS and
                              keyword not in CODE_VALUE_KEYWORDS and
                              not (tag >> 16 & 1 and vr in TEXT_VRS))
    return found


__all__ = ["AnnexEBytePass"]
