"""Match zone rules against an instance and blank their boxes: the ``pixel-zones`` redactor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry_pixels.settings import (
    PixelSettings,
    ZoneRule,
    pattern_matches,
    size_matches,
)

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import Change, InstanceContext, Run

COMPONENT = "pixel-zones"


def attribute_text(ds: Dataset, key: str) -> str | None:
    """The value of ``key`` (keyword, ``(gggg,eeee)`` or ``sop_class``) as text, or ``None``.

    Multi-valued attributes are joined with a backslash, as they are stored.
    """
    from pydicom.tag import Tag

    from gantry_pixels.settings import TAG_PATTERN

    if key == "sop_class":
        key = "SOPClassUID"
    m = TAG_PATTERN.match(key)
    try:
        tag = Tag(int(m.group(1), 16), int(m.group(2), 16)) if m else Tag(key)
    except Exception:
        return None
    elem = ds.get(tag)
    if elem is None:
        return None
    value = elem.value
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("latin-1", "replace")
    return str(value)


#: Attributes no PS3.15 action changes: read from the dataset in hand, whatever ran before.
STABLE_KEYS = frozenset({"size", "Rows", "Columns", "Modality", "Manufacturer",
                         "ManufacturerModelName", "SOPClassUID", "sop_class",
                         "PhotometricInterpretation", "BitsAllocated", "SamplesPerPixel"})


class HeaderView:
    """Reads match attributes from the *original* header when a redactor that ran earlier in
    the stack (``ps315-tags``) may have removed or changed them (DeviceSerialNumber,
    SeriesDescription...). The original header is re-read from the source once, lazily."""

    def __init__(self, ds: Dataset, context: InstanceContext | None = None) -> None:
        self.ds = ds
        self.context = context
        self._original: Dataset | None = None
        self._tried = False

    def original(self) -> Dataset | None:
        """The original header (no pixels), or ``None`` when it cannot be read again."""
        if self._tried:
            return self._original
        self._tried = True
        ctx = self.context
        instance = getattr(ctx, "instance", None)
        if instance is None:
            return None
        cached = ctx.notes.get("original_header") if hasattr(ctx, "notes") else None
        if cached is not None:
            self._original = cached
            return cached
        try:
            from pydicom import dcmread

            opener = ctx.run.hooks.ingestor_for(instance.source).open
            with opener(instance.source) as fh:
                self._original = dcmread(fh, force=True, stop_before_pixels=True)
            ctx.notes["original_header"] = self._original
        except Exception:
            self._original = None
        return self._original

    def text(self, key: str) -> str | None:
        """The attribute as text: original header first for keys a redactor may change."""
        if key not in STABLE_KEYS:
            original = self.original()
            if original is not None:
                return attribute_text(original, key)
        return attribute_text(self.ds, key)


def _one_matches(view: HeaderView | Dataset, key: str, pattern: str | list[str]) -> bool:
    if not isinstance(view, HeaderView):
        view = HeaderView(view)
    ds = view.ds
    patterns = pattern if isinstance(pattern, list) else [pattern]
    if key == "size":
        rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
        return any(size_matches(p, rows, cols) for p in patterns)
    value = view.text(key)
    if value is None:
        return False
    return any(pattern_matches(p, value.strip()) for p in patterns)


def rule_matches(rule: ZoneRule, ds: Dataset | HeaderView) -> bool:
    """Whether every ``match`` entry of ``rule`` and no ``exclude`` entry matches ``ds``."""
    view = ds if isinstance(ds, HeaderView) else HeaderView(ds)
    if not all(_one_matches(view, k, p) for k, p in rule.match.items()):
        return False
    return not any(_one_matches(view, k, p) for k, p in rule.exclude.items())


def matching_rules(settings: PixelSettings, ds: Dataset | HeaderView) -> list[ZoneRule]:
    """The zone rules that apply to ``ds`` (all of them, not only the first)."""
    view = ds if isinstance(ds, HeaderView) else HeaderView(ds)
    return [rule for rule in settings.zones if rule_matches(rule, view)]


def rule_label(rule: ZoneRule, index: int) -> str:
    """A rule's name, or ``zones[i]`` when it has none."""
    return rule.name or f"zones[{index}]"


def apply_pixel_edit(ds: Dataset, context: InstanceContext | None,
                     boxes: list[tuple[int, int, int, int, int]], *, component: str,
                     reason: str, burned_in_annotation: str | None = "NO") -> list[Change]:
    """Decode ``ds``, blank ``(frame, x, y, w, h)`` boxes, re-encode, update markers.

    Returns the changes (with the pixel sha256 before and after, never pixel content) and sets
    ``context.notes["pixels_modified"]``. Shared by every pixel redactor.
    """
    from gantry.api import Change
    from gantry_pixels import codec

    decoded = codec.decode(ds)
    before = decoded.sha256
    value = codec.black_value(ds, decoded)
    count = codec.blank_boxes(decoded, boxes, value)
    decoded.sha256 = after = codec.pixel_sha256(decoded.array)
    if after == before:
        return []
    written = codec.write_back(ds, decoded)
    markers = codec.mark_cleaned(ds, burned_in_annotation=burned_in_annotation)
    if context is not None:
        context.notes["pixels_modified"] = True
        context.notes.setdefault("pixel_boxes", []).extend(boxes)
    changes = [Change(
        action="pixels", tag="(7FE0,0010)", keyword="PixelData", component=component,
        detail=(f"{reason}; blanked {len(boxes)} box(es), {count} pixels; "
                f"sha256 before {before} after {after}; transfer syntax "
                f"{decoded.transfer_syntax} -> {written}"),
    )]
    changes += [Change(action="marker", keyword=k, component=component,
                       detail="updated after pixel cleaning") for k in markers]
    return changes


class ZoneRedactor:
    """Blanks the boxes of every matching zone rule on every frame."""

    def __init__(self, settings: PixelSettings) -> None:
        self.settings = settings

    def redact(self, dataset: Dataset, context: InstanceContext) -> list[Change]:
        """Blank matching zones; instances no rule matches are not decoded at all."""
        from gantry_pixels import codec

        if not codec.has_pixels(dataset) or not self.settings.zones:
            return []
        rows, cols = int(dataset.Rows), int(dataset.Columns)
        boxes: list[tuple[int, int, int, int, int]] = []
        names: list[str] = []
        view = HeaderView(dataset, context)
        for index, rule in enumerate(self.settings.zones):
            if not rule_matches(rule, view):
                continue
            names.append(rule_label(rule, index))
            boxes += [(-1, *box.to_pixels(rows, cols)) for box in rule.boxes]
        if not boxes:
            return []
        if context is not None:  # a matching rule's boxes are blank now (or were already)
            context.notes.setdefault("performed_options", set()).add("clean-pixel-data")
        keep = self.settings.burned_in_annotation == "keep"
        return apply_pixel_edit(
            dataset, context, boxes, component=COMPONENT,
            reason=f"zone rules {', '.join(names)}",
            burned_in_annotation=None if keep else "NO")


def make_redactor(run: Run | Any) -> ZoneRedactor:
    """Factory used by the ``pixel-zones`` record: reads ``gantry-pixels`` from the profile."""
    from gantry_pixels.settings import load_settings

    raw = run.settings("gantry-pixels") if hasattr(run, "settings") else {}
    return ZoneRedactor(load_settings(raw))
