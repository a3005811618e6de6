"""Head phantoms with known anatomy, for gantry-deface's tests and benchmark.

A phantom is a labelled head built from ellipsoids in a head frame (millimetres; ``x`` to the
patient's left, ``y`` anterior, ``z`` superior): scalp and face soft tissue, skull and facial
bones, CSF, brain (cerebrum and cerebellum), and the features that make a face recognisable —
eyes, nose, lips — plus the ears, each a distinct label. The head is placed in the scanner with
a random rotation (pitch within ±20°, roll and yaw within ±10°) and imaged on a grid whose
field of view may cut the top of the head or the chin and neck; intensities are CT Hounsfield
units or MR T1/T2-like values with noise and a smooth bias field. :func:`phantom_series` writes
one as DICOM slices; :func:`labels_by_instance` gives each slice's labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

AIR, SOFT, BONE, BRAIN, CSF, EYE, NOSE, LIPS, EAR = range(9)
LABELS = {AIR: "air", SOFT: "soft tissue", BONE: "bone", BRAIN: "brain", CSF: "csf",
          EYE: "eyes", NOSE: "nose", LIPS: "lips", EAR: "ears"}
#: the labels that make a face recognisable (the defacing metric)
FACE_FEATURES = (EYE, NOSE, LIPS)

#: intensity of each label: CT in Hounsfield units, MR in arbitrary units
INTENSITY = {
    "CT": {AIR: -1000, SOFT: 40, BONE: 1100, BRAIN: 32, CSF: 8, EYE: 12, NOSE: 40, LIPS: 45,
           EAR: 40},
    "T1": {AIR: 0, SOFT: 700, BONE: 40, BRAIN: 520, CSF: 120, EYE: 110, NOSE: 620, LIPS: 560,
           EAR: 600},
    "T2": {AIR: 0, SOFT: 480, BONE: 35, BRAIN: 420, CSF: 900, EYE: 880, NOSE: 450, LIPS: 430,
           EAR: 440},
}


@dataclass
class PhantomSpec:
    """What to image: contrast (``CT``, ``T1``, ``T2``), rotation (degrees), grid, cropping."""

    contrast: str = "CT"
    pitch: float = 0.0
    roll: float = 0.0
    yaw: float = 0.0
    #: ``axial``, ``sagittal`` or ``coronal`` slices
    plane: str = "axial"
    matrix: int = 128
    pixel_spacing: float = 2.0
    slice_spacing: float = 2.0
    slices: int = 120
    #: the head's centre in the scanner (LPS mm, relative to the grid's centre)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    noise: float = 8.0
    seed: int = 0
    scale: float = 1.0
    #: ``head`` or ``chest``
    anatomy: str = "head"


@dataclass
class Phantom:
    """A phantom imaged: ``labels`` and ``values`` shaped ``(slices, rows, cols)``, and the
    geometry of each slice (LPS)."""

    spec: PhantomSpec
    labels: np.ndarray
    values: np.ndarray
    row: np.ndarray
    col: np.ndarray
    positions: list[np.ndarray] = field(default_factory=list)


def random_spec(rng: np.random.Generator, contrast: str | None = None, *,
                matrix: int = 96, spacing: float = 2.4) -> PhantomSpec:
    """A random phantom: contrast, tilt within ±20°, slice plane and a partial field of view."""
    contrast = contrast or str(rng.choice(["CT", "T1", "T2"]))
    plane = "axial" if contrast == "CT" else str(rng.choice(["axial", "sagittal", "coronal"]))
    extent = matrix * spacing
    return PhantomSpec(
        contrast=contrast, pitch=float(rng.uniform(-20, 20)), roll=float(rng.uniform(-10, 10)),
        yaw=float(rng.uniform(-10, 10)), plane=plane, matrix=matrix, pixel_spacing=spacing,
        slice_spacing=spacing, slices=int(rng.integers(int(0.8 * matrix), matrix + 1)),
        offset=(float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)),
                float(rng.uniform(-0.12, 0.12) * extent)),
        noise=float(rng.uniform(3, 15)), seed=int(rng.integers(1 << 30)),
        scale=float(rng.uniform(0.92, 1.08)))


def _rotation(pitch: float, roll: float, yaw: float) -> np.ndarray:
    """Head frame → RAS-like frame (x right-to-left flipped below): pitch about x, roll
    about y, yaw about z (degrees)."""
    a, b, c = np.radians([pitch, roll, yaw])
    rx = np.array([[1, 0, 0], [0, np.cos(a), -np.sin(a)], [0, np.sin(a), np.cos(a)]])
    ry = np.array([[np.cos(b), 0, np.sin(b)], [0, 1, 0], [-np.sin(b), 0, np.cos(b)]])
    rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _inside(p: np.ndarray, centre: tuple[float, float, float],
            radii: tuple[float, float, float]) -> np.ndarray:
    d = (p - np.asarray(centre)) / np.asarray(radii)
    return np.einsum("...i,...i->...", d, d) <= 1.0


def head_labels(points: np.ndarray) -> np.ndarray:
    """The label at each point of the head frame (``(..., 3)`` millimetres)."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    out = np.zeros(points.shape[:-1], dtype=np.uint8)
    cerebrum = ((0, -5, 30), (66, 84, 56))
    cerebellum = ((0, -50, -18), (48, 34, 24))

    def grow(ellipsoid: tuple, mm: float) -> tuple:
        return ellipsoid[0], tuple(r + mm for r in ellipsoid[1])

    neck = (x ** 2 / 46.0 ** 2 + (y + 10) ** 2 / 50.0 ** 2 <= 1) & (z < -40)
    face = _inside(points, (0, 28, -42), (58, 58, 54))
    head = _inside(points, *grow(cerebrum, 14)) | _inside(points, *grow(cerebellum, 14))
    out[head | face | neck] = SOFT
    skull = _inside(points, *grow(cerebrum, 8)) | _inside(points, *grow(cerebellum, 8))
    # facial bones: a shell inside the face (maxilla, mandible) and the cervical spine
    # (an arch open behind, as maxilla and mandible are)
    facial = face & ~_inside(points, (0, 28, -42), (50, 50, 46)) & (z > -90) & (y > 20)
    spine = ((x ** 2 + (y + 22) ** 2) <= 9.0 ** 2) & (z < -30)
    out[skull | facial | spine] = BONE
    out[_inside(points, *grow(cerebrum, 2.5)) | _inside(points, *grow(cerebellum, 2.5))] = CSF
    out[_inside(points, *cerebrum) | _inside(points, *cerebellum)] = BRAIN
    for side in (-1, 1):
        eye = _inside(points, (side * 31, 66, -12), (12, 12, 12))
        out[eye & ((out == AIR) | (out == SOFT))] = EYE  # the orbit keeps the skull whole
        ear = _inside(points, (side * 84, -12, -12), (9, 14, 27)) & (np.abs(x) > 72)
        out[ear & (out == AIR) | ear & (out == SOFT)] = EAR
    nose = _inside(points, (0, 84, -32), (13, 16, 24)) & (y > 70)
    out[nose & ((out == AIR) | (out == SOFT))] = NOSE
    lips = _inside(points, (0, 80, -62), (22, 9, 8)) & (y > 72)
    out[lips & ((out == AIR) | (out == SOFT))] = LIPS
    return out


def chest_labels(points: np.ndarray) -> np.ndarray:
    """A chest at each point (same frame as :func:`head_labels`): a body 340 mm wide, a closed
    ring of ribs, two lungs and the spine — a volume that holds no head."""
    x, y = points[..., 0], points[..., 1]
    out = np.zeros(points.shape[:-1], dtype=np.uint8)
    radius = np.sqrt((x / 170.0) ** 2 + (y / 110.0) ** 2)
    out[radius <= 1] = SOFT
    out[(radius > 0.84) & (radius <= 0.9)] = BONE
    for side in (-1, 1):
        out[((x - side * 70) / 55.0) ** 2 + (y / 70.0) ** 2 <= 1] = AIR
    out[(x ** 2 + (y + 75) ** 2) <= 15.0 ** 2] = BONE
    return out


def _plane_axes(plane: str) -> tuple[np.ndarray, np.ndarray]:
    if plane == "axial":
        return np.array([1.0, 0, 0]), np.array([0, 1.0, 0])
    if plane == "sagittal":
        return np.array([0, 1.0, 0]), np.array([0, 0, -1.0])
    if plane == "coronal":
        return np.array([1.0, 0, 0]), np.array([0, 0, -1.0])
    raise ValueError(f"unknown plane {plane!r}")


def make_phantom(spec: PhantomSpec) -> Phantom:
    """Image a phantom: labels and values of every slice on the spec's grid."""
    rng = np.random.default_rng(spec.seed)
    row, col = _plane_axes(spec.plane)
    normal = np.cross(row, col)
    n, ps = spec.matrix, spec.pixel_spacing
    half = (n - 1) * ps / 2
    ks = np.arange(spec.slices) * spec.slice_spacing - (spec.slices - 1) * spec.slice_spacing / 2
    centre = np.asarray(spec.offset, float)
    origin = -half * row - half * col
    r = np.arange(n) * ps
    rot = _rotation(spec.pitch, spec.roll, spec.yaw)
    # LPS → head frame: x left = L, y anterior = -P, z superior = S
    flip = np.diag([1.0, -1.0, 1.0])
    grid = (origin[None, None, :] + r[:, None, None] * col[None, None, :]
            + r[None, :, None] * row[None, None, :])  # (rows, cols, 3)
    labels = np.empty((spec.slices, n, n), dtype=np.uint8)
    positions = []
    for k, offset in enumerate(ks):
        lps = grid + offset * normal - centre
        head = (lps @ flip) @ rot / spec.scale
        labels[k] = (chest_labels if spec.anatomy == "chest" else head_labels)(head)
        positions.append(origin + offset * normal)
    table = INTENSITY[spec.contrast]
    lut = np.array([table[i] for i in range(len(LABELS))], dtype=np.float64)
    values = lut[labels]
    if spec.contrast != "CT":  # a smooth multiplicative bias field
        zz = np.linspace(-1, 1, spec.slices)[:, None, None]
        yy = np.linspace(-1, 1, n)[None, :, None]
        values *= 1 + 0.15 * rng.uniform(-1, 1) * zz + 0.1 * rng.uniform(-1, 1) * yy
    values += rng.normal(0, spec.noise, values.shape)
    return Phantom(spec, labels, values, row, col, positions)


def series_uid(series: int = 1, patient: int = 0) -> str:
    """The SeriesInstanceUID :func:`phantom_series` gives a series."""
    return f"{_ROOT}{patient + 1}.{series}"


_ROOT = "1.2.826.0.1.3680043.10.997."


def phantom_series(phantom: Phantom, *, series: int = 1, patient: int = 0) -> list:
    """The phantom as one series of single-frame DICOM datasets (CT Image or MR Image storage,
    Explicit VR Little Endian), each slice's stored values from ``phantom.values``."""
    from pydicom.uid import CTImageStorage, MRImageStorage

    from gantry.testing.factory import new_file_dataset

    spec = phantom.spec
    ct = spec.contrast == "CT"
    root = _ROOT
    out = []
    for k in range(spec.slices):
        uid = f"{root}{patient + 1}.{series}.{k + 1}"
        ds = new_file_dataset(CTImageStorage if ct else MRImageStorage, uid)
        ds.PatientName = f"Phantom^Head{patient}"
        ds.PatientID = f"PH{patient:04d}"
        ds.StudyInstanceUID = f"{root}{patient + 1}"
        ds.SeriesInstanceUID = f"{root}{patient + 1}.{series}"
        ds.FrameOfReferenceUID = f"{root}{patient + 1}.0"
        ds.Modality = "CT" if ct else "MR"
        ds.BodyPartExamined = "CHEST" if spec.anatomy == "chest" else "HEAD"
        ds.SeriesNumber = series
        ds.InstanceNumber = k + 1
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.BurnedInAnnotation = "NO"
        ds.ImageOrientationPatient = [round(float(v), 6) for v in (*phantom.row, *phantom.col)]
        ds.ImagePositionPatient = [round(float(v), 4) for v in phantom.positions[k]]
        ds.PixelSpacing = [spec.pixel_spacing, spec.pixel_spacing]
        ds.SliceThickness = spec.slice_spacing
        ds.Rows = ds.Columns = spec.matrix
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        if ct:
            ds.PixelRepresentation = 0
            ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
            stored = np.clip(np.rint(phantom.values[k] + 1024), 0, 4095).astype(np.uint16)
        else:
            ds.PixelRepresentation = 0
            stored = np.clip(np.rint(phantom.values[k]), 0, 4095).astype(np.uint16)
        ds.PixelData = stored.tobytes()
        out.append(ds)
    return out


def labels_by_instance(phantom: Phantom, *, series: int = 1,
                       patient: int = 0) -> dict[str, np.ndarray]:
    """Each slice's labels ``(rows, cols)`` by the SOP Instance UID :func:`phantom_series`
    gives it."""
    return {f"{series_uid(series, patient)}.{k + 1}": phantom.labels[k]
            for k in range(phantom.spec.slices)}


def removal_scores(phantom: Phantom, removed: dict[str, np.ndarray], *, series: int = 1,
                   patient: int = 0) -> dict[str, float]:
    """The metric: the fraction of face-feature voxels (eyes, nose, lips) removed
    (``face``), of brain voxels untouched (``brain_kept``), and of each label removed (by its
    name in :data:`LABELS`), from each
    slice's removal mask ``(rows, cols)`` by SOP Instance UID (a slice absent: none)."""
    labels = labels_by_instance(phantom, series=series, patient=patient)
    counts = np.zeros((len(LABELS), 2), dtype=np.int64)  # [label] -> (voxels, removed)
    for uid, lab in labels.items():
        mask = removed.get(uid)
        counts[:, 0] += np.bincount(lab.ravel(), minlength=len(LABELS))
        if mask is not None:
            counts[:, 1] += np.bincount(lab[mask].ravel(), minlength=len(LABELS))
    face = counts[list(FACE_FEATURES)].sum(axis=0)
    out = {"face": float(face[1] / face[0]) if face[0] else 1.0,
           "brain_kept": 1.0 - float(counts[BRAIN, 1] / counts[BRAIN, 0]) if counts[BRAIN, 0]
           else 1.0}
    for label, name in LABELS.items():
        if counts[label, 0]:
            out[name] = float(counts[label, 1] / counts[label, 0])
    return out
