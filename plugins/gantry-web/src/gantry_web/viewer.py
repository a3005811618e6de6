"""The frame viewer: before/after pixels, the boxes found or blanked, the header diff."""

from __future__ import annotations

import datetime as dt
import math
import threading
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from gantry_web.diff import header_diff
from gantry_web.render import Window, as_frames, png, to_display

if TYPE_CHECKING:
    import numpy as np

    from gantry_web.console import Console, Page

_DECODED: OrderedDict[tuple[int, str, str], tuple[Any, str, str]] = OrderedDict()
_LOCK = threading.Lock()


def _pixels(console: Console, handle: str, side: str) -> tuple[np.ndarray | None, str, str]:
    """``(frames, photometric, where from)`` of one side of an instance (a few kept)."""
    uid = console.resolve("instance", handle)
    preview = console.preview(handle)
    key = (id(preview), uid, side)
    with _LOCK:
        if key in _DECODED:
            _DECODED.move_to_end(key)
            return _DECODED[key]
    import gantry_pixels.api as codec

    found: tuple[Any, str, str]
    stored = console.stored_pixels(handle) if side == "after" else None
    unreadable = console.source_errors.get(uid)
    if side == "after" and preview.redacted is None:
        found = (None, "", "the redaction failed: nothing would be exported")
    elif unreadable:
        if side == "after" and stored is not None:
            samples = int(preview.original.get("SamplesPerPixel", 1) or 1)
            found = (as_frames(stored[0], samples), stored[1].photometric,
                     f"the store's redacted pixels (gantry redact); the source cannot be "
                     f"read: {unreadable}")
        else:
            found = (None, "", f"the source cannot be read: {unreadable}")
    else:
        ds = preview.original if side == "before" else preview.redacted
        if not codec.has_pixels(ds):
            found = (None, "", "no pixel data")
        else:
            try:
                decoded = codec.decode(ds)
            except codec.PixelCodecError as exc:
                found = (None, "", f"cannot decode: {exc}")
            else:
                where = ("the original file" if side == "before" else
                         "the redaction stack, previewed" if preview.pixels_modified else
                         "unchanged by the redaction stack")
                if stored is not None:
                    import numpy as np

                    samples = int(preview.original.get("SamplesPerPixel", 1) or 1)
                    same = np.array_equal(as_frames(stored[0], samples), decoded.array)
                    where += ("; the same as the store's pixel sidecar" if same else
                              "; the store's pixel sidecar (gantry redact) differs: it was "
                              "made with another profile")
                found = (decoded.array, decoded.photometric, where)
    with _LOCK:
        _DECODED[key] = found
        while len(_DECODED) > 6:
            _DECODED.popitem(last=False)
    return found


def frame_png(console: Console, handle: str, side: str, frame: int, center: float | None,
              width: float | None) -> bytes:
    """One frame of one side as PNG, windowed (``center``/``width`` in modality units)."""
    frames, photometric, _ = _pixels(console, handle, side)
    if frames is None:
        raise LookupError("no pixels to show")
    frame = min(max(frame, 0), frames.shape[0] - 1)
    preview = console.preview(handle)
    ds = preview.original if side == "before" else preview.redacted
    window = Window(center, width) if center is not None and width else None
    image, _ = to_display(ds, frames[frame], photometric, window)
    return png(image)


def view_model(console: Console, handle: str, *, frame: int, center: float | None,
               width: float | None, grant: str | None) -> dict[str, Any]:
    """Everything the instance page shows."""
    preview = console.preview(handle)
    inst = console.instance(handle)
    uid = inst.sop_instance_uid
    after, photometric, after_from = _pixels(console, handle, "after")
    before_from = "the original file"
    count = int(after.shape[0]) if after is not None else int(
        preview.original.get("NumberOfFrames", 1) or 1)
    frame = min(frame, max(count - 1, 0))
    window = None
    if after is not None and photometric.upper().startswith("MONO"):
        shown = Window(center, width) if center is not None and width else None
        _, window = to_display(preview.redacted, after[frame], photometric, shown)
    rows_px = int(preview.original.get("Rows", 0) or 0)
    cols_px = int(preview.original.get("Columns", 0) or 0)
    blanked = [{"x": b[1], "y": b[2], "w": b[3], "h": b[4]} for b in preview.pixel_boxes
               if b[0] in (-1, frame)]
    findings = []
    for index, (stage, finding) in enumerate(console.findings(handle)):
        box = finding.box
        findings.append({"index": index, "stage": stage, "code": finding.code,
                         "severity": finding.severity, "message": finding.message,
                         "component": finding.component,
                         "box": {"x": box[1], "y": box[2], "w": box[3], "h": box[4]}
                         if box else None,
                         "on_frame": box is not None and box[0] in (-1, frame),
                         "uncovered": box is not None and not _covered(box,
                                                                      preview.pixel_boxes)})
    diff = header_diff(preview.original, preview.redacted, preview.changes,
                       console.session.profile)
    decision = console.decisions().get(uid)
    series_handle = console.handles.of("series", inst.series_instance_uid)
    return {
        "handle": handle, "new_uid": str(preview.redacted.get("SOPInstanceUID", ""))
        if preview.redacted is not None else "",
        "series": series_handle,
        "study": console.handles.of("study", inst.study_instance_uid),
        "uncovered": sum(1 for f in findings if f["uncovered"]),
        "status": console.store.get_status(uid) or "ingested",
        "decision": decision, "history": [_decision(d) for d in console.history(handle)],
        "frame": frame, "frames": count, "rows": rows_px, "columns": cols_px,
        "window": window, "after_from": after_from, "before_from": before_from,
        "has_after": after is not None, "grant": grant, "blanked": blanked,
        "findings": findings, "diff": diff, "changed": sum(1 for r in diff if r.changed),
        "error": preview.error, "gate": preview.gate,
        "pixel_changes": [c for c in preview.changes if c.action == "pixels"],
        "modality": inst.modality, "source_error": console.source_errors.get(uid, ""),
    }


def _covered(box: tuple[int, ...], blanked: list[tuple[int, ...]]) -> bool:
    """Whether a found box (frame, x, y, w, h) lies inside one box the redaction blanks on
    its frame (or on every frame)."""
    frame, x, y, w, h = box
    return any(b[0] in (-1, frame) and b[1] <= x and b[2] <= y and x + w <= b[1] + b[3]
               and y + h <= b[2] + b[4] for b in blanked)


def _decision(d: Any) -> dict[str, Any]:
    return {"action": d.action, "reason": d.reason, "who": d.who, "scope": d.scope,
            "when": dt.datetime.fromtimestamp(d.time, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")}


def decision_rows(console: Console, page: int) -> tuple[list[dict[str, Any]], Page]:
    """Every decision in the store, newest first, one page."""
    from gantry_web.console import PAGE_SIZE, Page

    every = list(console.store.iter_decisions())
    every.reverse()
    pages = max(1, math.ceil(len(every) / PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = []
    for d in every[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]:
        rows.append({**_decision(d), "handle": console.handles.of("instance", d.sop_instance_uid),
                     "uid": console.session.run.map_uid(d.sop_instance_uid)})
    return rows, Page(rows, page, pages, len(every))
