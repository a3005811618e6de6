"""Synthetic MR/CT series with known geometry, for tests and the benchmark.

Every series is made with pydicom from a few parameters (orientation, spacing, tilt, frames),
so a test knows the answer: which voxel came from which file, where each slice is. Identifying
values are planted in the attributes converters are known to copy (names, IDs, dates, times,
UIDs, station and institution, device serial, descriptions, comments) so a test can search
every output for them (:data:`PLANTED`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    CTImageStorage,
    EnhancedMRImageStorage,
    MRImageStorage,
    SecondaryCaptureImageStorage,
)

UID_ROOT = "1.2.826.0.1.3680043.10.998."

#: identifying values planted in every series (each must never reach an output)
PLANTED = {
    "PatientName": "Quillfeather^Ermengarde^Maud",
    "PatientID": "MRN4417Q90210",
    "OtherPatientIDs": "ALT55Q31337",
    "PatientBirthDate": "19570314",
    "AccessionNumber": "ACC77X120934",
    "StudyID": "SID99Z04",
    "InstitutionName": "Saint Ignatius Memorial Hospital",
    "InstitutionAddress": "1428 Elmwood Lane Springfield",
    "InstitutionalDepartmentName": "Harrowgate Neuroradiology",
    "StationName": "MRZETA07",
    "DeviceSerialNumber": "SN8812Q4471",
    "ReferringPhysicianName": "Blackwood^Cornelius",
    "PerformingPhysicianName": "Featherstonehaugh^Agatha",
    "OperatorsName": "Nightingale^Rosalind",
    "ImageComments": "Pembertonia tolerated the scan",
    "PatientComments": "Wexcombe prefers mornings",
    "RequestingPhysician": "Thistlewood^Bartholomew",
}
#: the planted dates and times (original, before any shift)
STUDY_DATE = "20190314"
STUDY_TIME = "101507.250000"


def planted_tokens() -> set[str]:
    """Every identifying string planted (name parts, IDs, the original UID root, the date)."""
    generic = {"the", "scan", "tolerated", "prefers", "mornings", "lane", "memorial",
               "hospital", "saint"}
    tokens: set[str] = set()
    for value in PLANTED.values():
        tokens.update(part for part in value.replace("^", " ").split()
                      if len(part) > 3 and part.lower() not in generic)
        tokens.add(value.replace("^", " ").split()[0])
    tokens.update({PLANTED["PatientID"], PLANTED["AccessionNumber"], PLANTED["StudyID"],
                   PLANTED["OtherPatientIDs"], PLANTED["DeviceSerialNumber"],
                   PLANTED["StationName"], UID_ROOT.rstrip("."), STUDY_DATE,
                   PLANTED["PatientBirthDate"]})
    return tokens


@dataclass
class Geometry:
    """Where a series' slices are: orientation (row, column direction cosines, LPS), pixel
    spacing (between rows, between columns), slice spacing, origin, gantry tilt (degrees)."""

    row: Sequence[float] = (1.0, 0.0, 0.0)
    col: Sequence[float] = (0.0, 1.0, 0.0)
    pixel_spacing: tuple[float, float] = (0.9, 0.8)
    slice_spacing: float = 2.5
    origin: Sequence[float] = (-60.0, -70.0, -20.0)
    tilt: float = 0.0

    def normal(self) -> np.ndarray:
        """The slice normal (row x column)."""
        return np.cross(np.asarray(self.row, float), np.asarray(self.col, float))

    def position(self, k: int) -> list[float]:
        """ImagePositionPatient of slice ``k`` (tilted: sheared along the column direction)."""
        step = self.slice_spacing * self.normal()
        if self.tilt:
            step = step + np.tan(np.radians(self.tilt)) * self.slice_spacing * \
                np.asarray(self.col, float)
        return [round(float(v), 6) for v in np.asarray(self.origin, float) + k * step]


AXIAL = Geometry()
SAGITTAL = Geometry(row=(0, 1, 0), col=(0, 0, -1), origin=(-30.0, -80.0, 60.0))
CORONAL = Geometry(row=(1, 0, 0), col=(0, 0, -1), origin=(-70.0, 20.0, 60.0))


def oblique(angle_x: float = 17.0, angle_z: float = 9.0) -> Geometry:
    """An oblique geometry: axial rotated about x then z, anisotropic pixels."""
    ax, az = np.radians(angle_x), np.radians(angle_z)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    rot = rz @ rx
    return Geometry(row=tuple(np.round(rot[:, 0], 8)), col=tuple(np.round(rot[:, 1], 8)),
                    pixel_spacing=(1.1, 0.7), slice_spacing=3.3, origin=(-55.5, -61.25, 10.75))


@dataclass
class SeriesSpec:
    """What to make: modality, geometry, matrix, slices, volumes (4D), pixel type."""

    modality: str = "MR"
    geometry: Geometry = field(default_factory=Geometry)
    rows: int = 12
    cols: int = 10
    slices: int = 6
    volumes: int = 1
    bits: int = 16
    #: BitsStored (default: ``bits``); values are drawn within it
    bits_stored: int = 0
    signed: bool = False
    rgb: bool = False
    slope: float | Sequence[float] = 1.0
    intercept: float = 0.0
    series_number: int = 1
    series_description: str = "T1_MPRAGE"
    protocol_name: str = "t1_mprage_sag"
    image_type: Sequence[str] = ("ORIGINAL", "PRIMARY", "M", "ND")
    repetition_time: float = 2000.0  # ms
    echo_time: float = 30.0  # ms
    #: diffusion: one b-value and one direction (LPS, unit) per volume
    bvals: Sequence[float] = ()
    bvecs: Sequence[Sequence[float]] = ()
    #: enhanced multi-frame (one file), instead of one file per slice
    multiframe: bool = False
    shuffle: bool = True
    #: instance numbers descending with position (acquired from the far end)
    descending: bool = False
    seed: int = 7
    study: int = 0
    subject: int = 0
    extra: dict = field(default_factory=dict)


def _uid(*parts: int) -> str:
    return UID_ROOT + ".".join(str(p) for p in parts)


def pixel_values(spec: SeriesSpec) -> np.ndarray:
    """The stored pixel values, shape (volumes, slices, rows, cols[, 3]), distinct per slice."""
    rng = np.random.default_rng(spec.seed)
    shape = (spec.volumes, spec.slices, spec.rows, spec.cols) + ((3,) if spec.rgb else ())
    if spec.rgb:
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    kind = np.int64
    stored = spec.bits_stored or spec.bits
    if spec.signed:
        low, high = -(2 ** (stored - 1)), 2 ** (stored - 1) - 1
    else:
        low, high = 0, 2 ** stored - 1
    if spec.bits >= 16:  # keep the spread moderate but use the sign and the top bits
        high = min(high, 30000 if spec.bits == 16 and spec.signed else high)
    values = rng.integers(low, high, size=shape, dtype=kind, endpoint=True)
    dtype = {8: np.int8 if spec.signed else np.uint8, 16: np.int16 if spec.signed else np.uint16,
             32: np.int32 if spec.signed else np.uint32}[spec.bits]
    return values.astype(dtype)


def _base(spec: SeriesSpec, sop_class: str, sop_uid: str) -> Dataset:
    from gantry.testing.factory import new_file_dataset

    ds = new_file_dataset(sop_class, sop_uid)
    ds.StudyInstanceUID = _uid(spec.subject + 1, spec.study + 1)
    ds.SeriesInstanceUID = _uid(spec.subject + 1, spec.study + 1, spec.series_number)
    ds.FrameOfReferenceUID = _uid(spec.subject + 1, spec.study + 1, 0, 9)
    ds.Modality = spec.modality
    ds.Manufacturer = "SIEMENS" if spec.modality == "MR" else "GE MEDICAL SYSTEMS"
    ds.ManufacturerModelName = "Prisma" if spec.modality == "MR" else "Revolution"
    day = (dt.date(2019, 3, 14) + dt.timedelta(days=40 * spec.study)).strftime("%Y%m%d")
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day
    ds.StudyTime = STUDY_TIME
    seconds = 10 * 3600 + 20 * 60 + 7 * spec.series_number
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = \
        f"{seconds // 3600:02d}{seconds // 60 % 60:02d}{seconds % 60:02d}.500000"
    # descriptions name the patient too (converters copy them into sidecars)
    ds.StudyDescription = f"BRAIN RESEARCH PROTOCOL {PLANTED['PatientName'].split('^')[0]}"
    ds.SeriesDescription = f"{spec.series_description} {PLANTED['PatientID']}"
    ds.ProtocolName = f"{spec.protocol_name} {PLANTED['PatientName'].split('^')[0]}"
    ds.PerformedProcedureStepDescription = f"MR brain {PLANTED['AccessionNumber']}"
    ds.RequestedProcedureDescription = f"MR brain for {PLANTED['PatientName'].split('^')[1]}"
    ds.SeriesNumber = spec.series_number
    ds.ImageType = list(spec.image_type)
    ds.PatientSex = "F"
    ds.PatientAge = "061Y"
    ds.PatientWeight = "71.5"
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    ds.PatientBirthDate = PLANTED["PatientBirthDate"]
    ds.BodyPartExamined = "BRAIN" if spec.modality == "MR" else "CHEST"
    ds.BurnedInAnnotation = "NO"  # (true: the pixels are random numbers)
    ds.PositionReferenceIndicator = ""
    if spec.modality == "MR":
        ds.MagneticFieldStrength = "3"
        ds.ScanningSequence = "GR"
        ds.SequenceVariant = "SP"
        ds.MRAcquisitionType = "2D"
        ds.FlipAngle = "9"
        ds.InPlanePhaseEncodingDirection = "COL"
        ds.ImagingFrequency = "123.2"
        ds.PixelBandwidth = "240"
        if not spec.multiframe:
            ds.RepetitionTime = f"{spec.repetition_time:g}"
            ds.EchoTime = f"{spec.echo_time:g}"
    else:
        ds.KVP = "120"
        ds.GantryDetectorTilt = f"{spec.geometry.tilt:g}"
    ds.Rows, ds.Columns = spec.rows, spec.cols
    if spec.rgb:
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
        ds.PlanarConfiguration = 0
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
        ds.PixelRepresentation = 0
    else:
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = spec.bits
        ds.BitsStored = spec.bits_stored or spec.bits
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if spec.signed else 0
    for keyword, value in spec.extra.items():
        setattr(ds, keyword, value)
    return ds


def _slope(spec: SeriesSpec, index: int) -> float:
    if isinstance(spec.slope, int | float):
        return float(spec.slope)
    return float(spec.slope[index % len(spec.slope)])


def make_series(spec: SeriesSpec) -> list[Dataset]:
    """The series' datasets (each with file meta), in a shuffled order unless ``shuffle`` is
    off: files are never handed over sorted."""
    values = pixel_values(spec)
    if spec.multiframe:
        return [_enhanced(spec, values)]
    sop_class = {"MR": MRImageStorage, "CT": CTImageStorage}.get(spec.modality,
                                                                 SecondaryCaptureImageStorage)
    geo = spec.geometry
    out: list[Dataset] = []
    number = 0
    slice_times = _slice_times(spec)
    for vol in range(spec.volumes):
        for k in range(spec.slices):
            number += 1
            ds = _base(spec, sop_class, _uid(spec.subject + 1, spec.study + 1,
                                              spec.series_number, number))
            ds.InstanceNumber = (spec.volumes * spec.slices + 1 - number) if spec.descending \
                else number
            ds.AcquisitionNumber = vol + 1 if spec.volumes > 1 else 1
            ds.ImagePositionPatient = geo.position(k)
            ds.ImageOrientationPatient = [*map(float, geo.row), *map(float, geo.col)]
            ds.PixelSpacing = [f"{geo.pixel_spacing[0]:g}", f"{geo.pixel_spacing[1]:g}"]
            ds.SliceThickness = f"{geo.slice_spacing:g}"
            ds.SpacingBetweenSlices = f"{geo.slice_spacing:g}"
            ds.SliceLocation = f"{float(np.dot(geo.position(k), geo.normal())):.4f}"
            if spec.modality == "CT" or spec.slope != 1.0 or spec.intercept:
                ds.RescaleSlope = f"{_slope(spec, number - 1):g}"
                ds.RescaleIntercept = f"{spec.intercept:g}"
                if spec.modality == "CT":
                    ds.RescaleType = "HU"
            if spec.volumes > 1:
                ds.TemporalPositionIdentifier = vol + 1
                ds.NumberOfTemporalPositions = spec.volumes
                acq = 10 * 3600 + 20 * 60 + vol * spec.repetition_time / 1000.0 + \
                    slice_times[k]
                ds.AcquisitionTime = (f"{int(acq // 3600):02d}{int(acq // 60 % 60):02d}"
                                      f"{acq % 60:09.6f}")
            if spec.bvals:
                ds.DiffusionBValue = float(spec.bvals[vol])
                ds.DiffusionGradientOrientation = [float(v) for v in spec.bvecs[vol]]
                ds.DiffusionDirectionality = "DIRECTIONAL" if spec.bvals[vol] else "NONE"
            ds.PixelData = values[vol, k].tobytes()
            out.append(ds)
    if spec.shuffle:
        order = np.random.default_rng(spec.seed + 1).permutation(len(out))
        out = [out[i] for i in order]
    return out


def _slice_times(spec: SeriesSpec) -> list[float]:
    """Interleaved acquisition: slice k's offset in seconds within the repetition."""
    tr = spec.repetition_time / 1000.0
    order = list(range(0, spec.slices, 2)) + list(range(1, spec.slices, 2))
    times = [0.0] * spec.slices
    for rank, k in enumerate(order):
        times[k] = round(rank * tr / spec.slices, 4)
    return times


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _enhanced(spec: SeriesSpec, values: np.ndarray) -> Dataset:
    """One enhanced MR multi-frame file (per-frame functional groups; frames shuffled)."""
    geo = spec.geometry
    ds = _base(spec, EnhancedMRImageStorage,
               _uid(spec.subject + 1, spec.study + 1, spec.series_number, 1))
    ds.InstanceNumber = 1
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    frames = [(vol, k) for vol in range(spec.volumes) for k in range(spec.slices)]
    if spec.shuffle and spec.volumes == 1:  # (scanners store 4-D frames in dimension order)
        order = np.random.default_rng(spec.seed + 1).permutation(len(frames))
        frames = [frames[i] for i in order]
    ds.NumberOfFrames = len(frames)
    ds.DimensionOrganizationSequence = DicomSequence([_item(DimensionOrganizationUID=_uid(
        spec.subject + 1, spec.study + 1, spec.series_number, 0, 1))])
    pointers = [(0x00209056, 0x00209111), (0x00209057, 0x00209111), (0x00209128, 0x00209111)]
    ds.DimensionIndexSequence = DicomSequence([_item(
        DimensionOrganizationUID=ds.DimensionOrganizationSequence[0].DimensionOrganizationUID,
        DimensionIndexPointer=index, FunctionalGroupPointer=group)
        for index, group in pointers])
    shared = _item(
        PixelMeasuresSequence=DicomSequence([_item(
            PixelSpacing=[f"{geo.pixel_spacing[0]:g}", f"{geo.pixel_spacing[1]:g}"],
            SliceThickness=f"{geo.slice_spacing:g}",
            SpacingBetweenSlices=f"{geo.slice_spacing:g}")]),
        PlaneOrientationSequence=DicomSequence([_item(
            ImageOrientationPatient=[*map(float, geo.row), *map(float, geo.col)])]),
        MRTimingAndRelatedParametersSequence=DicomSequence([_item(
            RepetitionTime=float(spec.repetition_time), FlipAngle=9.0)]),
        MREchoSequence=DicomSequence([_item(EffectiveEchoTime=float(spec.echo_time))]),
    )
    if spec.slope != 1.0 or spec.intercept:
        shared.PixelValueTransformationSequence = DicomSequence([_item(
            RescaleSlope=f"{_slope(spec, 0):g}", RescaleIntercept=f"{spec.intercept:g}",
            RescaleType="US")])
    ds.SharedFunctionalGroupsSequence = DicomSequence([shared])
    per_frame = []
    for vol, k in frames:
        item = _item(
            FrameContentSequence=DicomSequence([_item(
                StackID="1", InStackPositionNumber=k + 1, TemporalPositionIndex=vol + 1,
                DimensionIndexValues=[1, k + 1, vol + 1])]),
            PlanePositionSequence=DicomSequence([_item(ImagePositionPatient=geo.position(k))]),
        )
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = DicomSequence(per_frame)
    ds.PixelData = b"".join(values[vol, k].tobytes() for vol, k in frames)
    return ds


def write_series(datasets: Sequence[Dataset], folder: str | Path, prefix: str = "") -> list[Path]:
    """Save datasets as Part 10 files named by position in the list (never by content)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, ds in enumerate(datasets):
        path = folder / f"{prefix}{i:05d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def mr_study(root: str | Path, *, series: int = 4, slices: int = 24, rows: int = 64,
             cols: int = 64, subject: int = 0) -> list[Path]:
    """A small MR study under ``root``: T1w, T2w, FLAIR, bold (4D) and dwi series, cycled up
    to ``series`` series of about ``slices`` slices each (the benchmark's input)."""
    kinds = [  # (description, protocol, volumes, TR ms, TE ms, extra)
        ("T1_MPRAGE", "t1_mprage_sag", 1, 2300.0, 2.5, {"InversionTime": "900"}),
        ("T2_TSE", "t2_tse_tra", 1, 6000.0, 90.0, {}),
        ("FLAIR_tra", "t2_flair_tra", 1, 9000.0, 120.0, {"InversionTime": "2500"}),
        ("ep2d_bold_rest", "func_rest", 4, 2000.0, 30.0, {}),
        ("ep2d_diff", "dwi_dir6", 4, 5000.0, 80.0, {}),
    ]
    paths: list[Path] = []
    for s in range(series):
        desc, protocol, volumes, tr, te, extra = kinds[s % len(kinds)]
        bvals: list[float] = []
        bvecs: list[list[float]] = []
        if desc == "ep2d_diff":
            bvals = [0.0] + [1000.0] * (volumes - 1)
            dirs = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.7071068, 0.7071068, 0]]
            bvecs = [[0.0, 0.0, 0.0], *dirs[:volumes - 1]]
        per_volume = max(1, slices // volumes)
        spec = SeriesSpec(rows=rows, cols=cols, slices=per_volume, volumes=volumes,
                          series_number=s + 1, series_description=desc, protocol_name=protocol,
                          bvals=bvals, bvecs=bvecs, subject=subject, seed=s + 11,
                          repetition_time=tr, echo_time=te,
                          image_type=("ORIGINAL", "PRIMARY", "DIFFUSION" if bvals else "M",
                                      "ND"), extra=extra)
        paths += write_series(make_series(spec), Path(root) / f"series{s + 1:03d}")
    return paths
