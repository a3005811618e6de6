"""Thumbnails of exported images."""

from __future__ import annotations

import base64
import io

import pytest
from gantry_reports.thumbnails import thumbnail_data_uri
from PIL import Image

from gantry.testing.factory import make_instance


def test_thumbnail_is_a_small_png(tmp_path):
    path = tmp_path / "a.dcm"
    make_instance(rows=200, cols=120).save_as(path, enforce_file_format=True)
    uri, note = thumbnail_data_uri(path, size=64)
    assert note == "" and uri.startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (38, 64)


def test_thumbnail_failure_is_reported_not_raised(tmp_path):
    ds = make_instance()
    del ds.PixelData
    path = tmp_path / "b.dcm"
    ds.save_as(path, enforce_file_format=True)
    assert thumbnail_data_uri(path) == (None, "no pixel data")
    ds = make_instance()
    ds.PixelData = ds.PixelData[:10]  # truncated pixel data cannot be decoded
    broken = tmp_path / "c.dcm"
    ds.save_as(broken, enforce_file_format=True)
    uri, note = thumbnail_data_uri(broken)
    assert uri is None and note.startswith("cannot decode pixels")


@pytest.mark.parametrize("dtype,lo,hi", [("uint16", 0, 4095), ("int16", -1024, 3071),
                                         ("uint8", 0, 255), ("uint16", 7, 7),
                                         ("int16", -32768, 32767), ("uint16", 0, 65535)])
@pytest.mark.parametrize("inverted", [False, True])
def test_integer_windowing_equals_the_float_formula(dtype, lo, hi, inverted):
    """The shortcut for integer pixels gives exactly the grey levels of the float64 formula
    (percentiles, stretch, inversion, cast), on noise and on narrow and full ranges."""
    import numpy as np
    from gantry_reports.thumbnails import _windowed

    rng = np.random.default_rng(7)
    pixels = rng.integers(lo, hi, size=(64, 48), endpoint=True).astype(dtype)
    data = pixels.astype("float64")
    low, high = np.percentile(data, [1, 99])
    if high <= low:
        high = low + 1
    expected = np.clip((data - low) / (high - low), 0, 1) * 255
    if inverted:
        expected = 255 - expected
    assert np.array_equal(_windowed(pixels, inverted), expected.astype("uint8"))
