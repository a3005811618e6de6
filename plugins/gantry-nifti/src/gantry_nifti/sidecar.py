"""The JSON sidecar of a volume: acquisition parameters only, read from the de-identified
reference instance through an allow-list.

Never copied (dcm2niix and heudiconv copy some of them): names, IDs, UIDs, dates and times,
institution, department, station, device serial number, descriptions, comments, protocol
and series names, operators and physicians. What the profile removed is simply absent.
"""

from __future__ import annotations

from typing import Any

from gantry_nifti.api import Volume

#: the sidecar's ``ConversionSoftware``
CONVERSION_SOFTWARE = "gantry-nifti"

#: (sidecar key, DICOM keyword, unit factor or None for text/list values)
_FIELDS: tuple[tuple[str, str, float | None], ...] = (
    ("Modality", "Modality", None),
    ("MagneticFieldStrength", "MagneticFieldStrength", 1.0),
    ("ImagingFrequency", "ImagingFrequency", 1.0),
    ("Manufacturer", "Manufacturer", None),
    ("ManufacturersModelName", "ManufacturerModelName", None),
    ("ScanningSequence", "ScanningSequence", None),
    ("SequenceVariant", "SequenceVariant", None),
    ("ScanOptions", "ScanOptions", None),
    ("MRAcquisitionType", "MRAcquisitionType", None),
    ("ImageType", "ImageType", None),
    ("SliceThickness", "SliceThickness", 1.0),
    ("SpacingBetweenSlices", "SpacingBetweenSlices", 1.0),
    ("EchoTime", "EchoTime", 0.001),
    ("RepetitionTime", "RepetitionTime", 0.001),
    ("InversionTime", "InversionTime", 0.001),
    ("FlipAngle", "FlipAngle", 1.0),
    ("EchoTrainLength", "EchoTrainLength", 1.0),
    ("PixelBandwidth", "PixelBandwidth", 1.0),
    ("PercentPhaseFieldOfView", "PercentPhaseFOV", 1.0),
    ("KVP", "KVP", 1.0),
    ("ReconstructionDiameter", "ReconstructionDiameter", 1.0),
    ("ConvolutionKernel", "ConvolutionKernel", None),
)

#: enhanced multi-frame objects keep these in functional groups: (key, sequence, keyword, unit)
_GROUP_FIELDS = (
    ("RepetitionTime", "MRTimingAndRelatedParametersSequence", "RepetitionTime", 0.001),
    ("FlipAngle", "MRTimingAndRelatedParametersSequence", "FlipAngle", 1.0),
    ("EchoTrainLength", "MRTimingAndRelatedParametersSequence", "EchoTrainLength", 1.0),
    ("EchoTime", "MREchoSequence", "EffectiveEchoTime", 0.001),
    ("SliceThickness", "PixelMeasuresSequence", "SliceThickness", 1.0),
    ("InversionTime", "MRModifierSequence", "InversionTimes", 0.001),
)


def _number(value: Any) -> float | None:
    if hasattr(value, "__iter__") and not isinstance(value, str | bytes):  # multi-valued
        values = list(value)
        value = values[0] if values else None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # not NaN


def _clean(value: float) -> float | int:
    rounded = round(value, 6)
    return int(rounded) if rounded == int(rounded) and abs(rounded) < 1e9 else rounded


def _text(value: Any) -> Any:
    if value is None or value == "":
        return None
    if hasattr(value, "__iter__") and not isinstance(value, str | bytes):
        return [str(v) for v in value]
    return str(value)


def _group_value(ds: Any, sequence: str, keyword: str) -> Any:
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        items = ds.get(groups)
        if not items:
            continue
        item = items[0]
        if sequence in item and len(item[sequence].value):
            value = item[sequence].value[0].get(keyword)
            if value not in (None, ""):
                return value
    return None


def repetition_time(ds: Any) -> float | None:
    """The repetition time in seconds (classic or enhanced object), if stated."""
    value = _number(ds.get("RepetitionTime"))
    if value is None:
        value = _number(_group_value(ds, "MRTimingAndRelatedParametersSequence",
                                     "RepetitionTime"))
    return None if value is None else value / 1000.0


def phase_axis(ds: Any) -> int | None:
    """The voxel axis (0 ``i``, 1 ``j``) of in-plane phase encoding, when the header says."""
    direction = str(ds.get("InPlanePhaseEncodingDirection", "") or "").upper()
    if not direction:
        direction = str(_group_value(ds, "MRFOVGeometrySequence",
                                     "InPlanePhaseEncodingDirection") or "").upper()
    return {"ROW": 0, "COL": 1}.get(direction)


def sidecar_keys() -> frozenset[str]:
    """The keys :func:`sidecar` writes before ``ConversionSoftware`` (a BIDS rule's extra
    fields come after it)."""
    return frozenset({key for key, _, _ in _FIELDS} | {key for key, *_ in _GROUP_FIELDS}
                     | {"PhaseEncodingAxis", "SliceTiming"})


def sidecar(ds: Any, volume: Volume, *, slice_timing: bool = True,
            extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The sidecar of ``volume`` from its de-identified reference dataset ``ds``."""
    from gantry_nifti import __version__

    out: dict[str, Any] = {}
    for key, keyword, unit in _FIELDS:
        value = ds.get(keyword)
        if unit is None:
            text = _text(value)
            if text:
                out[key] = text
            continue
        number = _number(value)
        if number is not None:
            out[key] = _clean(number * unit)
    for key, sequence, keyword, unit in _GROUP_FIELDS:
        if key in out:
            continue
        number = _number(_group_value(ds, sequence, keyword))
        if number is not None:
            out[key] = _clean(number * unit)
    axis = phase_axis(ds)
    if axis is not None:
        out["PhaseEncodingAxis"] = "ij"[axis]
    if slice_timing and volume.slice_timing is not None:
        out["SliceTiming"] = [round(t, 5) for t in volume.slice_timing]
    out["ConversionSoftware"] = CONVERSION_SOFTWARE
    out["ConversionSoftwareVersion"] = __version__
    out.update(extra or {})
    return out
