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
