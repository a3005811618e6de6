"""Which images are *known* to carry burned-in text, and whether one may be released.

An image is known to carry burned-in text when

* its ``BurnedInAnnotation`` is ``YES``;
* a pixel auditor of the run reported text in its pixels (a ``burned-in-text`` finding: the
  code pixel auditors use, e.g. ``burned-in-ocr``); or
* ``BurnedInAnnotation`` is absent and its modality or SOP class is one that routinely
  carries burned-in text: ultrasound (``US``), X-ray angiography screens (``XA``),
  secondary capture and other captures (``SC``, ``OT``, the Secondary Capture SOP classes),
  ultrasound SOP classes.

A photograph showing the patient (RecognizableVisualFeatures YES, or absent on a VL or video
photographic image or an XC image: :func:`recognizable_features`) is released only when a
redactor carried out Clean Recognizable Visual Features, or under ``burned_in: allow``.

Pixels besides the image count too: an Icon Image Sequence kept (a profile override; Table
E.1-1 removes it) and overlay bitmaps kept under ``clean-graphics`` are released only under
``burned_in: allow`` (no pixel redactor inspects them).

``BurnedInAnnotation = NO`` is taken at its word. Such an image is released only when a pixel
redactor of the stack processed it (``clean-pixel-data`` in
``context.notes["performed_options"]``, or pixels modified) and none said it examined only
part of the pixels (``context.notes["pixels_unverified"]``), or when the profile says
``burned_in: allow`` (a site that reviewed its data): the markers then say so.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: Modalities whose images routinely carry burned-in text (when the tag is absent).
ROUTINE_MODALITIES = frozenset({"US", "XA", "SC", "OT"})
#: SOP classes whose images routinely carry burned-in text (when the tag is absent).
ROUTINE_SOP_CLASSES = frozenset({
    "1.2.840.10008.5.1.4.1.1.6.1",  # Ultrasound Image
    "1.2.840.10008.5.1.4.1.1.3.1",  # Ultrasound Multi-frame Image
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture Image
    "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",  # Multi-frame SC
    "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4",
})
#: The finding code pixel auditors report text in pixels with.
BURNED_IN_FINDING = "burned-in-text"
#: What the markers say when an image known to carry burned-in text is released as it is.
ALLOWED_NOTE = "burned-in text not removed (burned_in: allow)"


def _attr(instance: Any, keyword: str) -> str:
    attrs = getattr(instance, "attrs", None) or {}
    value = attrs.get(keyword)
    if isinstance(value, list | tuple):
        value = value[0] if value else ""
    return str(value or "").strip().upper()


def burned_in_reason(instance: Any, findings: Iterable[Any] = ()) -> str | None:
    """Why ``instance`` is known to carry burned-in text, or ``None`` (header attributes
    from its ingested key attributes; ``findings``: the run's audit of it)."""
    for finding in findings:
        if getattr(finding, "code", "") == BURNED_IN_FINDING:
            return f"a pixel auditor ({finding.component or 'unnamed'}) found text in the pixels"
    attrs = getattr(instance, "attrs", None) or {}
    if not attrs.get("Rows"):
        return None  # no image
    flag = _attr(instance, "BurnedInAnnotation")
    if flag == "YES":
        return "BurnedInAnnotation is YES"
    if flag:
        return None
    modality = _attr(instance, "Modality")
    if modality in ROUTINE_MODALITIES:
        return (f"{modality} images routinely carry burned-in text and BurnedInAnnotation "
                "is absent")
    if str(getattr(instance, "sop_class_uid", "")) in ROUTINE_SOP_CLASSES:
        return ("its SOP class (secondary capture or ultrasound) routinely carries burned-in "
                "text and BurnedInAnnotation is absent")
    return None


_ICON = 0x00880200
_GRAPHICS_RE: Any = None


def _graphics_patterns() -> tuple[Any, Any, Any, Any]:
    """The element headers of an Icon Image Sequence and of overlay data: explicit VR LE
    (SQ) or implicit VR LE (a 4-byte length) and explicit VR BE; overlay data (60xx,3000)
    as explicit VR LE (OB/OW, or a 4-byte length: implicit), whose group's low byte (00-1E)
    is checked before the match, and explicit VR BE. Each starts with a literal, which the
    regular expression engine searches fast (one pattern with a leading character class
    tried every byte of the header: 110 us a file)."""
    import re

    return (re.compile(rb"\x88\x00\x00\x02(?:SQ|\x00\x00|\xff\xff)"),
            re.compile(rb"\x00\x88\x02\x00SQ"),
            re.compile(rb"\x60\x00\x30(?=OB|OW|[\x00-\xff]{2}\x00\x00)"),
            re.compile(rb"\x60[\x00-\x1e]\x30\x00O[BW]"))


def kept_graphics(ds: Any = None, data: bytes | None = None) -> str | None:
    """Why the output keeps pixels nothing inspected besides the image itself — an Icon
    Image Sequence (a thumbnail of the image, burned-in text included) or overlay bitmaps
    (60xx,3000), kept under ``clean-graphics`` — or ``None``. From the redacted dataset
    ``ds``, or else from the encoded header ``data`` (the memoized pass hands no dataset)."""
    icon = overlay = False
    if ds is not None:
        for key in list(ds._dict):
            tag = int(key)
            if tag == _ICON:
                icon = True
            elif tag & 0xFF01FFFF == 0x60003000:
                overlay = True
    elif data:
        global _GRAPHICS_RE
        from gantry.deid.gate import dataset_body, pixel_span

        if _GRAPHICS_RE is None:
            _GRAPHICS_RE = _graphics_patterns()
        icon_le, icon_be, overlay_le, overlay_be = _GRAPHICS_RE
        body = dataset_body(data)
        span = pixel_span(body)
        end = span[0] if span else len(body)
        start = 132 if body[128:132] == b"DICM" else 0
        icon = bool(icon_le.search(body, start, end) or icon_be.search(body, start, end))
        overlay = bool(overlay_be.search(body, start, end)) or any(
            m.start() > start and body[m.start() - 1] <= 0x1E
            for m in overlay_le.finditer(body, start, end))
    if icon:
        return "an Icon Image Sequence (a thumbnail that may show burned-in text) is kept"
    if overlay:
        return "overlay bitmaps (60xx,3000) are kept (clean-graphics) and nothing inspected them"
    return None


#: SOP classes of photographs (VL Photographic Image, Video Photographic Image) and the
#: modality of external-camera photography: taken to show the patient recognizably when
#: RecognizableVisualFeatures (0028,0302) is absent.
PHOTO_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.77.1.4",
                               "1.2.840.10008.5.1.4.1.1.77.1.4.1"})
PHOTO_MODALITIES = frozenset({"XC"})
_RVF_RE: Any = None


def _recognizable_flag(ds: Any = None, data: bytes | None = None) -> str:
    """RecognizableVisualFeatures of the output (``YES``, ``NO`` or ``""``), from ``ds`` or,
    without one, from the header bytes of ``data`` (explicit or implicit VR LE, explicit BE)."""
    import re

    global _RVF_RE
    if ds is not None:
        return str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper()
    if not data:
        return ""
    from gantry.deid.gate import dataset_body, pixel_span

    if _RVF_RE is None:
        _RVF_RE = re.compile(rb"(?:\x28\x00\x02\x03(?:CS\x04\x00|\x04\x00\x00\x00)"
                             rb"|\x00\x28\x03\x02CS\x00\x04)(YES |NO  )")
    body = dataset_body(data)
    span = pixel_span(body)
    found = _RVF_RE.search(body, 0, span[0] if span else len(body))
    return found.group(1).decode("ascii").strip() if found else ""


def recognizable_features(instance: Any, context: Any, ds: Any = None,
                          data: bytes | None = None) -> str | None:
    """Why the output is known to show the patient recognizably (a face in a photograph) —
    RecognizableVisualFeatures YES, or absent on a photograph's SOP class or modality — when
    no redactor carried out Clean Recognizable Visual Features; else ``None``. Nothing in
    the pixels is looked at: a photograph stored as a plain secondary capture, without the
    attribute, is not recognised."""
    from gantry.deid.markers import performed_options

    if "clean-recognizable-visual-features" in performed_options(context):
        return None
    flag = _recognizable_flag(ds, data)
    if flag == "YES":
        return "RecognizableVisualFeatures is YES"
    if flag:
        return None
    if _attr(instance, "Modality") in PHOTO_MODALITIES or str(
            getattr(instance, "sop_class_uid", "")) in PHOTO_SOP_CLASSES:
        return ("it is a photograph (its SOP class or modality) and RecognizableVisualFeatures "
                "is absent")
    return None


def pixels_cleaned(context: Any) -> bool:
    """Whether a pixel redactor processed this instance (Clean Pixel Data carried out)."""
    from gantry.deid.markers import performed_options

    return "clean-pixel-data" in performed_options(context)


def unverified(context: Any) -> str | None:
    """Why a pixel redactor could not vouch for all of this instance's pixels (it examined
    only part of them: ``context.notes["pixels_unverified"]``), or ``None``. Clean Pixel Data
    then does not count as performed (:func:`gantry.deid.markers.performed_options`)."""
    notes = getattr(context, "notes", None) or {}
    reason = notes.get("pixels_unverified")
    return str(reason) if reason else None


def refusal(reason: str, context: Any = None) -> str:
    """The one-line refusal for an image known to carry burned-in text."""
    partial = unverified(context)
    if partial:
        return (f"refused: {reason}, and {partial}; read every frame (e.g. gantry-ocr "
                "max_frames: 0) or set burned_in: allow after reviewing the images")
    return (f"refused: {reason}, and no pixel redactor cleaned it; add options: "
            "[clean-pixel-data] with pixel-zones or burned-in-ocr in redact: (or set "
            "burned_in: allow after reviewing the images)")
