"""Find the face of a head volume and the voxels to remove (numpy and scipy.ndimage only).

The method (see ``docs/defacing.md``) works on a coarse copy of the volume (about 3 mm voxels):

1. **head/air**: voxels above an air threshold (CT: -400 HU; MR: a fifth of the way from the
   background level to the tissue level, both found by Otsu's split), every large component
   kept, holes filled in 3-D and slice by slice (a field of view that cuts the head leaves 3-D
   holes open);
2. **braincase**: the bone (CT: above 250 HU; MR: the dark voxels inside the head) filled,
   in 3-D and in the slices closest to axial; its largest component, opened by one voxel, is
   the intracranial cavity. Its size and width tell a head from a chest or an abdomen;
3. **face side** from the geometry: the voxel axis closest to the patient's anterior
   direction (the affine's ``A`` row) and its sign; the face is removed to a depth below the
   anterior skin surface along it, the ears beyond the braincase's lateral tangents, both only
   below a plane above the cavity's centre; the cavity grown by a margin is never touched.

Every removal is a set of whole coarse voxels; :class:`FacePlan` maps it back to any slice of
the full-resolution volume.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: coarse working grid (mm)
COARSE_MM = 3.0
#: intracranial volume accepted as a head (ml)
CAVITY_ML = (350.0, 2600.0)
#: widest intracranial cavity accepted as a head (mm, left to right)
CAVITY_WIDTH_MM = 200.0


class NotAHead(Exception):
    """The volume is not a head this method can deface; ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DefaceParameters:
    """The method's lengths (mm)."""

    #: tissue removed behind the anterior skin surface
    depth: float = 38.0
    #: the intracranial cavity grown by this much is never touched
    margin: float = 4.0
    #: the ears: what lies beyond the cavity's lateral tangents by more than this
    ear_margin: float = 13.0
    #: removal stays below a plane this far above the cavity's centre
    above_centre: float = 10.0
    #: remove the ears too
    ears: bool = True


@dataclass
class FacePlan:
    """Where to remove: ``remove`` on the coarse grid (``factors`` full voxels per coarse
    voxel along ``i, j, k``) of a full volume of ``shape``."""

    remove: np.ndarray
    factors: tuple[int, int, int]
    shape: tuple[int, int, int]
    #: fill value, in the units of the volume handed to :func:`plan_face_removal`
    fill: float
    cavity_ml: float = 0.0
    removed_ml: float = 0.0
    notes: list[str] = field(default_factory=list)

    def slice_mask(self, k: int) -> np.ndarray:
        """The full-resolution removal mask of slice ``k``, indexed ``[i, j]``."""
        fi, fj, fk = self.factors
        ci, cj, ck = self.remove.shape
        ii = np.minimum(np.arange(self.shape[0]) // fi, ci - 1)
        jj = np.minimum(np.arange(self.shape[1]) // fj, cj - 1)
        plane = self.remove[:, :, min(k // fk, ck - 1)]
        return plane[np.ix_(ii, jj)]

    def full_mask(self) -> np.ndarray:
        """The whole full-resolution removal mask ``[i, j, k]`` (for tests and renders)."""
        return np.stack([self.slice_mask(k) for k in range(self.shape[2])], axis=2)


def _spacings(affine: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.asarray(affine, float)[:3, :3], axis=0)


def coarse_grid(array: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, tuple[int, ...],
                                                                   np.ndarray]:
    """Block means of ``array`` over about :data:`COARSE_MM`; the factors and the affine of
    the coarse grid (voxel centres)."""
    spacing = _spacings(affine)
    factors = tuple(int(max(1, round(COARSE_MM / s))) if s > 0 else 1 for s in spacing)
    shape = tuple(max(1, n // f) for n, f in zip(array.shape, factors, strict=True))
    trimmed = array[:shape[0] * factors[0], :shape[1] * factors[1], :shape[2] * factors[2]]
    if trimmed.shape != tuple(s * f for s, f in zip(shape, factors, strict=True)):
        # an axis shorter than its factor: keep it whole
        factors = tuple(min(f, n) for f, n in zip(factors, array.shape, strict=True))
        shape = tuple(n // f for n, f in zip(array.shape, factors, strict=True))
        trimmed = array[:shape[0] * factors[0], :shape[1] * factors[1], :shape[2] * factors[2]]
    if factors == (1, 1, 1):
        coarse = trimmed.astype(np.float32)
    else:
        blocks = trimmed.reshape(shape[0], factors[0], shape[1], factors[1], shape[2],
                                 factors[2])
        coarse = blocks.mean(axis=(1, 3, 5), dtype=np.float32)
    scale = np.diag([*factors, 1]).astype(float)
    scale[:3, 3] = (np.asarray(factors) - 1) / 2.0
    return coarse, factors, np.asarray(affine, float) @ scale


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold of ``values`` (256 bins)."""
    finite = values[np.isfinite(values)]
    low, high = float(np.min(finite)), float(np.max(finite))
    if high <= low:
        return low
    hist, edges = np.histogram(finite, bins=256, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(hist).astype(float)
    total = weight[-1]
    mean = np.cumsum(hist * centres)
    w0, w1 = weight[:-1], total - weight[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        m0 = mean[:-1] / w0
        m1 = (mean[-1] - mean[:-1]) / w1
        between = w0 * w1 * (m0 - m1) ** 2
    between = np.nan_to_num(between)
    return float(centres[int(np.argmax(between))])


def _fill_slices(mask: np.ndarray, axis: int) -> np.ndarray:
    from scipy import ndimage

    moved = np.moveaxis(mask, axis, 0)
    out = np.empty_like(moved)
    for n in range(moved.shape[0]):
        out[n] = ndimage.binary_fill_holes(moved[n])
    return np.moveaxis(out, 0, axis)


def _large_components(mask: np.ndarray, keep: float = 0.05) -> np.ndarray:
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    big = np.flatnonzero(sizes >= keep * sizes.max())
    return np.isin(labels, big)


def _largest(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _axis_of(affine: np.ndarray, row: int) -> tuple[int, int]:
    """The voxel axis most aligned with RAS axis ``row`` (0 R, 1 A, 2 S) and its sign."""
    direction = np.asarray(affine, float)[row, :3] / _spacings(affine)
    axis = int(np.argmax(np.abs(direction)))
    return axis, 1 if direction[axis] > 0 else -1


def _world(affine: np.ndarray, shape: tuple[int, ...], row: int) -> np.ndarray:
    """RAS coordinate ``row`` of every voxel centre of a grid, shape ``shape``."""
    a = np.asarray(affine, float)
    out = np.full(shape, a[row, 3], dtype=np.float32)
    for axis in range(3):
        ramp = (np.arange(shape[axis], dtype=np.float32) * np.float32(a[row, axis]))
        out += ramp.reshape([-1 if n == axis else 1 for n in range(3)])
    return out


def segment(coarse: np.ndarray, modality: str) -> tuple[np.ndarray, np.ndarray, float,
                                                         float]:
    """``(head, bone)`` masks of a coarse volume, its air level and the air threshold (CT
    in HU)."""
    from scipy import ndimage

    if modality == "CT":
        air_threshold, air_level = -400.0, -1000.0
    else:
        split = otsu(coarse)
        background = coarse[coarse <= split]
        tissue = coarse[coarse > split]
        air_level = float(np.median(background)) if background.size else float(coarse.min())
        level = float(np.median(tissue)) if tissue.size else split
        air_threshold = air_level + 0.2 * (level - air_level)
    body = _large_components(coarse > air_threshold)
    head = ndimage.binary_fill_holes(body)
    for axis in range(3):
        head |= _fill_slices(body, axis)
    bone = coarse > 250.0 if modality == "CT" else head & (coarse <= air_threshold)
    return head, bone, air_level, air_threshold


def intracranial(bone: np.ndarray, head: np.ndarray, axial_axis: int) -> np.ndarray:
    """The intracranial cavity: what the bone encloses (3-D, and slice by slice along the
    axis closest to superior), its largest component after an opening by one voxel."""
    from scipy import ndimage

    cavity = ndimage.binary_fill_holes(bone) | _fill_slices(bone, axial_axis)
    cavity &= ~bone & head
    opened = ndimage.binary_opening(cavity, iterations=1)
    core = _largest(opened)
    if not core.any():
        return core
    return ndimage.binary_dilation(core, iterations=1) & cavity


def enclosed_tissue(coarse: np.ndarray, head: np.ndarray, threshold: float,
                    axial_axis: int) -> np.ndarray:
    """MR: the brain, as the largest component of tissue (eroded by one voxel) that hardly
    touches the air around the head — the dark skull separates it from the scalp and face —
    grown back and with its holes (dark ventricles) filled."""
    from scipy import ndimage

    tissue = head & (coarse > threshold)
    core = ndimage.binary_erosion(tissue, iterations=1)
    labels, count = ndimage.label(core)
    if count == 0:
        return core
    # the air around the head: the background's wide parts (an opening drops the narrow
    # dark skull) that reach the edge of the field of view
    wide = ndimage.binary_opening(~tissue, iterations=2)
    air, _ = ndimage.label(wide)
    edge = np.unique(np.concatenate([np.moveaxis(air, axis, 0)[[0, -1]].ravel()
                                     for axis in range(3)]))
    outside = ndimage.binary_dilation(np.isin(air, edge[edge > 0]), iterations=2)
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    touching = np.bincount(labels[outside & core], minlength=count + 1)
    sizes[0] = 0
    sizes[touching > 0.01 * sizes] = 0  # (noise makes a few pinholes through the skull)
    if not sizes.any():
        return np.zeros_like(core)
    brain = ndimage.binary_dilation(labels == int(np.argmax(sizes)), iterations=1) & tissue
    return ndimage.binary_fill_holes(brain) | (_fill_slices(brain, axial_axis) & head)


def plan_face_removal(array: np.ndarray, affine: np.ndarray, modality: str,
                      parameters: DefaceParameters | None = None, *, slope: float = 1.0,
                      intercept: float = 0.0) -> FacePlan:
    """Plan the removal of the face of one head volume.

    ``array`` is ``[i, j, k]``, ``array * slope + intercept`` in physical units (CT:
    Hounsfield units); ``affine`` maps voxel indices to RAS millimetres; ``modality`` is
    ``CT`` or ``MR``. Raises :class:`NotAHead` with the reason when no braincase of a head's
    size is found. The plan's ``fill`` is in physical units.
    """
    from scipy import ndimage

    p = parameters or DefaceParameters()
    if array.ndim != 3 or min(array.shape) < 2:
        raise NotAHead("not a 3-D volume")
    coarse, factors, caffine = coarse_grid(array, affine)
    if slope != 1.0 or intercept != 0.0:
        coarse = coarse * np.float32(slope) + np.float32(intercept)
    cspacing = _spacings(caffine)
    voxel_ml = float(np.prod(cspacing)) / 1000.0
    s_axis, _ = _axis_of(caffine, 2)
    ct = modality == "CT"
    head, bone, air_level, threshold = segment(coarse, "CT" if ct else "MR")
    if not head.any():
        raise NotAHead("no body in the field of view")
    cavity = (intracranial(bone, head, s_axis) if ct
              else enclosed_tissue(coarse, head, threshold, s_axis))
    cavity_ml = float(cavity.sum()) * voxel_ml
    if cavity_ml < CAVITY_ML[0]:
        raise NotAHead(f"no braincase found (largest enclosed cavity {cavity_ml:.0f} ml): "
                       "not a head, or too little of it in the field of view")
    right = _world(caffine, coarse.shape, 0)
    width = float(right[cavity].max() - right[cavity].min())
    if cavity_ml > CAVITY_ML[1] or width > CAVITY_WIDTH_MM:
        raise NotAHead(f"the largest enclosed cavity ({cavity_ml:.0f} ml, {width:.0f} mm "
                       "wide) is not a braincase: not a head")
    superior = _world(caffine, coarse.shape, 2)
    below = superior < float(superior[cavity].mean()) + p.above_centre
    # the face: everything anterior of the skin surface and up to ``depth`` behind it
    a_axis, a_sign = _axis_of(caffine, 1)
    moved = np.moveaxis(head, a_axis, -1)
    if a_sign < 0:
        moved = moved[..., ::-1]
    n = moved.shape[-1]
    index = np.arange(n)
    surface = np.where(moved.any(axis=-1), n - 1 - np.argmax(moved[..., ::-1], axis=-1), -1)
    steps = p.depth / float(cspacing[a_axis])
    face = index >= (surface[..., None] - steps)
    if a_sign < 0:
        face = face[..., ::-1]
    face = np.moveaxis(face, -1, a_axis)
    remove = face
    if p.ears:
        low, high = float(right[cavity].min()), float(right[cavity].max())
        remove = remove | (right > high + p.ear_margin) | (right < low - p.ear_margin)
    distance = ndimage.distance_transform_edt(~cavity, sampling=cspacing)
    remove = remove & below & (distance > p.margin)
    plan = FacePlan(remove=remove, factors=tuple(factors), shape=tuple(array.shape[:3]),
                    fill=air_level, cavity_ml=cavity_ml,
                    removed_ml=float((remove & head).sum()) * voxel_ml)
    return plan
