"""Before/after pictures of defacing for a reviewer: surface renderings of a series.

    .venv/bin/python bench/deface_render.py                       # phantoms -> docs/defacing/
    .venv/bin/python bench/deface_render.py --series DIR --out x.png   # a real series (folder)

Each picture shows, left to right, the head seen from the side and from the front before
defacing, then the same after: the first voxel above the air threshold along each ray,
shaded by its depth (nearer is brighter), on the volume's own grid resampled to 1 mm.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _surface(volume: np.ndarray, axis: int, threshold: float, reverse: bool) -> np.ndarray:
    """Depth-shaded first hit of ``volume > threshold`` along ``axis``."""
    solid = np.moveaxis(volume > threshold, axis, 0)
    if reverse:
        solid = solid[::-1]
    hit = solid.any(axis=0)
    depth = np.argmax(solid, axis=0).astype(float)
    shade = 1.0 - depth / max(solid.shape[0], 1)
    image = np.where(hit, 0.25 + 0.75 * shade ** 2, 0.0)
    return image


def _views(volume: np.ndarray, affine: np.ndarray, threshold: float) -> list[np.ndarray]:
    """Lateral and frontal renderings, superior up, in millimetres."""
    from scipy import ndimage

    # resample onto an RAS-aligned grid of 1.5 mm (nearest voxel)
    corners = np.array([[i, j, k, 1] for i in (0, volume.shape[0] - 1)
                        for j in (0, volume.shape[1] - 1) for k in (0, volume.shape[2] - 1)])
    world = (affine @ corners.T).T[:, :3]
    low, high = world.min(axis=0), world.max(axis=0)
    step = 1.5
    shape = np.ceil((high - low) / step).astype(int) + 1
    inverse = np.linalg.inv(affine)
    grid = np.stack(np.meshgrid(*[low[a] + step * np.arange(shape[a]) for a in range(3)],
                                indexing="ij"), axis=0).reshape(3, -1)
    index = inverse[:3, :3] @ grid + inverse[:3, 3:4]
    sampled = ndimage.map_coordinates(volume.astype(np.float32), index, order=0,
                                      cval=float(volume.min())).reshape(shape)
    side = _surface(sampled, 0, threshold, reverse=False).T[::-1]      # from the right
    front = _surface(sampled, 1, threshold, reverse=True).T[::-1]      # from the front
    return [side, front]


def render(before: tuple[np.ndarray, np.ndarray], after: np.ndarray, threshold: float,
           path: Path, title: str) -> None:
    """Write ``path``: before (side, front) | after (side, front)."""
    from PIL import Image, ImageDraw

    volume, affine = before
    panels = _views(volume, affine, threshold) + _views(after, affine, threshold)
    height = max(p.shape[0] for p in panels)
    padded = [np.pad(p, ((height - p.shape[0], 0), (4, 4))) for p in panels]
    strip = np.concatenate(padded, axis=1)
    image = Image.fromarray((strip * 255).astype(np.uint8)).convert("RGB")
    scale = max(1, round(480 / height))
    image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    canvas = Image.new("RGB", (image.width, image.height + 22), (255, 255, 255))
    canvas.paste(image, (0, 22))
    ImageDraw.Draw(canvas).text((6, 4), f"{title}: before (side, front) | after (side, front)",
                                fill=(0, 0, 0))
    canvas.save(path, optimize=True)


def _volume_of(datasets: list) -> tuple[np.ndarray, np.ndarray, str]:
    from gantry_nifti.api import assemble_volume

    volume = assemble_volume(datasets)
    array = volume.array if volume.array.ndim == 3 else volume.array[..., 0]
    return (array.astype(np.float32) * volume.slope + volume.intercept, volume.affine,
            str(datasets[0].Modality))


def deface_and_render(datasets: list, path: Path, title: str) -> str:
    """Deface a series in memory and write its before/after picture; returns the reason."""
    from gantry_deface.api import apply_to_dataset, plan_series

    before, affine, modality = _volume_of(datasets)
    defacing = plan_series(datasets)
    if not defacing.defaced:
        return defacing.reason
    for ds in datasets:
        apply_to_dataset(ds, defacing, str(ds.SOPInstanceUID))
    after, _, _ = _volume_of(datasets)
    if modality == "CT":
        threshold = -400.0
    else:
        from gantry_deface.engine import otsu

        threshold = 0.5 * otsu(before)
    render((before, affine), after, threshold, path, title)
    return defacing.reason


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=Path, help="a folder holding one series")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "defacing")
    args = parser.parse_args()
    if args.series:
        from pydicom import dcmread

        datasets = [dcmread(p) for p in sorted(args.series.rglob("*")) if p.is_file()]
        print(deface_and_render(datasets, args.out, args.series.name))
        return 0
    from gantry_deface.testing import PhantomSpec, make_phantom, phantom_series

    args.out.mkdir(parents=True, exist_ok=True)
    for name, spec in {
        "phantom-ct": PhantomSpec(contrast="CT", pitch=12.0, roll=4.0, matrix=128,
                                  pixel_spacing=2.0, slice_spacing=2.0, slices=110, seed=11),
        "phantom-t1-sagittal": PhantomSpec(contrast="T1", pitch=-15.0, plane="sagittal",
                                           matrix=128, pixel_spacing=2.0, slice_spacing=2.0,
                                           slices=100, seed=12),
    }.items():
        datasets = phantom_series(make_phantom(spec))
        reason = deface_and_render(datasets, args.out / f"{name}.png", name)
        print(f"{name}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
