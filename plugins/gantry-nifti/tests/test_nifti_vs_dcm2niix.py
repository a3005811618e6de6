"""The ``nifti`` export of de-identified series against dcm2niix (the PyPI wheel's binary) on
the original files: the same sform, qform, shape, voxel values, scaling and b-vectors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from gantry_nifti.synthetic import (
    AXIAL,
    CORONAL,
    SAGITTAL,
    SeriesSpec,
    make_series,
    oblique,
    pixel_values,
    write_series,
)

from gantry import Session

SECRET = bytes(range(32))

DWI = dict(volumes=3, bvals=[0, 1000, 2000], bvecs=[[0, 0, 0], [0.6, 0.8, 0], [0, 0.6, -0.8]])
#: series number -> spec; 40+ differ from dcm2niix on purpose (see test_where_we_differ)
CASES = {
    1: SeriesSpec(geometry=AXIAL),
    2: SeriesSpec(geometry=SAGITTAL),
    3: SeriesSpec(geometry=CORONAL),
    4: SeriesSpec(geometry=oblique()),
    5: SeriesSpec(geometry=oblique(31.0, -12.0), descending=True),
    6: SeriesSpec(volumes=4, geometry=oblique()),
    7: SeriesSpec(geometry=oblique(), **DWI),
    8: SeriesSpec(multiframe=True, geometry=oblique()),
    9: SeriesSpec(modality="CT", signed=True, intercept=-1024),
    10: SeriesSpec(slope=[1.0, 2.0, 0.5]),
    11: SeriesSpec(slope=2.5, intercept=3.0),
    12: SeriesSpec(rgb=True, modality="OT"),
    13: SeriesSpec(bits=8),
    14: SeriesSpec(bits=32, signed=True),
    15: SeriesSpec(bits=16, signed=True, geometry=SAGITTAL),
    16: SeriesSpec(bits_stored=12, geometry=CORONAL),  # uint16 of 12 bits: int16 (dcm2niix)
    # 3-D acquisitions: dcm2niix rotates them to the closest of RAS+, and so do we
    17: SeriesSpec(geometry=SAGITTAL, extra={"MRAcquisitionType": "3D"}),
    18: SeriesSpec(geometry=oblique(25.0, 40.0), extra={"MRAcquisitionType": "3D"}),
    19: SeriesSpec(multiframe=True, geometry=CORONAL, extra={"MRAcquisitionType": "3D"}),
    41: SeriesSpec(multiframe=True, volumes=2, geometry=SAGITTAL),
    42: SeriesSpec(bits=8, signed=True),
    43: SeriesSpec(bits=32),
}


@pytest.fixture(scope="module")
def converted(tmp_path_factory, dcm2niix_bin):
    """Every case de-identified and exported by gantry, and converted by dcm2niix."""
    root = tmp_path_factory.mktemp("n")
    src = root / "src"
    for number, spec in CASES.items():
        spec.series_number = number
        spec.seed = number
        write_series(make_series(spec), src / f"s{number}")
    ref = root / "dcm2niix"
    ref.mkdir()
    for number in CASES:  # one call per series (a batch run garbled an enhanced file here)
        subprocess.run([dcm2niix_bin, "-z", "n", "-b", "n", "-f", "%s", "-o", str(ref),
                        str(src / f"s{number}")], check=True, capture_output=True, timeout=60)
    out = root / "gantry"
    with Session("memory://", secret=SECRET) as session:
        _ingest, export = session.deidentify(str(src), str(out), format="nifti")
    assert export.failed == 0 and export.refused == 0, export.errors
    assert export.skipped == 0, export.notes
    return ref, out


def _ours(out: Path, number: int) -> Path:
    found = [p for p in out.rglob(f"{number}_*.nii.gz")]
    assert len(found) == 1, found
    return found[0]


def _theirs(ref: Path, number: int) -> Path:
    found = sorted(ref.glob(f"{number}.nii")) or sorted(ref.glob(f"{number}[a-z].nii"))
    assert found, sorted(p.name for p in ref.iterdir())
    return found[0]


def _truth(spec: SeriesSpec) -> np.ndarray:
    values = pixel_values(spec)[:, :, ::-1, :]  # rows flipped
    arr = np.moveaxis(values, (0, 1, 2, 3), (3, 2, 1, 0))
    return arr[..., 0] if spec.volumes == 1 else arr


@pytest.mark.component
@pytest.mark.parametrize("number", [n for n in CASES if n < 40])
def test_same_geometry_and_voxels_as_dcm2niix(converted, number):
    ref, out = converted
    theirs = nib.load(_theirs(ref, number))
    ours = nib.load(_ours(out, number))
    assert ours.shape == theirs.shape
    assert np.allclose(ours.get_sform(), theirs.get_sform(), atol=1e-4)
    assert np.allclose(ours.get_qform(), theirs.get_qform(), atol=1e-4)
    assert int(ours.header["sform_code"]) == int(theirs.header["sform_code"]) == 1
    assert int(ours.header["qform_code"]) == int(theirs.header["qform_code"]) == 1
    assert ours.header.get_data_dtype() == theirs.header.get_data_dtype()
    a, b = np.asanyarray(ours.dataobj), np.asanyarray(theirs.dataobj)
    if a.dtype.names:
        assert np.array_equal(a, b)
    else:
        assert np.array_equal(ours.dataobj.get_unscaled(), theirs.dataobj.get_unscaled())
        assert (ours.dataobj.slope, ours.dataobj.inter) == \
            pytest.approx((theirs.dataobj.slope, theirs.dataobj.inter))
    if CASES[number].bvals:
        stem = str(_theirs(ref, number))[:-4]
        ours_stem = str(_ours(out, number))[:-7]
        assert np.allclose(np.loadtxt(ours_stem + ".bval"), np.loadtxt(stem + ".bval"))
        assert np.allclose(np.loadtxt(ours_stem + ".bvec"), np.loadtxt(stem + ".bvec"),
                           atol=1e-5)


@pytest.mark.component
@pytest.mark.parametrize("number", [n for n in CASES if n > 40])
def test_where_we_differ_we_keep_the_stored_values(converted, number):
    """dcm2niix reads signed 8-bit as unsigned, writes uint32 as int32, and orders the frames
    of these synthetic 4-D enhanced files otherwise; the geometry still agrees, and ours holds
    exactly the stored values, each at its position."""
    ref, out = converted
    theirs = nib.load(_theirs(ref, number))
    ours = nib.load(_ours(out, number))
    assert np.allclose(ours.get_sform(), theirs.get_sform(), atol=1e-4)
    assert np.allclose(ours.get_qform(), theirs.get_qform(), atol=1e-4)
    spec = CASES[number]
    assert np.array_equal(np.asanyarray(ours.dataobj), _truth(spec))
    assert ours.header.get_data_dtype() == pixel_values(spec).dtype


@pytest.mark.component
def test_headers_carry_nothing_but_geometry(converted):
    _ref, out = converted
    for path in out.rglob("*.nii.gz"):
        header = nib.load(path).header
        assert header["descrip"].tobytes().strip(b"\x00") == b""
        assert header["aux_file"].tobytes().strip(b"\x00") == b""
        assert header["intent_name"].tobytes().strip(b"\x00") == b""
        assert not header.extensions


@pytest.mark.component
def test_a_real_enhanced_philips_3d_series_as_dcm2niix(tmp_path, dcm2niix_bin):
    """nibabel's test file: a Philips enhanced MR MPRAGE (176 oblique sagittal frames, a 3-D
    acquisition dcm2niix turns). dcm2niix's ``-p n``: the standard rescale slope, not
    Philips' private precise one (private tags do not survive de-identification)."""
    import gzip
    from importlib.resources import files

    packed = files("nibabel") / "nicom" / "tests" / "data" / "philips_mprage.dcm.gz"
    src = tmp_path / "src"
    src.mkdir()
    (src / "mprage.dcm").write_bytes(gzip.decompress(packed.read_bytes()))
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run([dcm2niix_bin, "-p", "n", "-z", "n", "-b", "n", "-f", "%s", "-o", str(ref),
                    str(src)], check=True, capture_output=True, timeout=120)
    with Session("memory://", secret=SECRET, workers=1) as session:
        _ingest, export = session.deidentify(str(src), str(tmp_path / "out"), format="nifti")
    assert export.done == 1 and not export.notes
    theirs = nib.load(next(ref.glob("*.nii")))
    ours = nib.load(next((tmp_path / "out").rglob("*.nii.gz")))
    assert ours.shape == theirs.shape == (176, 256, 256)
    assert np.allclose(ours.get_sform(), theirs.get_sform(), atol=1e-4)
    assert np.allclose(ours.get_qform(), theirs.get_qform(), atol=1e-4)
    assert ours.header.get_data_dtype() == theirs.header.get_data_dtype()
    assert ours.dataobj.slope == pytest.approx(theirs.dataobj.slope)
    assert np.array_equal(ours.dataobj.get_unscaled(), theirs.dataobj.get_unscaled())


def _two_echoes(number: int) -> list:
    """One series of two echoes (EchoNumbers 1 and 2), files mixed."""
    datasets = []
    for echo, te in ((1, 4.92), (2, 7.38)):
        for ds in make_series(SeriesSpec(series_number=number, echo_time=te, seed=echo,
                                         series_description="gre_field_mapping",
                                         extra={"EchoNumbers": echo})):
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = \
                f"{ds.SOPInstanceUID}.{echo}"
            ds.InstanceNumber = ds.InstanceNumber + 100 * echo
            datasets.append(ds)
    return datasets[::2] + datasets[1::2]


@pytest.mark.component
def test_multi_echo_series_one_volume_per_echo_as_dcm2niix(tmp_path, dcm2niix_bin):
    src = tmp_path / "src"
    write_series(_two_echoes(5), src / "s5")
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run([dcm2niix_bin, "-z", "n", "-b", "n", "-f", "%s", "-o", str(ref), str(src)],
                   check=True, capture_output=True, timeout=60)
    theirs = sorted(ref.glob("*.nii"))
    assert [p.name for p in theirs] == ["5_e1.nii", "5_e2.nii"]
    # (research: clean-descriptors keeps the description that says "field map")
    with Session("memory://", profile="ps3.15/research", secret=SECRET, workers=1) as session:
        _ingest, export = session.deidentify(str(src), str(tmp_path / "out"), format="nifti")
        assert export.done == 12 and not export.notes
        bids = tmp_path / "bids"
        session.export(str(bids), format="bids")
    ours = sorted((tmp_path / "out").rglob("*.nii.gz"))
    assert [p.name.rsplit("_", 1)[1] for p in ours] == ["e1.nii.gz", "e2.nii.gz"]
    for mine, other in zip(ours, theirs, strict=True):
        a, b = nib.load(mine), nib.load(other)
        assert np.allclose(a.get_sform(), b.get_sform(), atol=1e-4)
        assert np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
    # a field map's magnitudes in BIDS: magnitude1, magnitude2
    names = sorted(p.name.rsplit("_", 1)[1] for p in bids.rglob("*.nii.gz"))
    assert names == ["magnitude1.nii.gz", "magnitude2.nii.gz"]


@pytest.mark.component
def test_magnitude_and_phase_of_one_series_apart_as_dcm2niix(tmp_path, dcm2niix_bin):
    datasets = []
    for part, kind in ((1, "M"), (2, "P")):
        for ds in make_series(SeriesSpec(series_number=6, seed=part, image_type=(
                "ORIGINAL", "PRIMARY", kind, "ND"))):
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = \
                f"{ds.SOPInstanceUID}.{part}"
            datasets.append(ds)
    src = tmp_path / "src"
    write_series(datasets, src / "s6")
    ref = tmp_path / "ref"
    ref.mkdir()
    subprocess.run([dcm2niix_bin, "-z", "n", "-b", "n", "-f", "%s", "-o", str(ref), str(src)],
                   check=True, capture_output=True, timeout=60)
    with Session("memory://", secret=SECRET, workers=1) as session:
        _ingest, export = session.deidentify(str(src), str(tmp_path / "out"), format="nifti")
        assert export.done == 12 and not export.notes
    ours = {p.name.endswith("_ph.nii.gz"): p for p in (tmp_path / "out").rglob("*.gz")}
    theirs = {p.name.endswith("_ph.nii"): p for p in ref.glob("*.nii")}
    assert set(ours) == set(theirs) == {False, True}, sorted(p.name for p in ref.iterdir())
    for phase in (False, True):
        a, b = nib.load(ours[phase]), nib.load(theirs[phase])
        assert np.allclose(a.get_sform(), b.get_sform(), atol=1e-4)
        assert np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
