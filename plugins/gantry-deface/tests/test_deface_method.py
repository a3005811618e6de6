"""The method on phantoms: the face goes, the brain stays, non-head series are left alone."""

from __future__ import annotations

import numpy as np
import pytest
from gantry_deface.api import plan_series, removal_masks
from gantry_deface.testing import (
    PhantomSpec,
    make_phantom,
    phantom_series,
    removal_scores,
)

CASES = [
    PhantomSpec(contrast="CT", pitch=18.0, roll=-6.0, matrix=80, pixel_spacing=3.0,
                slice_spacing=3.0, slices=70, seed=1),
    PhantomSpec(contrast="T1", pitch=-19.0, yaw=8.0, plane="sagittal", matrix=80,
                pixel_spacing=3.0, slice_spacing=3.0, slices=64, seed=2),
    PhantomSpec(contrast="T2", pitch=9.0, roll=9.0, plane="coronal", matrix=80,
                pixel_spacing=3.0, slice_spacing=3.0, slices=70, seed=3),
    # a field of view that cuts the top of the head
    PhantomSpec(contrast="T1", pitch=-5.0, matrix=80, pixel_spacing=3.0, slice_spacing=3.0,
                slices=60, offset=(0.0, 0.0, 40.0), seed=4),
]


@pytest.mark.parametrize("spec", CASES, ids=lambda s: f"{s.contrast}-{s.plane}-{s.pitch:+.0f}")
def test_face_removed_and_brain_untouched(spec: PhantomSpec) -> None:
    phantom = make_phantom(spec)
    defacing = plan_series(phantom_series(phantom))
    assert defacing.defaced, defacing.reason
    scores = removal_scores(phantom, removal_masks(defacing))
    assert scores["face"] >= 0.98, scores
    assert scores["brain_kept"] >= 0.999, scores
    assert scores["ears"] >= 0.9, scores


def test_a_chest_is_not_a_head() -> None:
    chest = make_phantom(PhantomSpec(contrast="CT", anatomy="chest", matrix=96,
                                     pixel_spacing=4.0, slice_spacing=4.0, slices=40))
    defacing = plan_series(phantom_series(chest))
    assert not defacing.defaced
    assert not defacing.head
    assert "not a head" in defacing.reason or "no braincase" in defacing.reason


def test_a_single_slice_and_a_localizer_are_left_alone() -> None:
    spec = PhantomSpec(contrast="CT", matrix=48, pixel_spacing=5.0, slice_spacing=5.0,
                       slices=3)
    datasets = phantom_series(make_phantom(spec))
    single = plan_series(datasets[1:2])
    assert not single.defaced and not single.head
    assert "single slice" in single.reason
    for ds in datasets:
        ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    scout = plan_series(datasets)
    assert not scout.defaced and not scout.head and "localizer" in scout.reason


def test_other_modalities_are_left_alone() -> None:
    spec = PhantomSpec(contrast="CT", matrix=48, pixel_spacing=5.0, slice_spacing=5.0,
                       slices=4)
    datasets = phantom_series(make_phantom(spec))
    for ds in datasets:
        ds.Modality = "PT"
    result = plan_series(datasets)
    assert not result.defaced and "Modality PT" in result.reason


def test_the_removal_reaches_every_slice_through_the_geometry() -> None:
    """The plan maps back to the datasets whatever order they come in."""
    spec = PhantomSpec(contrast="CT", pitch=5.0, matrix=64, pixel_spacing=4.0,
                       slice_spacing=4.0, slices=56, seed=9)
    phantom = make_phantom(spec)
    datasets = phantom_series(phantom)
    forward = removal_masks(plan_series(datasets))
    rng = np.random.default_rng(0)
    shuffled = [datasets[i] for i in rng.permutation(len(datasets))]
    backward = removal_masks(plan_series(shuffled))
    assert forward.keys() == backward.keys()
    assert all(np.array_equal(forward[k], backward[k]) for k in forward)


def _enhanced(datasets: list) -> object:
    """The slices as one Enhanced CT Image (per-frame plane positions, shared orientation)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import EnhancedCTImageStorage

    from gantry.testing.factory import new_file_dataset

    first = datasets[0]
    ds = new_file_dataset(EnhancedCTImageStorage, first.SOPInstanceUID + ".99")
    for keyword in ("PatientName", "PatientID", "StudyInstanceUID", "SeriesInstanceUID",
                    "FrameOfReferenceUID", "Modality", "BodyPartExamined", "Rows", "Columns",
                    "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated",
                    "BitsStored", "HighBit", "PixelRepresentation", "BurnedInAnnotation"):
        setattr(ds, keyword, first.get(keyword))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VOLUME", "NONE"]
    ds.NumberOfFrames = len(datasets)
    shared = Dataset()
    orientation, measures, scale = Dataset(), Dataset(), Dataset()
    orientation.ImageOrientationPatient = first.ImageOrientationPatient
    measures.PixelSpacing = first.PixelSpacing
    measures.SliceThickness = first.SliceThickness
    scale.RescaleIntercept, scale.RescaleSlope = first.RescaleIntercept, first.RescaleSlope
    scale.RescaleType = "HU"
    shared.PlaneOrientationSequence = Sequence([orientation])
    shared.PixelMeasuresSequence = Sequence([measures])
    shared.PixelValueTransformationSequence = Sequence([scale])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    frames = []
    for slice_ in datasets:
        group, plane = Dataset(), Dataset()
        plane.ImagePositionPatient = slice_.ImagePositionPatient
        group.PlanePositionSequence = Sequence([plane])
        frames.append(group)
    ds.PerFrameFunctionalGroupsSequence = Sequence(frames)
    ds.PixelData = b"".join(slice_.PixelData for slice_ in datasets)
    return ds


def test_an_enhanced_multiframe_volume_is_defaced_frame_by_frame() -> None:
    from gantry_deface.api import apply_to_dataset

    spec = PhantomSpec(contrast="CT", pitch=-10.0, matrix=64, pixel_spacing=4.0,
                       slice_spacing=4.0, slices=56, seed=6)
    datasets = phantom_series(make_phantom(spec))
    single = removal_masks(plan_series(datasets))
    enhanced = _enhanced(datasets)
    defacing = plan_series([enhanced])
    assert defacing.defaced, defacing.reason
    uid = str(enhanced.SOPInstanceUID)
    before = enhanced.pixel_array.copy()
    count, _, _, _ = apply_to_dataset(enhanced, defacing, uid)
    after = enhanced.pixel_array
    assert count > 0
    for frame, ds in enumerate(datasets):
        expected = single[str(ds.SOPInstanceUID)]
        changed = before[frame] != after[frame]
        assert not (changed & ~expected).any()  # only where the single-frame plan removes
        assert np.all(after[frame][expected] == 24)  # -1000 HU
