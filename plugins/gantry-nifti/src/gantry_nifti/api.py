"""gantry-nifti's public contract: one DICOM series → one volume, with the geometry dcm2niix
gives it. Other plugins (defacing, ML exports) import only this module.

``assemble_volume(datasets)`` takes the (already de-identified) pydicom datasets of one series,
with pixel data, in any order, and returns a :class:`Volume`, or raises :class:`Refusal` with a
one-line reason. It decodes pixels, reads per-frame functional groups of enhanced multi-frame
objects, sorts slices by position along the slice normal (never by InstanceNumber), groups
repeated positions into volumes (fMRI, diffusion), and checks that the slices make one regular
grid: equal spacing, one orientation, one matrix, no gantry tilt.

Conventions (those of dcm2niix, so the two agree on the same series):

* ``array`` is indexed ``[i, j, k]`` or ``[i, j, k, t]``: ``i`` the DICOM column, ``j`` the
  DICOM row counted from the *last* row (rows flipped), ``k`` the slice, ascending along the
  normal ``row x column``; ``t`` the volume.
* ``affine`` maps ``(i, j, k, 1)`` to RAS+ millimetres (NIfTI's world), written as both sform
  and qform (code 1, scanner).
* ``bvecs`` are in that voxel frame (FSL's convention: ``i``, ``j``, ``k`` components of each
  unit gradient direction; the affine's determinant is negative, so no axis is flipped).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gantry.api import value_of

__all__ = ["FrameRef", "ImageGroup", "Refusal", "Volume", "assemble_volume", "image_groups"]

#: positions closer than this along the normal (mm) are one slice position
POSITION_TOLERANCE = 0.01
#: orientation cosines differing by more than this are another orientation
ORIENTATION_TOLERANCE = 1e-3
#: slice gaps differing by more than this fraction of the mean gap are uneven
SPACING_TOLERANCE = 0.02


class Refusal(Exception):
    """A series that does not make one regular volume; ``reason`` is one line for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FrameRef:
    """Where one 2-D slice of the volume came from: ``datasets[dataset]``, frame ``frame``
    (0 for single-frame instances), placed at slice ``k`` of volume ``t``."""

    dataset: int
    frame: int
    k: int
    t: int


@dataclass
class Volume:
    """One series as a volume (see the module docstring for the axes)."""

    array: np.ndarray
    affine: np.ndarray
    #: every slice of the volume, in ``(t, k)`` order, mapped back to its dataset and frame
    frames: list[FrameRef]
    #: ``scl_slope``/``scl_inter`` to store with ``array`` (1 and 0 when the array is already
    #: rescaled: frames with different factors give float32 data)
    slope: float = 1.0
    intercept: float = 0.0
    rgb: bool = False
    #: mean gap between slice centres (mm) and pixel spacing (between columns, between rows)
    slice_spacing: float = 0.0
    pixel_spacing: tuple[float, float] = (1.0, 1.0)
    #: slice acquisition offsets (s) within a volume, per ``k``, when acquisition times tell
    slice_timing: list[float] | None = None
    #: diffusion: one b-value per volume and the directions in the voxel frame (3 x T)
    bvals: list[float] | None = None
    bvecs: np.ndarray | None = None
    #: the dataset whose header describes the series (the first slice of the first volume)
    reference: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, ...]:
        """The array's shape (``X, Y, Z[, T]``)."""
        return tuple(self.array.shape)


@dataclass
class _Frame:
    dataset: int
    frame: int
    position: np.ndarray
    orientation: np.ndarray
    spacing: tuple[float, float]
    slope: float
    intercept: float
    temporal: tuple[float, ...]
    bval: float | None
    bvec: np.ndarray | None
    time: float | None


def _item(ds: Any, frame: int, sequence: str) -> Any:
    """The functional group item ``sequence`` of ``frame``: per-frame, else shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and frame < len(per_frame):
        group = per_frame[frame]
        if sequence in group and len(group[sequence].value):
            return group[sequence].value[0]
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared and sequence in shared[0] and len(shared[0][sequence].value):
        return shared[0][sequence].value[0]
    return None


def _floats(value: Any, count: int) -> np.ndarray | None:
    if value is None:
        return None
    try:
        out = np.array([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return out if out.size == count and np.all(np.isfinite(out)) else None


def _number(value: Any, default: float | None = None) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def _seconds(tm: Any) -> float | None:
    """A DICOM TM value (``HHMMSS.FFFFFF``) as seconds since midnight."""
    text = str(tm or "").strip().replace(":", "")
    if len(text) < 2 or not text[:2].isdigit():
        return None
    try:
        hours = int(text[:2])
        minutes = int(text[2:4]) if len(text) >= 4 else 0
        seconds = float(text[4:]) if len(text) > 4 else 0.0
    except ValueError:
        return None
    return hours * 3600 + minutes * 60 + seconds


#: keyword -> tag of the attributes read through :func:`_value`
_TAGS: dict[str, int] = {}


def _value(ds: Any, keyword: str) -> Any:
    """``ds.get(keyword)``, a raw element decoded through the kernel's shared cache
    (``gantry.api.value_of``): the slices of a series repeat most values byte for byte, so
    each is decoded once, not once a slice (the value is shared: read only). For values
    that differ from slice to slice (positions, instance numbers) ``ds.get`` is cheaper."""
    tag = _TAGS.get(keyword)
    if tag is None:
        from pydicom.datadict import tag_for_keyword

        tag = _TAGS[keyword] = int(tag_for_keyword(keyword))
    return value_of(ds, tag, keyword)


def _frames_of(index: int, ds: Any) -> list[_Frame]:
    """The slices one dataset holds, with their geometry and scaling."""
    count = int(_number(_value(ds, "NumberOfFrames"), 1) or 1)
    enhanced = "PerFrameFunctionalGroupsSequence" in ds
    out = []
    for frame in range(count):
        if enhanced:
            plane = _item(ds, frame, "PlanePositionSequence")
            orient = _item(ds, frame, "PlaneOrientationSequence")
            measures = _item(ds, frame, "PixelMeasuresSequence")
            scale = _item(ds, frame, "PixelValueTransformationSequence")
            content = _item(ds, frame, "FrameContentSequence")
            diffusion = _item(ds, frame, "MRDiffusionSequence")
            position = _floats(plane.get("ImagePositionPatient") if plane else None, 3)
            orientation = _floats(orient.get("ImageOrientationPatient") if orient else None, 6)
            spacing = _floats(measures.get("PixelSpacing") if measures else None, 2)
            slope = _number(scale.get("RescaleSlope") if scale else None, 1.0)
            intercept = _number(scale.get("RescaleIntercept") if scale else None, 0.0)
            temporal = (_number(content.get("TemporalPositionIndex"), 0.0) if content else 0.0,
                        float(frame))
            bval = _number(diffusion.get("DiffusionBValue")) if diffusion else None
            bvec = None
            if diffusion is not None:
                direction = diffusion.get("DiffusionGradientDirectionSequence")
                if direction:
                    bvec = _floats(direction[0].get("DiffusionGradientOrientation"), 3)
            time = _seconds(content.get("FrameAcquisitionDateTime", "")[8:]) \
                if content is not None and content.get("FrameAcquisitionDateTime") else None
        else:
            position = _floats(ds.get("ImagePositionPatient"), 3)
            orientation = _floats(_value(ds, "ImageOrientationPatient"), 6)
            spacing = _floats(_value(ds, "PixelSpacing"), 2)
            slope = _number(_value(ds, "RescaleSlope"), 1.0)
            intercept = _number(_value(ds, "RescaleIntercept"), 0.0)
            temporal = (_number(_value(ds, "TemporalPositionIdentifier"), 0.0) or 0.0,
                        _number(_value(ds, "AcquisitionNumber"), 0.0) or 0.0,
                        _number(ds.get("InstanceNumber"), 0.0) or 0.0, float(frame))
            bval = _number(_value(ds, "DiffusionBValue"))
            bvec = _floats(_value(ds, "DiffusionGradientOrientation"), 3)
            time = _seconds(ds.get("AcquisitionTime"))
        if position is None or orientation is None or spacing is None:
            missing = [name for name, value in (("ImagePositionPatient", position),
                                                ("ImageOrientationPatient", orientation),
                                                ("PixelSpacing", spacing)) if value is None]
            raise Refusal(f"missing positions: an image has no {', '.join(missing)}")
        out.append(_Frame(index, frame, position, orientation, (spacing[0], spacing[1]),
                          slope or 1.0, intercept or 0.0, temporal, bval, bvec, time))
    return out


def _check_uniform(datasets: Sequence[Any]) -> None:
    for keyword, what in (("Rows", "matrix sizes"), ("Columns", "matrix sizes"),
                          ("SamplesPerPixel", "samples per pixel"),
                          ("BitsAllocated", "bits allocated"),
                          ("PixelRepresentation", "pixel representations")):
        values = {_value(ds, keyword) for ds in datasets}
        if len(values) > 1:
            if what == "matrix sizes":
                sizes = sorted({f"{ds.get('Rows')}x{ds.get('Columns')}" for ds in datasets})
                raise Refusal(f"mixed matrix sizes in one series ({', '.join(sizes)})")
            raise Refusal(f"mixed {what} in one series")
    for ds in datasets:
        kinds = [str(v).upper() for v in (_value(ds, "ImageType") or [])]
        if "LOCALIZER" in kinds or "SCOUT" in kinds:
            raise Refusal("a localizer (ImageType LOCALIZER), not a volume")
        if "MOSAIC" in kinds:
            raise Refusal("a Siemens mosaic: its slice layout is in a private header that "
                          "de-identification removes")


@dataclass(frozen=True)
class ImageGroup:
    """Images of one series that make one volume: ``indices`` into the datasets, the echo
    (1, 2, ... in echo-time order; ``None`` when the series has one echo) and whether they
    are phase images (a series mixing magnitude and phase)."""

    indices: list[int]
    echo: int | None = None
    phase: bool = False
    #: the series mixes magnitude and phase images (so each group says which it holds)
    mixed: bool = False

    @property
    def label(self) -> str:
        """``_e2``, ``_ph``, ``_e2_ph`` or ``""``: what dcm2niix appends to its file name."""
        return (f"_e{self.echo}" if self.echo else "") + ("_ph" if self.phase else "")


def _is_phase(ds: Any) -> bool:
    kinds = [str(v).upper() for v in (_value(ds, "ImageType") or [])][2:]
    return "P" in kinds or "PHASE" in kinds


def image_groups(datasets: Sequence[Any]) -> list[ImageGroup]:
    """``datasets`` split into volumes as dcm2niix splits a series: by echo (EchoNumbers,
    else EchoTime), then magnitude from phase. One group for a plain series; a multi-echo
    series is one volume per echo, not one 4-D volume of echoes."""
    keys: list[tuple[float, float]] = []
    phases: list[bool] = []
    for ds in datasets:
        number = _number(_value(ds, "EchoNumbers"))
        time = _number(_value(ds, "EchoTime"))
        keys.append((time if time is not None else 0.0, number if number is not None else 0.0))
        phases.append(_is_phase(ds))
    echoes = sorted(set(keys))
    mixed = len(set(phases)) > 1
    groups: dict[tuple[int, bool], list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault((echoes.index(key), mixed and phases[i]), []).append(i)
    return [ImageGroup(indices, echo + 1 if len(echoes) > 1 else None, phase, mixed)
            for (echo, phase), indices in sorted(groups.items())]


def assemble_volume(datasets: Sequence[Any]) -> Volume:
    """One series' datasets (with pixels, any order) as a :class:`Volume`; raises
    :class:`Refusal` when they are not one regular grid of slices."""
    if not datasets:
        raise Refusal("no images")
    _check_uniform(datasets)
    frames = [f for i, ds in enumerate(datasets) for f in _frames_of(i, ds)]
    orientation = frames[0].orientation
    for f in frames:
        if np.max(np.abs(f.orientation - orientation)) > ORIENTATION_TOLERANCE:
            raise Refusal("mixed orientations in one series (ImageOrientationPatient differs)")
        if max(abs(f.spacing[0] - frames[0].spacing[0]),
               abs(f.spacing[1] - frames[0].spacing[1])) > 1e-4:
            raise Refusal("mixed pixel spacings in one series")
    row, col = orientation[:3], orientation[3:]
    normal = np.cross(row, col)
    if abs(np.linalg.norm(normal) - 1) > 1e-2 or abs(np.dot(row, col)) > 1e-2:
        raise Refusal("invalid ImageOrientationPatient (not two orthogonal unit vectors)")
    normal /= np.linalg.norm(normal)
    distances = np.array([float(np.dot(f.position, normal)) for f in frames])
    order = np.argsort(distances, kind="stable")
    groups: list[list[int]] = []
    for idx in order:
        if groups and distances[idx] - distances[groups[-1][0]] <= POSITION_TOLERANCE:
            groups[-1].append(int(idx))
        else:
            groups.append([int(idx)])
    slices = len(groups)
    counts = {len(g) for g in groups}
    if len(counts) > 1:
        raise Refusal(f"missing slices: positions hold {min(counts)} to {max(counts)} images")
    volumes = counts.pop()
    if slices == 1 and volumes == 1:
        raise Refusal("a single slice (a localizer or a 2-D image), not a volume")
    for g in groups:
        g.sort(key=lambda i: frames[i].temporal)
    first = [frames[g[0]] for g in groups]
    spacing = 0.0
    if slices > 1:
        gaps = np.diff([distances[g[0]] for g in groups])
        spacing = float(np.mean(gaps))
        if float(np.max(gaps) - np.min(gaps)) > SPACING_TOLERANCE * spacing:
            raise Refusal(f"uneven slice spacing ({np.min(gaps):.3g} to {np.max(gaps):.3g} mm):"
                          " missing slices?")
        step = (first[-1].position - first[0].position) / (slices - 1)
        along = float(np.dot(step, normal))
        shear = np.linalg.norm(step - along * normal)
        if shear > 1e-3 * abs(along) + 1e-4:
            tilt = np.degrees(np.arctan2(shear, abs(along)))
            raise Refusal(f"gantry tilt of {tilt:.1f} degrees (sheared slices): not resampled")
        for t in range(volumes):
            here = [frames[g[t]].position for g in groups]
            if max(np.linalg.norm(here[k] - first[k].position) for k in range(slices)) > 0.01:
                raise Refusal("inconsistent geometry: volumes do not repeat the same positions")
    else:
        ds = datasets[first[0].dataset]
        spacing = _number(ds.get("SpacingBetweenSlices")) or \
            _number(ds.get("SliceThickness")) or 1.0
    refs = [FrameRef(frames[groups[k][t]].dataset, frames[groups[k][t]].frame, k, t)
            for t in range(volumes) for k in range(slices)]
    array, slope, intercept, rgb = _pixels(datasets, frames, groups, volumes)
    row_spacing, col_spacing = first[0].spacing
    rows = int(datasets[0].Rows)
    lps = np.eye(4)
    lps[:3, 0] = row * col_spacing
    lps[:3, 1] = -col * row_spacing
    lps[:3, 2] = normal * (spacing if spacing else 1.0)
    lps[:3, 3] = first[0].position + (rows - 1) * col * row_spacing
    affine = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    volume = Volume(array=array, affine=affine, frames=refs, slope=slope, intercept=intercept,
                    rgb=rgb, slice_spacing=abs(spacing), pixel_spacing=(col_spacing, row_spacing),
                    reference=first[0].dataset)
    volume.slice_timing = _slice_timing(first)
    volume.bvals, volume.bvecs = _diffusion(frames, groups, volumes, row, col, normal)
    return volume


def _pixels(datasets: Sequence[Any], frames: list[_Frame], groups: list[list[int]],
            volumes: int) -> tuple[np.ndarray, float, float, bool]:
    """The voxel array (rows flipped, ``[i, j, k(, t)]``) and its scaling."""
    cache: dict[int, np.ndarray] = {}

    def plane(f: _Frame) -> np.ndarray:
        if f.dataset not in cache:
            cache.clear()  # keep one decoded dataset at a time
            try:
                cache[f.dataset] = _decode(datasets[f.dataset])
            except Exception as exc:
                raise Refusal(f"pixel data cannot be decoded ({type(exc).__name__})") from None
        pixels = cache[f.dataset]
        count = int(_number(_value(datasets[f.dataset], "NumberOfFrames"), 1) or 1)
        return pixels[f.frame] if count > 1 else pixels

    rgb = int(_value(datasets[0], "SamplesPerPixel") or 1) == 3
    scales = {(f.slope, f.intercept) for f in frames}
    varying = len(scales) > 1
    slope, intercept = (1.0, 0.0) if varying else scales.pop()
    sample = plane(frames[groups[0][0]])
    rows, cols = sample.shape[:2]
    dtype = np.dtype(np.float32) if varying and not rgb else sample.dtype
    if dtype == np.uint16 and all(int(_value(ds, "BitsStored") or 16) < 16 for ds in datasets):
        dtype = np.dtype(np.int16)  # every value fits: dcm2niix's choice, for the same files
    shape = (cols, rows, len(groups)) + ((volumes,) if volumes > 1 else ())
    # Fortran order (``i`` fastest), as NIfTI stores voxels: written out without a copy
    out = np.empty(shape + ((3,) if rgb else ()), dtype=dtype, order="C" if rgb else "F")
    for k, group in enumerate(groups):
        for t, idx in enumerate(group):
            f = frames[idx]
            data = plane(f)
            if data.shape[:2] != (rows, cols):
                raise Refusal("mixed matrix sizes in one series")
            if varying and not rgb:
                data = data.astype(np.float32) * np.float32(f.slope) + np.float32(f.intercept)
            flipped = data[::-1].swapaxes(0, 1)
            if volumes > 1:
                out[:, :, k, t] = flipped
            else:
                out[:, :, k] = flipped
    if rgb:
        out = np.ascontiguousarray(out.astype(np.uint8)).view(
            np.dtype([("R", "u1"), ("G", "u1"), ("B", "u1")]))[..., 0]
        slope, intercept = 1.0, 0.0
    return out, float(slope), float(intercept), rgb


#: uncompressed little-endian transfer syntaxes (implicit, explicit VR)
_NATIVE = ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1")


def _decode(ds: Any) -> np.ndarray:
    """The stored pixel values of ``ds`` (frames first when it has several): read straight
    from native little-endian Pixel Data of whole bytes (masked to BitsStored, sign-extended
    when signed), as ``pixel_array`` would give them; anything else through pydicom."""
    meta = getattr(ds, "file_meta", None)
    syntax = str(meta.get("TransferSyntaxUID", "")) if meta is not None else ""
    bits = int(_value(ds, "BitsAllocated") or 0)
    samples = int(_value(ds, "SamplesPerPixel") or 1)
    if syntax not in _NATIVE or bits not in (8, 16, 32) or "PixelData" not in ds or \
            (samples != 1 and int(_value(ds, "PlanarConfiguration") or 0) != 0):
        return ds.pixel_array
    signed = int(_value(ds, "PixelRepresentation") or 0) == 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{bits // 8}")
    rows, cols = _value(ds, "Rows"), _value(ds, "Columns")
    if rows is None or cols is None:
        return ds.pixel_array  # (pydicom says what is missing)
    rows, cols = int(rows), int(cols)
    frames = int(_number(_value(ds, "NumberOfFrames"), 1) or 1)
    count = frames * rows * cols * samples
    data = np.frombuffer(ds.PixelData, dtype=dtype, count=count)
    stored = int(_value(ds, "BitsStored") or bits)
    if stored < bits:
        if signed:
            shift = bits - stored
            data = (data << shift) >> shift
        else:
            data = data & np.array((1 << stored) - 1, dtype=dtype)
    shape = (rows, cols) + ((samples,) if samples > 1 else ())
    return data.reshape(((frames,) if frames > 1 else ()) + shape)


def _slice_timing(first: list[_Frame]) -> list[float] | None:
    """Slice offsets (s) within the first volume from acquisition times, when they differ."""
    times = [f.time for f in first]
    if len(times) < 2 or any(t is None for t in times):
        return None
    start = min(times)  # type: ignore[type-var]
    offsets = [round(float(t) - float(start), 5) for t in times]  # type: ignore[arg-type]
    return offsets if max(offsets) > 0 else None


def _diffusion(frames: list[_Frame], groups: list[list[int]], volumes: int, row: np.ndarray,
               col: np.ndarray, normal: np.ndarray) -> tuple[list[float] | None,
                                                             np.ndarray | None]:
    """b-values per volume and gradient directions in the voxel frame (``i, -j, k``)."""
    per_volume = [frames[groups[0][t]] for t in range(volumes)]
    if all(f.bval is None for f in per_volume):
        return None, None
    bvals = [float(f.bval or 0.0) for f in per_volume]
    bvecs = np.zeros((3, volumes))
    for t, f in enumerate(per_volume):
        if f.bvec is None or not bvals[t] or not np.linalg.norm(f.bvec):
            continue
        v = f.bvec / np.linalg.norm(f.bvec)
        bvecs[:, t] = [float(np.dot(v, row)), -float(np.dot(v, col)), float(np.dot(v, normal))]
    return bvals, bvecs
