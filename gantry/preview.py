"""What the export would make of one instance, without writing anything: for review.

:func:`preview_instance` runs the profile's redaction stack (the same
:func:`gantry.pipeline.redact_dataset` the export runs) on a copy of an instance and, when the
pixels were loaded, checks it as the export does before writing (burned-in text no pixel
redactor cleaned: :func:`gantry.pipeline.withhold`) and passes the encoded result through the
export gate. The caller gets the
original and the redacted datasets side by side, every change with the component that made it,
the boxes pixel redactors blanked, and what failed — nothing is written and the store is not
touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.context import Run
    from gantry.model import Instance
    from gantry.records import Change


@dataclass
class Preview:
    """One instance before and after the redaction stack."""

    original: Dataset
    redacted: Dataset | None
    changes: list[Change] = field(default_factory=list)
    #: ``(frame, x, y, w, h)`` boxes pixel redactors blanked (frame ``-1``: every frame)
    pixel_boxes: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    #: ``""``, or why the stack failed (``plugin: error``): the export would fail too
    error: str = ""
    #: ``""``, or the export gate's refusal — identifying values in the bytes, or burned-in
    #: text no pixel redactor cleaned (only checked when the pixels were loaded)
    gate: str = ""
    pixels_modified: bool = False

    @property
    def ok(self) -> bool:
        """Whether the export would write this instance."""
        return not self.error and not self.gate


def preview_instance(instance: Instance, run: Run, *, header: Dataset | None = None,
                     pixels: bool = True) -> Preview:
    """Redact a copy of ``instance`` (read from its source, with pixels unless
    ``pixels=False``; or ``header``, e.g. the store's, when given) as the export would."""
    from gantry.deid.engine import header_copy
    from gantry.errors import LeakError, WithheldError
    from gantry.pipeline import (
        RedactorFailed,
        encode,
        gate,
        make_context,
        redact_dataset,
        withhold,
    )

    source = header if header is not None else instance.load(pixels=pixels)
    original = header_copy(source, keep_pixels=True)
    working = header_copy(source, keep_pixels=True)
    context = make_context(instance, working, run)
    try:
        changes = redact_dataset(working, context, run)
    except RedactorFailed as exc:
        return Preview(original, None, error=f"{exc.plugin or 'redactor'}: {exc}")
    boxes: list[Any] = list(context.notes.get("pixel_boxes", []))
    found = Preview(original, working, changes, [tuple(b) for b in boxes],
                    pixels_modified=context.pixels_modified)
    if pixels and header is None:
        try:  # what the export checks before writing: burned-in text, then the bytes
            withhold(instance, context, [], run, working)
            gate(encode(working), [""], context.identifiers)
        except (LeakError, WithheldError) as exc:
            found.gate = str(exc)
        except Exception as exc:  # an unencodable result fails the export the same way
            found.error = f"encode: {type(exc).__name__}: {exc}"
    return found
