"""De-identification markers: PatientIdentityRemoved, DeidentificationMethod(+CodeSequence),
LongitudinalTemporalInformationModified."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.deid.rules import cid7050

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.profiles import Profile


#: Options the tag engine never carries out itself: their codes are written only for the
#: instances a component processed (``context.notes["performed_options"]``; a pixel redactor
#: that changed the pixels counts as having cleaned them).
INSTANCE_OPTIONS = ("clean-pixel-data", "clean-recognizable-visual-features")


def method_codes(profile: Profile) -> list[tuple[str, str, str]]:
    """CID 7050 ``(code value, scheme, meaning)`` of the basic profile and the active options
    the tag engine carries out on every instance (not :data:`INSTANCE_OPTIONS`)."""
    codes = cid7050()
    out = [(codes["basic"][0], "DCM", codes["basic"][1])]
    for option in profile.options:
        if option in codes and option not in INSTANCE_OPTIONS:
            out.append((codes[option][0], "DCM", codes[option][1]))
    return out


def performed_options(context: Any) -> list[str]:
    """The per-instance options (:data:`INSTANCE_OPTIONS`) carried out on this instance.

    A pixel redactor that could not examine all of the pixels (e.g. OCR reading a sample of
    the frames) says so in ``context.notes["pixels_unverified"]`` (why, one line): Clean
    Pixel Data then does not count as carried out, whatever else cleaned the pixels."""
    if context is None:
        return []
    notes = getattr(context, "notes", {}) or {}
    done = set(notes.get("performed_options", ()))
    if notes.get("pixels_modified"):
        done.add("clean-pixel-data")
    if notes.get("pixels_unverified"):
        done.discard("clean-pixel-data")
    return [option for option in INSTANCE_OPTIONS if option in done]


def add_performed_codes(ds: Dataset, context: Any) -> list[str]:
    """Add the codes of per-instance options performed after the markers were written (a
    pixel redactor after the tag engine); returns the codes added. Only where markers exist."""
    from pydicom.dataset import Dataset as Item
    from pydicom.sequence import Sequence

    seq = ds.get("DeidentificationMethodCodeSequence")
    if seq is None:
        return []
    codes = cid7050()
    present = {str(item.get("CodeValue", "")) for item in seq}
    added = []
    items = list(seq)
    for option in performed_options(context):
        value, meaning = codes[option][0], codes[option][1]
        if value in present:
            continue
        item = Item()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
        added.append(value)
    if added:
        ds.DeidentificationMethodCodeSequence = Sequence(items)
    return added


def longitudinal_state(profile: Profile) -> str:
    """``MODIFIED`` (dates shifted), ``UNMODIFIED`` (full dates kept) or ``REMOVED``."""
    if profile.has("retain-longitudinal-modified-dates"):
        return "MODIFIED"
    if profile.has("retain-longitudinal-full-dates"):
        return "UNMODIFIED"
    return "REMOVED"


MARKER_TAGS = (("PatientIdentityRemoved", 0x00120062),
                ("DeidentificationMethod", 0x00120063),
                ("DeidentificationMethodCodeSequence", 0x00120064),
                ("LongitudinalTemporalInformationModified", 0x00280303))
#: Per profile (name, edition, options): the marker values and the code items, built once.
_TEMPLATES: dict[tuple[Any, ...], tuple[list[tuple[int, str, Any]], list[Any]]] = {}


def _template(profile: Profile) -> tuple[list[tuple[int, str, Any]], list[Any]]:
    from pydicom.datadict import dictionary_VR
    from pydicom.dataset import Dataset as Item

    from gantry import __version__

    key = (profile.name, profile.edition, tuple(profile.options), __version__)
    found = _TEMPLATES.get(key)
    if found is None:
        values = {
            0x00120062: "YES",
            0x00120063: [f"Gantry {__version__}", f"PS3.15 Annex E {profile.edition}",
                         f"profile {profile.name}"[:64]],
            0x00280303: longitudinal_state(profile),
        }
        items = []
        for value, scheme, meaning in method_codes(profile):
            item = Item()
            item.CodeValue = value
            item.CodingSchemeDesignator = scheme
            item.CodeMeaning = meaning
            items.append(item)
        found = ([(tag, dictionary_VR(tag), values[tag]) for _, tag in MARKER_TAGS
                  if tag in values], items)
        if len(_TEMPLATES) > 64:
            _TEMPLATES.clear()
        _TEMPLATES[key] = found
    return found


#: Change details of a ``D`` that wrote no dummy value (a pseudonym, items kept in dummy mode).
_NOT_DUMMIES = frozenset({"pseudonym", "items processed"})
_DUMMY_PREFIX = "dummy values:"


def dummied_attributes(changes: Any) -> tuple[str, ...]:
    """Tags (``ggggeeee``) of the attributes given a dummy value, sorted, each once. Tags,
    not keywords: a keyword is made of words a name may hold (``VerifyingObserverName`` holds
    the observer ``Verifying^Observer``), and the export gate would rightly refuse it."""
    found = {change.tag[1:5] + change.tag[6:10] for change in changes
             if change.action == "D" and change.detail not in _NOT_DUMMIES
             and len(change.tag) == 11}
    return tuple(sorted(found))


def dummy_values_text(names: tuple[str, ...]) -> list[str]:
    """``names`` as De-identification Method values: ``dummy values: A B ...``, each value at
    most 64 characters (LO)."""
    out: list[str] = []
    line = _DUMMY_PREFIX
    for name in names:
        if len(line) + 1 + len(name) > 64 and line != _DUMMY_PREFIX:
            out.append(line)
            line = _DUMMY_PREFIX
        line = f"{line} {name}"[:64]
    if line != _DUMMY_PREFIX:
        out.append(line)
    return out


def set_markers(ds: Dataset, profile: Profile, walk: Any = None,
                dummies: tuple[str, ...] | None = None) -> None:
    """Write the de-identification markers into ``ds`` (replacing any already there).

    De-identification Method names Gantry, the edition and the profile, then lists the
    attributes given dummy values (``dummies``; by default those of ``walk.changes``, see
    :func:`dummied_attributes`): ``dummy values: 00080021 00080031``.

    The codes of per-instance options (:data:`INSTANCE_OPTIONS`) are listed only when a
    component already carried them out on this instance (``walk.context``: a pixel redactor
    before the tag engine), whatever the profile says.

    Markers absent from ``ds`` (the usual case) are added as the elements ``ds.Keyword = value``
    would create, from values and code items built once per profile; a marker already present
    is set by keyword, exactly as before."""
    from pydicom.dataelem import DataElement
    from pydicom.sequence import Sequence

    from gantry.dicom.encode import copy_dataset

    elements, items = _template(profile)
    if dummies is None:
        dummies = dummied_attributes(walk.changes) if walk is not None else ()
    if dummies:
        extra = dummy_values_text(dummies)
        elements = [(tag, vr, [*value, *extra] if tag == 0x00120063 else value)
                    for tag, vr, value in elements]
    for option in performed_options(getattr(walk, "context", None)):
        code = cid7050()[option]
        if all(str(item.CodeValue) != code[0] for item in items):
            from pydicom.dataset import Dataset as Item

            item = Item()
            item.CodeValue = code[0]
            item.CodingSchemeDesignator = "DCM"
            item.CodeMeaning = code[1]
            items = [*items, item]  # a pixel redactor ran before the tag engine
    for tag, vr, value in elements:
        if tag == 0x00280303:
            continue  # after the code sequence, as the keyword assignments did
        _set(ds, tag, vr, list(value) if isinstance(value, list) else value, DataElement)
    _set(ds, 0x00120064, "SQ", Sequence([copy_dataset(item) for item in items]), DataElement)
    for tag, vr, value in elements:
        if tag == 0x00280303:
            _set(ds, tag, vr, value, DataElement)
    if walk is not None:
        for keyword, tag in MARKER_TAGS:
            walk.change("marker", tag, keyword, "")


def _set(ds: Dataset, tag: int, vr: str, value: Any, element: Any) -> None:
    if tag in ds._dict:
        from pydicom.datadict import keyword_for_tag

        setattr(ds, keyword_for_tag(tag), value)
    else:
        ds[tag] = element(tag, vr, value)
