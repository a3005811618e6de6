"""Thumbnails of exported images."""

from __future__ import annotations

import base64
import io

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
