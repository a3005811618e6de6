"""Propose zone rules from OCR: cluster text boxes per device across many instances.

A *device* is Manufacturer + ManufacturerModelName + Rows x Columns. For each instance, OCR
reads a few frames and merges words into line boxes; boxes of one device that overlap (after
growing them by ``join`` pixels) form a cluster. A cluster seen in at least ``min_share`` of the
device's instances becomes a proposed box (the union of its members plus ``padding``). The
output is YAML for ``plugins: {gantry-pixels: {zones: ...}}`` with comments saying how often
each box was seen and whether it held identifying text, for a person to review.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1


@dataclass(frozen=True)
class DeviceKey:
    """Manufacturer, model and image size of an instance."""

    manufacturer: str
    model: str
    rows: int
    columns: int

    @property
    def label(self) -> str:
        """``Manufacturer / Model / RxC`` for comments."""
        return f"{self.manufacturer or '?'} / {self.model or '?'} / {self.rows}x{self.columns}"


@dataclass
class Sighting:
    """Line boxes read on one instance (no text kept, only whether it identified)."""

    device: DeviceKey
    boxes: list[tuple[Rect, bool]] = field(default_factory=list)


@dataclass
class Cluster:
    """Overlapping boxes of one device across instances."""

    rect: Rect
    instances: set[int] = field(default_factory=set)
    identifying: set[int] = field(default_factory=set)


def device_of(ds: Dataset) -> DeviceKey:
    """The device key of a dataset."""
    return DeviceKey(str(ds.get("Manufacturer", "") or "").strip(),
                     str(ds.get("ManufacturerModelName", "") or "").strip(),
                     int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0))


def sight(ds: Dataset, *, settings: Any, max_frames: int = 3) -> Sighting | None:
    """OCR one instance and return its line boxes, or ``None`` when it has no usable pixels."""
    from gantry_pixels.api import PixelCodecError, decode

    from gantry_ocr.components import OcrAuditor, eligible, group_lines, identifiers_for, run_box
    from gantry_ocr.engine import sample_frames

    if not eligible(ds, settings):
        return None
    try:
        decoded = decode(ds)
    except PixelCodecError:
        return None
    frames = sample_frames(decoded.frames, max_frames)
    reader = OcrAuditor(settings)
    words, verdicts = reader.classify(reader.read(ds, decoded, frames),
                                      identifiers_for(ds, None))
    out = Sighting(device_of(ds))
    for run in group_lines(words, list(range(len(words)))):
        x, y, w, h = run_box(words, run)
        out.boxes.append(((x, y, x + w, y + h), any(verdicts[i].identifying for i in run)))
    return out


def _overlap(a: Rect, b: Rect, join: int) -> bool:
    return not (a[2] + join < b[0] or b[2] + join < a[0] or a[3] + join < b[1]
                or b[3] + join < a[1])


def cluster(sightings: list[Sighting], *, join: int = 6) -> dict[DeviceKey, tuple[int,
                                                                                 list[Cluster]]]:
    """Cluster line boxes per device; returns ``{device: (instance count, clusters)}``."""
    by_device: dict[DeviceKey, list[Sighting]] = {}
    for s in sightings:
        by_device.setdefault(s.device, []).append(s)
    out: dict[DeviceKey, tuple[int, list[Cluster]]] = {}
    for device, group in by_device.items():
        clusters: list[Cluster] = []
        for n, s in enumerate(group):
            for rect, identifying in s.boxes:
                hits = [c for c in clusters if _overlap(c.rect, rect, join)]
                merged = Cluster(rect, {n}, {n} if identifying else set())
                for c in hits:
                    clusters.remove(c)
                    merged.rect = (min(merged.rect[0], c.rect[0]), min(merged.rect[1], c.rect[1]),
                                   max(merged.rect[2], c.rect[2]), max(merged.rect[3], c.rect[3]))
                    merged.instances |= c.instances
                    merged.identifying |= c.identifying
                clusters.append(merged)
        out[device] = (len(group), sorted(clusters, key=lambda c: (c.rect[1], c.rect[0])))
    return out


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:24].strip("-") or "unknown"


def _glob_exact(value: str) -> str:
    import re

    return re.sub(r"([\[\]*?])", lambda m: "[]]" if m.group(1) == "]" else f"[{m.group(1)}]",
                  value)


def propose_yaml(clustered: dict[DeviceKey, tuple[int, list[Cluster]]], *,
                 min_share: float = 0.5, padding: int = 4) -> str:
    """YAML zone rules for clusters seen in at least ``min_share`` of a device's instances."""
    import yaml

    lines = ["# Zone rules proposed by `gantry ocr discover` from burned-in text found by OCR.",
             "# Review each box on sample images, then paste the rules into your profile.",
             "plugins:", "  gantry-pixels:", "    zones:"]
    written = 0
    for device in sorted(clustered, key=lambda d: d.label):
        count, clusters = clustered[device]
        keep = [c for c in clusters if len(c.instances) / count >= min_share]
        lines.append(f"    # {device.label}: {count} instance(s), {len(clusters)} text "
                     f"area(s), {len(keep)} seen in >= {min_share:.0%} of instances")
        if not keep:
            continue
        boxes = []
        comments = []
        for c in keep:
            x0, y0 = max(0, c.rect[0] - padding), max(0, c.rect[1] - padding)
            x1 = min(device.columns, c.rect[2] + padding)
            y1 = min(device.rows, c.rect[3] + padding)
            boxes.append([x0, y0, x1 - x0, y1 - y0])
            comments.append(f"[{x0}, {y0}, {x1 - x0}, {y1 - y0}] seen in "
                            f"{len(c.instances)}/{count}, identifying text in "
                            f"{len(c.identifying)}/{count}")
        match: dict[str, str] = {}
        if device.manufacturer:
            match["Manufacturer"] = _glob_exact(device.manufacturer)
        if device.model:
            match["ManufacturerModelName"] = _glob_exact(device.model)
        match["size"] = f"{device.rows}x{device.columns}"
        rule = {"name": f"ocr-{_slug(device.manufacturer)}-{_slug(device.model)}-"
                        f"{device.rows}x{device.columns}",
                "match": match, "boxes": boxes}
        for comment in comments:
            lines.append(f"    #   box {comment}")
        dumped = yaml.safe_dump([rule], sort_keys=False, default_flow_style=None, width=100)
        lines += ["    " + ln for ln in dumped.rstrip("\n").splitlines()]
        written += 1
    if not written:
        lines[-1] = "    zones: []"
    return "\n".join(lines) + "\n"


def iter_folder(paths: Iterable[str]) -> Iterator[tuple[str, Dataset]]:
    """``(path, dataset)`` for every readable DICOM file under the given files or folders."""
    from pathlib import Path

    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    for root in paths:
        p = Path(root)
        files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
        for f in files:
            try:
                ds = dcmread(f, force=True)
            except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError):
                continue
            if "PixelData" in ds:
                yield str(f), ds


def discover(datasets: Iterable[tuple[str, Dataset]], *, settings: Any, workers: int = 0,
             max_frames: int = 3, on_error: Callable[[str, Exception], None] | None = None,
             ) -> list[Sighting]:
    """OCR many instances in parallel threads (tesseract runs as a subprocess per call)."""
    from concurrent.futures import ThreadPoolExecutor

    workers = workers or os.cpu_count() or 1
    sightings: list[Sighting] = []

    def one(item: tuple[str, Dataset]) -> Sighting | None:
        label, ds = item
        try:
            return sight(ds, settings=settings, max_frames=max_frames)
        except Exception as exc:
            if on_error is None:
                raise
            on_error(label, exc)
            return None

    from itertools import islice

    items = iter(datasets)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while chunk := list(islice(items, workers * 4)):  # bounded memory
            for result in pool.map(one, chunk):
                if result is not None and result.device.rows:
                    sightings.append(result)
    return sightings
