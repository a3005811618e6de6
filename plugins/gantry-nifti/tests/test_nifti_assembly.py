"""assemble_volume: slices placed by position, volumes by time, refusals with reasons."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from gantry_nifti.api import Refusal, assemble_volume
from gantry_nifti.synthetic import (
    AXIAL,
    SAGITTAL,
    Geometry,
    SeriesSpec,
    make_series,
    oblique,
    pixel_values,
)


def _roundtrip(datasets):
    """The datasets as a reader would see them (written and read back)."""
    out = []
    for ds in datasets:
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(pydicom.dcmread(io.BytesIO(buf.getvalue())))
    return out


def _expected(spec: SeriesSpec) -> np.ndarray:
    """The ground truth: stored values as [i, j(flipped), k(, t)]."""
    values = pixel_values(spec)  # (t, k, rows, cols)
    arr = values[:, :, ::-1, :].transpose(3, 2, 1, 0)
    return arr[..., 0] if spec.volumes == 1 else arr


@pytest.mark.parametrize("spec", [
    SeriesSpec(geometry=AXIAL), SeriesSpec(geometry=SAGITTAL), SeriesSpec(geometry=oblique()),
    SeriesSpec(geometry=oblique(), descending=True), SeriesSpec(volumes=3),
    SeriesSpec(multiframe=True, geometry=oblique()),
    SeriesSpec(multiframe=True, volumes=2, geometry=SAGITTAL),
    SeriesSpec(bits=8, signed=True), SeriesSpec(bits=32), SeriesSpec(bits=32, signed=True),
], ids=["axial", "sagittal", "oblique", "descending", "4d", "multiframe", "multiframe-4d",
        "int8", "uint32", "int32"])
def test_voxels_come_from_the_slice_at_that_position(spec):
    vol = assemble_volume(_roundtrip(make_series(spec)))
    assert np.array_equal(vol.array, _expected(spec))
    assert vol.array.dtype == pixel_values(spec).dtype
    # k ascends along the normal: each slice's centre is one spacing further
    step = vol.affine[:3, 2]
    assert np.isclose(np.linalg.norm(step), spec.geometry.slice_spacing)
    assert len(vol.frames) == spec.slices * spec.volumes


def test_frames_map_back_to_their_instance():
    spec = SeriesSpec(volumes=2)
    datasets = _roundtrip(make_series(spec))
    vol = assemble_volume(datasets)
    for ref in vol.frames:
        ds = datasets[ref.dataset]
        plane = ds.pixel_array[::-1].T
        assert np.array_equal(vol.array[:, :, ref.k, ref.t], plane)


def test_rescale_kept_as_scl_or_applied_as_float_when_it_varies():
    same = assemble_volume(_roundtrip(make_series(SeriesSpec(slope=2.5, intercept=-3))))
    assert (same.slope, same.intercept) == (2.5, -3.0)
    assert same.array.dtype == np.uint16
    varying = SeriesSpec(slope=[1.0, 2.0, 0.5])
    vol = assemble_volume(_roundtrip(make_series(varying)))
    assert vol.array.dtype == np.float32 and (vol.slope, vol.intercept) == (1.0, 0.0)
    assert np.all(vol.array >= 0) and vol.array.max() > 65535 * 1.5 - 1


def test_rgb_is_one_structured_voxel():
    vol = assemble_volume(_roundtrip(make_series(SeriesSpec(rgb=True, modality="OT"))))
    assert vol.rgb and vol.array.dtype.names == ("R", "G", "B")


def test_diffusion_directions_in_the_voxel_frame():
    spec = SeriesSpec(volumes=3, bvals=[0, 1000, 1000], geometry=oblique(),
                      bvecs=[[0, 0, 0], [0.6, 0.8, 0], [0, 0.6, -0.8]])
    vol = assemble_volume(_roundtrip(make_series(spec)))
    assert vol.bvals == [0.0, 1000.0, 1000.0]
    geo = spec.geometry
    row, col = np.array(geo.row), np.array(geo.col)
    g = np.array([0.6, 0.8, 0])
    assert np.allclose(vol.bvecs[:, 1], [g @ row, -(g @ col), g @ np.cross(row, col)], atol=1e-6)
    assert np.allclose(vol.bvecs[:, 0], 0)


def test_slice_timing_from_acquisition_times():
    vol = assemble_volume(_roundtrip(make_series(SeriesSpec(volumes=2, slices=4))))
    assert vol.slice_timing == pytest.approx([0.0, 1.0, 0.5, 1.5], abs=1e-3)


def _drop(datasets, index):
    return [ds for i, ds in enumerate(datasets) if i != index]


def test_refusals_name_the_reason():
    spec = SeriesSpec(shuffle=False, slices=6)
    base = make_series(spec)
    missing = _roundtrip(base)
    del missing[2].ImagePositionPatient
    cases = {
        "missing positions": missing,
        "uneven slice spacing": _roundtrip(_drop(base, 3)),
        "gantry tilt": _roundtrip(make_series(SeriesSpec(modality="CT", signed=True,
                                                         geometry=Geometry(tilt=12.0)))),
        "single slice": _roundtrip(base[:1]),
        "localizer": _roundtrip(make_series(SeriesSpec(image_type=("ORIGINAL", "PRIMARY",
                                                                   "LOCALIZER")))),
        "mosaic": _roundtrip(make_series(SeriesSpec(slices=1, volumes=3, image_type=(
            "ORIGINAL", "PRIMARY", "M", "ND", "MOSAIC")))),
    }
    mixed = _roundtrip(base)
    mixed[1].ImageOrientationPatient = [0, 1, 0, 0, 0, -1]
    cases["mixed orientations"] = mixed
    matrix = _roundtrip(base)
    small = _roundtrip(make_series(SeriesSpec(rows=8, cols=8, shuffle=False)))[1]
    matrix[1] = small
    cases["mixed matrix sizes"] = matrix
    fmri = _roundtrip(make_series(SeriesSpec(volumes=2, shuffle=False)))
    cases["missing slices"] = fmri[:-1]
    for words, datasets in cases.items():
        with pytest.raises(Refusal) as info:
            assemble_volume(datasets)
        assert words in info.value.reason, (words, info.value.reason)
        assert "\n" not in info.value.reason


@pytest.mark.parametrize("signed", [False, True])
def test_stored_bits_below_allocated_read_as_pydicom_reads_them(signed):
    spec = SeriesSpec(bits=16, signed=signed, shuffle=False)
    datasets = make_series(spec)
    for ds in datasets:
        ds.BitsStored, ds.HighBit = 12, 11
        raw = np.frombuffer(ds.PixelData, dtype="<i2" if signed else "<u2").copy()
        ds.PixelData = (raw ^ np.array(0x7000, dtype=raw.dtype)).tobytes()  # junk high bits
    datasets = _roundtrip(datasets)
    vol = assemble_volume(datasets)
    for ref in vol.frames:
        assert np.array_equal(vol.array[:, :, ref.k], datasets[ref.dataset].pixel_array[::-1].T)
