"""One series → its defacing: which series are head volumes, and each slice's new pixels.

:func:`plan_series` assembles the series through gantry-nifti's public contract
(``gantry_nifti.api.assemble_volume``), plans the removal (:mod:`gantry_deface.engine`) and
maps it back to every frame of every dataset; :func:`apply_to_dataset` rewrites one dataset's
pixels in place through gantry-pixels' public codec (same transfer syntax family, lossless
re-encoding where the input was compressed).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gantry_deface.engine import DefaceParameters, FacePlan, NotAHead, plan_face_removal

#: BodyPartExamined values that say "head" (the header's word, used only to decide whether a
#: series the method could not deface must be refused when the profile requires defacing)
HEAD_PARTS = frozenset({"HEAD", "BRAIN", "SKULL", "FACE", "HEADNECK", "HEAD NECK", "ORBIT",
                        "SINUS", "SINUSES", "JAW", "IAC", "EAR", "NECK HEAD"})
#: SOP classes of volumes: CT, MR, enhanced CT/MR
VOLUME_MODALITIES = ("CT", "MR")


@dataclass
class SeriesDefacing:
    """What defacing made of one series: ``defaced`` (its face removed) or the ``reason`` it
    was left alone; ``head`` whether it is known to be a head (the method found a braincase,
    or the header says so)."""

    defaced: bool
    reason: str
    head: bool = False
    plan: FacePlan | None = None
    #: by original SOP Instance UID: ``(frame, k)`` of each of its frames in the volume
    frames: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    #: by original SOP Instance UID: the fill value in that dataset's stored units
    fill: dict[str, float] = field(default_factory=dict)


def header_says_head(ds: Any) -> bool:
    """Whether BodyPartExamined names the head."""
    part = str(ds.get("BodyPartExamined", "") or "").strip().upper()
    return part in HEAD_PARTS


def _rescale(ds: Any) -> tuple[float, float]:
    """``(slope, intercept)`` of ``ds``: its own, else the functional groups' (enhanced
    objects keep them in the shared group, or per frame: the first frame's)."""
    holder = ds if "RescaleSlope" in ds or "RescaleIntercept" in ds else None
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        if holder is not None:
            break
        groups = ds.get(keyword)
        if groups:
            items = groups[0].get("PixelValueTransformationSequence")
            holder = items[0] if items else None
    if holder is None:
        return 1.0, 0.0
    return (float(holder.get("RescaleSlope", 1) or 1),
            float(holder.get("RescaleIntercept", 0) or 0))


def _stored(ds: Any, physical: float) -> float:
    """``physical`` in the stored units of ``ds`` (its rescale), clipped to what it holds."""
    slope, intercept = _rescale(ds)
    value = (physical - intercept) / slope
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)) or 16)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return float(np.clip(np.rint(value), low, high))


def plan_series(datasets: Sequence[Any], uids: Sequence[str] | None = None,
                parameters: DefaceParameters | None = None) -> SeriesDefacing:
    """Plan the defacing of one series' datasets (with pixels, any order). ``uids`` names each
    dataset in the result (default: its SOPInstanceUID)."""
    from gantry_nifti.api import Refusal, assemble_volume

    if not datasets:
        return SeriesDefacing(False, "no images")
    names = list(uids) if uids is not None else [str(ds.SOPInstanceUID) for ds in datasets]
    first = datasets[0]
    said_head = any(header_says_head(ds) for ds in datasets)
    modality = str(first.get("Modality", "") or "").upper()
    if modality not in VOLUME_MODALITIES:
        return SeriesDefacing(False, f"not a CT or MR volume (Modality {modality or 'absent'})",
                              head=False)
    if int(first.get("SamplesPerPixel", 1) or 1) != 1:
        return SeriesDefacing(False, "colour images, not a CT or MR volume", head=said_head)
    try:
        volume = assemble_volume(datasets)
    except Refusal as exc:
        single = exc.reason.startswith(("a single slice", "a localizer"))
        return SeriesDefacing(False, f"not a volume: {exc.reason}",
                              head=said_head and not single)
    array = volume.array if volume.array.ndim == 3 else volume.array[..., 0]
    try:
        plan = plan_face_removal(array, volume.affine, modality, parameters,
                                 slope=volume.slope, intercept=volume.intercept)
    except NotAHead as exc:
        return SeriesDefacing(False, exc.reason, head=said_head)
    out = SeriesDefacing(True, f"face removed ({plan.removed_ml:.0f} ml of tissue; "
                               f"braincase {plan.cavity_ml:.0f} ml)", head=True, plan=plan)
    for ref in volume.frames:
        out.frames.setdefault(names[ref.dataset], []).append((ref.frame, ref.k))
    for name, ds in zip(names, datasets, strict=True):  # (each with its own rescale)
        out.fill[name] = _stored(ds, plan.fill)
    return out


def slice_mask(plan: FacePlan, k: int) -> np.ndarray:
    """The removal mask of volume slice ``k`` as a DICOM frame ``(rows, columns)``: the
    volume's ``[i, j]`` is ``(column, row counted from the last)``."""
    return plan.slice_mask(k).T[::-1]


def apply_to_dataset(ds: Any, defacing: SeriesDefacing, uid: str) -> tuple[int, str, str, str]:
    """Remove the face from the frames of ``ds`` (named ``uid`` in the plan) in place:
    ``(pixels set, sha256 before, after, transfer syntax written)``; 0 pixels leaves ``ds``
    as it was. ImageType becomes DERIVED when pixels changed."""
    import gantry_pixels.api as pixels

    plan = defacing.plan
    refs = defacing.frames.get(uid, [])
    if plan is None or not refs:
        return 0, "", "", ""
    decoded = pixels.decode(ds)
    before = decoded.sha256
    count = 0
    fill = defacing.fill[uid]
    for frame, k in refs:
        mask = slice_mask(plan, k)
        plane = decoded.array[frame, :, :, 0]
        changed = mask & (plane != fill)
        count += int(changed.sum())
        plane[mask] = fill
    if not count:
        return 0, before, before, decoded.transfer_syntax
    decoded.sha256 = after = pixels.pixel_sha256(decoded.array)
    written = pixels.write_back(ds, decoded)
    pixels.mark_cleaned(ds, burned_in_annotation=None, code=None)
    return count, before, after, written


def removal_masks(defacing: SeriesDefacing) -> dict[str, np.ndarray]:
    """The removal mask ``(rows, columns)`` of the first frame of each dataset, by name (for
    single-frame series: every slice; empty when nothing was defaced)."""
    if defacing.plan is None:
        return {}
    return {uid: slice_mask(defacing.plan, refs[0][1]) for uid, refs in defacing.frames.items()}
