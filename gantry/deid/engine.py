"""The de-identification engine: PS3.15 Annex E actions applied to one pydicom ``Dataset``.

One :class:`DeidEngine` per profile and run; its lookup tables are built once. ``apply`` walks
every element once, recursing into every sequence item at any depth (and the file meta), and
returns the :class:`~gantry.records.Change` list (never original values).

Sequence actions: ``X`` removes, ``Z`` empties, ``K``/``U`` keep the items and apply the table
inside them, ``D`` keeps the items in *dummy* mode (free text and non-standard codes inside are
replaced by dummies: the basic profile's treatment of e.g. the SR Content Sequence), ``C`` keeps
them in *clean* mode (free text, person names and non-standard codes inside are cleaned).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydicom.dataelem import DataElement

from gantry.deid.clean import Cleaner
from gantry.deid.dates import shift_da, shift_dt
from gantry.deid.iod import conformant_action, iod_of
from gantry.deid.rules import RuleSet, build_rules
from gantry.deid.uids import is_well_known, keeps_uid
from gantry.deid.vr import DATE_VRS, TEXT_VRS, dummy_value, fit
from gantry.dicom.encode import copy_dataset
from gantry.dicom.values import (
    RawDataElement,
    decoded,
    is_standard_tag,
    keyword_of,
    ui_text,
    verbatim,
)
from gantry.records import Change

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.context import InstanceContext, Run
    from gantry.deid.identifiers import IdentifierSet
    from gantry.profiles import Profile

COMPONENT = "ps315-tags"
NORMAL, DUMMY, CLEAN = "normal", "dummy", "clean"

_PATIENT_NAME = 0x00100010
_PATIENT_ID = 0x00100020
_SOP_INSTANCE_UID = 0x00080018
#: Structural attributes of SR content items and code sequences, kept in dummy/clean mode.
STRUCTURAL = frozenset({
    "ValueType", "RelationshipType", "ContinuityOfContent", "TemplateIdentifier",
    "MappingResource", "CodingSchemeDesignator", "CodingSchemeVersion", "ContextIdentifier",
    "ContextGroupExtensionFlag", "MappingResourceName", "ObservationUID",
    "MeasurementUnitsCodeSequence",
    "GraphicType", "RangingDepth", "TemporalRangeType", "ConceptNameCodeSequence",
    "SpecificCharacterSet", "ReferencedSOPClassUID", "ReferencedFrameNumber",
})
#: Coding schemes whose codes are public vocabulary, not local identifiers.
STANDARD_SCHEMES = frozenset({"DCM", "SCT", "SRT", "LN", "UCUM", "FMA", "RADLEX", "RXNORM",
                              "NCIT", "NCIt", "UMLS", "I10", "I9C", "ICD10", "SNM3", "99SDM",
                              "BI", "ACR", "MDC", "DC", "NEU", "ITIS_TSN", "MSH",
                              "HPC", "PUBCHEM_CID", "NICIP", "CPT4", "C4", "C5", "IBSI", "UBERON"})
#: Coded and address strings: scrubbed of strong identifiers (IDs, dates) when kept.
_CODED_VRS = frozenset({"CS", "AE", "UR"})
_CODE_KEYWORDS = frozenset({"CodeValue", "CodeMeaning", "LongCodeValue", "URNCodeValue"})


def standard_code_text(ds: Any, keyword: str) -> bool:
    """Whether ``keyword`` of item ``ds`` is a code value or meaning of a public coding
    scheme (:data:`STANDARD_SCHEMES`): the standard's vocabulary ("Long Axis", "Mass"),
    where a name, institution, address or device word is not identity, as in a coded string
    (only the strong kinds, IDs and dates, are scrubbed, found and refused there)."""
    return keyword in _CODE_KEYWORDS and \
        str(ds.get("CodingSchemeDesignator", "")) in STANDARD_SCHEMES
#: File meta attributes removed (they name the sending/receiving systems).
_META_REMOVE = frozenset({0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102})


_TAG_STR: dict[int, str] = {}
_CHANGES: dict[tuple[str, int, str, str, str], Change] = {}


def _tag_str(tag: int) -> str:
    found = _TAG_STR.get(tag)
    if found is None:
        found = _TAG_STR[tag] = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    return found




class Walk:
    """The state of one application to one instance."""

    __slots__ = (
        "_offset",
        "_pseudonym",
        "actions",
        "changes",
        "context",
        "engine",
        "identifiers",
        "iod",
        "mutate",
        "seq_path",
        "types",
    )

    def __init__(self, engine: DeidEngine, context: InstanceContext, iod: str | None,
                 identifiers: IdentifierSet | None) -> None:
        self.engine = engine
        self.context = context
        level = engine.rules.level(iod)
        self.iod = iod  # the instance's IOD (from its SOP Class UID); None: not known
        self.seq_path: tuple[str, ...] = ()  # keywords of the sequences walked into
        self.actions = level.actions  # the exact-tag actions at seq_path
        self.types = level.types  # the IOD's Types at seq_path (for the default actions)
        self.identifiers = identifiers
        self.changes: list[Change] = []
        self._offset: int | None = None
        self._pseudonym: Any = None

    def change(self, action: str, tag: int, keyword: str, path: str, detail: str = "") -> None:
        key = (action, tag, keyword, path, detail)
        found = _CHANGES.get(key)
        if found is None:  # Change is frozen: one object per distinct change, shared
            if len(_CHANGES) >= 100_000:
                _CHANGES.clear()
            found = _CHANGES[key] = Change(action=action, tag=_tag_str(tag), keyword=keyword,
                                           path=path, detail=detail, component=COMPONENT)
        self.changes.append(found)

    @property
    def offset(self) -> int:
        if self._offset is None:
            self._offset = int(self.context.run.date_offset(self.context.patient))
        return self._offset

    @property
    def pseudonym(self) -> Any:
        if self._pseudonym is None:
            self._pseudonym = self.context.run.pseudonym(self.context.patient)
        return self._pseudonym

    def map_uid(self, value: Any) -> Any:
        run = self.context.run
        if isinstance(value, str):
            return value if is_well_known(value) else run.map_uid(value.strip().rstrip("\x00"))
        return [v if is_well_known(v) else run.map_uid(str(v).strip().rstrip("\x00"))
                for v in value]


#: Binary attributes the table does not name that an image needs (kept under
#: ``unknown_attributes: remove``): pixel data, palettes and LUTs, the ICC profile.
_KEPT_BINARY = frozenset({
    "PixelData", "FloatPixelData", "DoubleFloatPixelData", "ICCProfile",
    "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "AlphaPaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "LUTData", "ExtendedOffsetTable",
    "ExtendedOffsetTableLengths", "FileMetaInformationVersion", "EncryptedContent",
    "SpectroscopyData", "WaveformData", "ChannelMinimumValue", "ChannelMaximumValue",
    "WaveformPaddingValue", "BitmapOfPrescanOptions",
})


class DeidEngine:
    """Applies a resolved :class:`~gantry.profiles.Profile` to datasets (PS3.15 Annex E)."""

    def __init__(self, profile: Profile, run: Run) -> None:
        self.profile = profile
        self.run = run
        self.rules: RuleSet = build_rules(profile)
        self.cleaner = Cleaner(profile.clean)
        options = frozenset(profile.options)
        self.options = options
        self.retain_uids = "retain-uids" in options
        self.modified_dates = "retain-longitudinal-modified-dates" in options
        self.full_dates = "retain-longitudinal-full-dates" in options
        self.remove_unknown = profile.unknown_attributes == "remove"
        self.has_masks = bool(self.rules.masks)
        #: top-level attributes whose values come from the profile's lookup tables (the
        #: patient's ID and name come from the pseudonym instead)
        self.lookups = {spec.tag: spec for spec in profile.lookup if not spec.patient_level}

    # ------------------------------------------------------------------ public
    def apply(self, ds: Dataset, context: InstanceContext) -> list[Change]:
        """De-identify ``ds`` in place (file meta included); return what changed."""
        identifiers = context.identifiers
        if identifiers is None:
            from gantry.deid.identifiers import collect_identifiers

            identifiers = collect_identifiers(ds, context.patient, profile=self.profile)
            context.identifiers = identifiers
        elif getattr(identifiers, "profile", None) != self.profile.name:
            # collected without this profile: drop what it keeps on purpose, so neither the
            # cleaner nor the export gate (which reads the context) fights the profile
            identifiers = identifiers.for_profile(self.profile, ds)
            context.identifiers = identifiers
        original = None
        if self.profile.reversible.recipient_certificate:
            original = header_copy(ds, keep_pixels=False)
        walk = Walk(self, context, iod_of(str(ds.get("SOPClassUID", "") or "")), identifiers)
        creators = private_creators(ds)
        context.notes["private_creators"] = creators  # the auditor reports unknown ones
        self._dataset(walk, ds, "", NORMAL,
                      {(group, element): creator for group, element, creator in creators})
        _drop_orphan_overlays(walk, ds)
        preamble = getattr(ds, "preamble", None)
        if preamble and preamble.strip(b"\x00"):
            ds.preamble = b"\x00" * 128  # a preamble may hold anything (TIFF tags, text)
            walk.change("Z", 0, "preamble", "", "file preamble zeroed")
        meta = getattr(ds, "file_meta", None)
        if meta is not None:
            self.meta(walk, ds, meta)
        from gantry.deid.markers import set_markers

        set_markers(ds, self.profile, walk)
        if original is not None:
            from gantry.deid.reversible import add_encrypted_attributes

            add_encrypted_attributes(ds, original, self.profile.reversible, walk)
        return walk.changes

    def plan(self, ds: Dataset, context: InstanceContext) -> list[Change]:
        """The changes :meth:`apply` would make, computed on a copy (``ds`` is not modified)."""
        from gantry.context import InstanceContext as Ctx

        clone = header_copy(ds)
        ctx = Ctx(instance=context.instance, run=context.run, patient=context.patient,
                  identifiers=context.identifiers, notes=dict(context.notes))
        return self.apply(clone, ctx)

    # ------------------------------------------------------------------ walking
    def _dataset(self, walk: Walk, ds: Dataset, path: str, mode: str,
                 private_blocks: dict[tuple[int, int], str] | None = None) -> None:
        kept_blocks: set[tuple[int, int]] = set()
        creators: list[int] = []
        actions = walk.actions
        has_masks = self.has_masks
        elements = ds._dict
        for key in sorted(elements):  # the order of ``for elem in ds``
            tag = int(key)  # plain int: BaseTag compares in Python in every dict lookup
            group = tag >> 16
            if group & 1:
                element = tag & 0xFFFF
                if 0x0010 <= element <= 0x00FF:
                    creators.append(tag)
                    continue
                if element < 0x0010:  # group length or illegal
                    del elements[key]
                    continue
                if private_blocks is None:
                    private_blocks = _creators(ds)
                block = (group, element >> 8)
                creator = private_blocks.get(block)
                action = self.rules.private_action(creator, group, element & 0xFF)
                if action == "X":
                    del elements[key]
                    walk.change("X", tag, "", path, "private")
                    continue
                kept_blocks.add(block)
                self._element(walk, ds, ds[key], tag, action, path, mode, "")
                continue
            if tag & 0xFFFF == 0 and group != 0x0002:
                del elements[key]  # group lengths are obsolete and would be wrong
                continue
            action = actions.get(tag)
            if action is None and has_masks:
                action = self.rules.mask_action(tag)
            keyword = keyword_of(tag)
            if not path and tag in self.lookups:  # before any action: the table decides
                self._lookup(walk, ds[key], tag, keyword, path)
                continue
            if action == "X":
                del elements[key]
                walk.change("X", tag, keyword, path)
                continue
            raw = elements[key]
            if action is None and self.drops_unknown(tag, raw.VR):
                del elements[key]  # nothing says what it holds
                walk.change("X", tag, keyword, path)
                continue
            if type(raw) is RawDataElement:
                if (action is None or action == "K") and verbatim(raw):
                    continue  # a number or bytes kept as read: nothing to decode or rewrite
                if self._raw(walk, ds, raw, tag, action, path, mode, keyword):
                    continue
            self._element(walk, ds, ds[key], tag, action, path, mode, keyword)
        for tag in creators:
            if (tag >> 16, tag & 0xFF) not in kept_blocks:
                del ds[tag]

    def drops_unknown(self, tag: int, vr: str | None) -> bool:
        """Whether a public attribute the table (and the profile) does not name is removed
        whatever its VR: a tag the standard does not define (not in the data dictionary: it is
        neither a standard attribute nor a private one, and nothing says what it holds), and,
        under ``unknown_attributes: remove``, an OB/OW value an image does not need
        (:data:`_KEPT_BINARY`), which may hold any text."""
        if tag >> 16 & 1:
            return False
        if not is_standard_tag(tag):
            return True
        return self.remove_unknown and vr in ("OB", "OW") and keyword_of(tag) not in _KEPT_BINARY

    def _raw(self, walk: Walk, ds: Dataset, raw: Any, tag: int, action: str | None,
             path: str, mode: str, keyword: str) -> bool:
        """Handle a still-raw element without decoding it into ``ds`` where that is provably
        the same: removed, or kept (scrubbed text unchanged) and written back byte for byte
        (see :func:`gantry.dicom.values.decoded`). ``False``: decode it and use :meth:`_element`.
        """
        vr = raw.VR
        if vr is None or vr == "UN" or vr == "SQ":
            return False
        if action is None:
            action = self._defaulted(walk, ds, vr, keyword, mode)
            if action == "X":
                del ds[tag]
                walk.change("X", tag, keyword, path)
                return True
        if vr == "UI" and action in ("U", "D", "C"):
            if not self.retain_uids:  # (under Retain UIDs these keep the UID)
                text = ui_text(raw)
                if not text:
                    return False
                new = walk.map_uid(text)
                if action != "U" or new != text:  # D and C assign even an unchanged UID
                    ds[tag] = DataElement(tag, "UI", new)
                    walk.change("U", tag, keyword, path)
                    return True
            action = "K"
        if action is not None and action != "K":
            return False
        found = decoded(ds, raw)
        if found is None or not found[1]:
            return False
        value = found[0]
        if action == "K" and value and (vr in TEXT_VRS or vr in _CODED_VRS):
            func = self._scrub_func(walk, vr, standard_code_text(ds, keyword))
            if func is not None:
                new = _rewritten(vr, value, func)
                if new is not None:
                    ds[tag].value = new
                    walk.change("C", tag, keyword, path, "scrub")
        return True

    def _element(self, walk: Walk, ds: Dataset, elem: DataElement, tag: int,
                 action: str | None, path: str, mode: str, keyword: str) -> None:
        vr = elem.VR
        if action is None:
            action = self._defaulted(walk, ds, vr, keyword, mode)
            if action is None:
                return
        if action == "X":
            del ds[tag]
            walk.change("X", tag, keyword, path)
            return
        if vr == "SQ":
            self._sequence(walk, ds, elem, tag, action, path, mode, keyword)
            return
        value = elem.value
        if action == "K":
            if value and (vr in TEXT_VRS or vr in _CODED_VRS):
                self._scrub(walk, elem, tag, keyword, path, standard_code_text(ds, keyword))
            return
        if action == "Z":
            if tag in (_PATIENT_NAME, _PATIENT_ID) and not path:
                self._pseudonymize(walk, elem, tag, keyword, path)
                return
            if value is None or value == "":
                return
            elem.value = "" if vr in TEXT_VRS or vr in ("CS", "DA", "DT", "TM", "AS", "AE",
                                                         "UI", "UR", "DS", "IS") else None
            walk.change("Z", tag, keyword, path)
            return
        if action == "D":
            if tag in (_PATIENT_NAME, _PATIENT_ID) and not path:
                self._pseudonymize(walk, elem, tag, keyword, path)
                return
            override = self.rules.values.get(tag)
            if vr == "UI":
                if value and not self.retain_uids:
                    elem.value = walk.map_uid(value)
                    walk.change("U", tag, keyword, path)
                return
            elem.value = override if override is not None else dummy_value(vr, keyword)
            walk.change("D", tag, keyword, path)
            return
        if action == "U":
            if vr == "UI" and value and not self.retain_uids:
                new = walk.map_uid(value)
                if new != value:
                    elem.value = new
                    walk.change("U", tag, keyword, path)
            return
        if action == "C":
            self._clean(walk, elem, tag, keyword, path, vr)
            return
        raise ValueError(f"unresolved action {action!r} for {_tag_str(tag)}")

    def _defaulted(self, walk: Walk, ds: Dataset, vr: str, keyword: str,
                   mode: str) -> str | None:
        """The default action (:meth:`_default_action`) made conformant to the IOD: a date the
        table does not name that is Type 1 here gets a dummy instead of being removed."""
        action = self._default_action(ds, vr, keyword, mode)
        if action == "X" or action == "Z":
            kind = walk.types.get(keyword)
            if kind is not None:
                return conformant_action(action, kind)
        return action

    def _default_action(self, ds: Dataset, vr: str, keyword: str, mode: str) -> str | None:
        """The action for an attribute the table does not name (``None``: nothing to do)."""
        if vr == "UI":
            return None if keeps_uid(keyword) or self.retain_uids else "U"
        if vr in DATE_VRS:
            if self.modified_dates:
                return "C"
            return "K" if self.full_dates or vr == "TM" else "X"
        if vr == "SQ":
            return "K"
        if mode != NORMAL and (vr in TEXT_VRS or keyword in _CODE_KEYWORDS):
            if mode == DUMMY and keyword == "CodingSchemeDesignator" and \
                    str(ds.get(keyword, "")) not in STANDARD_SCHEMES:
                return "D"  # a local code's scheme may name the site: a dummy code instead
            if keyword in STRUCTURAL:
                return None
            if keyword in _CODE_KEYWORDS and \
                    str(ds.get("CodingSchemeDesignator", "")) in STANDARD_SCHEMES:
                return "K"
            return "D" if mode == DUMMY else "C"
        if vr in TEXT_VRS or vr == "UN":
            return "X" if self.remove_unknown else "K"
        return "K" if vr in _CODED_VRS else None

    def _sequence(self, walk: Walk, ds: Dataset, elem: DataElement, tag: int, action: str,
                  path: str, mode: str, keyword: str) -> None:
        if action == "Z":
            if elem.value:
                elem.value = []
                walk.change("Z", tag, keyword, path)
            return
        inner = {"D": DUMMY, "C": CLEAN}.get(action, mode)
        if action in ("D", "C") and elem.value:
            walk.change(action, tag, keyword, path, "items processed")
        name = keyword or _tag_str(tag)
        items = elem.value
        if not items:
            return
        outer = walk.seq_path, walk.actions, walk.types
        walk.seq_path = inner_path = (*outer[0], name)
        level = self.rules.level(walk.iod, inner_path)
        walk.actions, walk.types = level.actions, level.types
        try:
            for i, item in enumerate(items):
                self._dataset(walk, item, f"{path}{name}[{i}].", inner)
        finally:
            walk.seq_path, walk.actions, walk.types = outer

    def _lookup(self, walk: Walk, elem: DataElement, tag: int, keyword: str,
                path: str) -> None:
        """Replace a value by its lookup table's (or its keyed stand-in, ``missing: keyed``)."""
        from gantry.lookup import lookup_value

        old = str(elem.value or "").strip()
        if not old:
            return
        new = lookup_value(walk.context.run, self.lookups[tag], old)
        if str(elem.value) != new:
            elem.value = new
            walk.change("D", tag, keyword, path, "lookup")

    def _pseudonymize(self, walk: Walk, elem: DataElement, tag: int, keyword: str,
                      path: str) -> None:
        pseudonym = walk.pseudonym
        new = pseudonym.patient_name if tag == _PATIENT_NAME else pseudonym.patient_id
        if str(elem.value or "") != new:
            elem.value = new
            walk.change("D", tag, keyword, path, "pseudonym")

    def _scrub(self, walk: Walk, elem: DataElement, tag: int, keyword: str, path: str,
               vocabulary: bool = False) -> None:
        func = self._scrub_func(walk, elem.VR, vocabulary)
        if func is not None:
            self._rewrite(walk, elem, tag, keyword, path, "scrub", func)

    def _scrub_func(self, walk: Walk, vr: str, vocabulary: bool = False) -> Any:
        """The scrub of kept text of ``vr`` (``None``: no identifiers, nothing to scrub);
        ``vocabulary``: a standard code's text (:func:`standard_code_text`)."""
        identifiers = walk.identifiers
        if identifiers is None or not len(identifiers):
            return None
        if vr in _CODED_VRS:
            return lambda text: self.cleaner.scrub(text, identifiers, coded=True,
                                                   replacement="REMOVED")
        if vocabulary:
            return lambda text: self.cleaner.scrub(text, identifiers, coded=True)
        return lambda text: self.cleaner.scrub(text, identifiers)

    def _clean(self, walk: Walk, elem: DataElement, tag: int, keyword: str, path: str,
               vr: str) -> None:
        value = elem.value
        if value is None or value == "":
            return
        if vr == "DA" or vr == "DT":
            if self.full_dates:
                return
            shift = shift_da if vr == "DA" else shift_dt
            if isinstance(value, str):
                new: Any = shift(value, walk.offset)
            else:
                new = [shift(str(v), walk.offset) for v in value]
            elem.value = new
            walk.change("C", tag, keyword, path, "date shifted")
            return
        if vr == "TM":
            return  # a whole-day shift leaves times of day unchanged
        if vr == "UI":
            if not self.retain_uids:
                elem.value = walk.map_uid(value)
                walk.change("U", tag, keyword, path)
            return
        if vr == "PN":
            text = str(value)
            if (walk.identifiers is not None and walk.identifiers.find(text)) or \
                    self.cleaner.clean(text, None) != text:
                elem.value = dummy_value("PN")
                walk.change("C", tag, keyword, path, "name replaced")
            return
        if vr in TEXT_VRS or vr in ("CS", "AE", "UR"):
            self._rewrite(walk, elem, tag, keyword, path, "clean",
                          lambda text: self.cleaner.clean(text, walk.identifiers))

    def _rewrite(self, walk: Walk, elem: DataElement, tag: int, keyword: str, path: str,
                 detail: str, func: Any) -> None:
        new = _rewritten(elem.VR, elem.value, func)
        if new is not None:
            elem.value = new
            walk.change("C", tag, keyword, path, detail)

    def meta(self, walk: Walk, ds: Dataset, meta: Dataset) -> None:
        """Apply the profile to the file meta group ``meta`` of ``ds`` (recorded in ``walk``)."""
        for tag in list(meta.keys()):
            tag = int(tag)
            if tag in _META_REMOVE:
                del meta[tag]
                walk.change("X", tag, "", "file_meta.")
        # the de-identified file is written by Gantry: name its implementation, not the original
        from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

        from gantry import __version__

        meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
        meta.ImplementationVersionName = f"GANTRY_{__version__}"[:16]
        if "SOPInstanceUID" in ds and "MediaStorageSOPInstanceUID" in meta:
            new = str(ds.SOPInstanceUID)
            if str(meta.MediaStorageSOPInstanceUID) != new:
                meta.MediaStorageSOPInstanceUID = new
                walk.change("U", 0x00020003, "MediaStorageSOPInstanceUID", "file_meta.")
        elif "MediaStorageSOPInstanceUID" in meta and not self.retain_uids:
            meta.MediaStorageSOPInstanceUID = walk.map_uid(str(meta.MediaStorageSOPInstanceUID))
            walk.change("U", 0x00020003, "MediaStorageSOPInstanceUID", "file_meta.")


def _rewritten(vr: str, value: Any, func: Any) -> Any:
    """``func`` applied to each text value (fitted to ``vr``); ``None`` when nothing changes."""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if isinstance(value, str):
        new: Any = fit(vr, func(value))
        return new if new != value else None
    try:
        items = [str(v) for v in value]
    except TypeError:
        return None
    new = [fit(vr, func(v)) for v in items]
    return new if new != items else None


def orphan_overlay_groups(changes: list[Any], tags: Any) -> set[int]:
    """The overlay groups (60xx) to remove whole: those whose Overlay Data was removed
    (``changes``), and the overlay groups among the top-level ``tags`` written with no
    Overlay Data at all. An overlay plane without its bitmap is invalid, and its other
    attributes (a description, a label) describe nothing."""
    removed = {int(c.tag[1:5], 16) for c in changes
               if c.action == "X" and not c.path and c.tag.endswith(",3000)")
               and c.tag.startswith("(60")}
    groups = {int(t) >> 16 for t in tags if 0x6000 <= int(t) >> 16 <= 0x601E
              and not int(t) >> 16 & 1}
    if groups:
        have = {int(t) >> 16 for t in tags if int(t) & 0xFFFF == 0x3000}
        removed |= groups - have
    return removed


def _drop_orphan_overlays(walk: Walk, ds: Dataset) -> None:
    """Remove the rest of an overlay group whose Overlay Data was removed or was never there
    (:func:`orphan_overlay_groups`)."""
    removed = orphan_overlay_groups(walk.changes, list(ds.keys()))
    if not removed:
        return
    for tag in list(ds.keys()):
        if tag >> 16 in removed:
            del ds[tag]
            walk.change("X", int(tag), "", "", "overlay without data")


def creator_text(value: Any) -> str:
    """A private creator's value as the engine compares it (text, padding stripped)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    return str(value or "").strip().rstrip("\x00").strip()


def _creators(ds: Dataset) -> dict[tuple[int, int], str]:
    """Private creator of each ``(group, block)`` present in ``ds``."""
    return {(group, element): creator for group, element, creator in private_creators(ds)}


def private_creators(ds: Dataset) -> list[tuple[int, int, str]]:
    """``(group, element, creator)`` of every private creator element of ``ds`` (top level)."""
    out = []
    for tag in ds._dict:
        group, element = tag >> 16, tag & 0xFFFF
        if group & 1 and 0x0010 <= element <= 0x00FF:
            out.append((group, element, creator_text(ds[tag].value)))
    return out


def header_copy(ds: Dataset, keep_pixels: bool = True) -> Dataset:
    """A copy of ``ds`` (file meta and sequence items too) that the engine may modify without
    touching ``ds``: datasets and elements are new objects, values are shared (the engine
    replaces values, it never mutates them in place; unread elements are immutable tuples).
    Pixel data is shared, never copied; dropped unless ``keep_pixels``."""
    clone = copy_dataset(ds)
    meta = ds.__dict__.get("file_meta")
    if meta is not None:
        clone.__dict__["file_meta"] = copy_dataset(meta)
    if not keep_pixels:
        for tag in _PIXEL_TAGS:
            clone.__dict__["_dict"].pop(tag, None)
    return clone


_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)
