"""gantry-deface's public contract: what other plugins and scripts build on.

``plan_series(datasets)`` decides whether one series is a head volume and plans the removal
of its face; ``apply_to_dataset(ds, defacing, uid)`` rewrites one dataset's pixels;
``plan_face_removal(array, affine, modality)`` is the method on a bare volume.
"""

from __future__ import annotations

from gantry_deface.engine import DefaceParameters, FacePlan, NotAHead, plan_face_removal
from gantry_deface.series import (
    SeriesDefacing,
    apply_to_dataset,
    plan_series,
    removal_masks,
    slice_mask,
)

__all__ = ["DefaceParameters", "FacePlan", "NotAHead", "SeriesDefacing", "apply_to_dataset",
           "plan_face_removal", "plan_series", "removal_masks", "slice_mask"]
