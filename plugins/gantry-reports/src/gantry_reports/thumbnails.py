"""Small inline PNG thumbnails of exported (already redacted) images."""

from __future__ import annotations

import base64
import io
from pathlib import Path


def thumbnail_data_uri(path: Path, size: int = 96) -> tuple[str | None, str]:
    """``(data URI, "")`` of a PNG thumbnail of the middle frame, or ``(None, reason)``.
    Only that frame is read and decoded (the header is read without the pixel value):
    memory is one frame's, whatever the size of the file."""
    try:
        from pydicom import dcmread
        from pydicom.pixels import pixel_array

        ds = dcmread(path, force=True, defer_size=4096)  # (large values left unread)
        if "PixelData" not in ds:
            return None, "no pixel data"
        frames = int(ds.get("NumberOfFrames", 1) or 1)
        with open(path, "rb") as fh:
            pixels = pixel_array(fh, index=frames // 2 if frames > 1 else None)
    except Exception as exc:  # a codec missing, a broken file: say so, do not fail the manifest
        return None, f"cannot decode pixels ({type(exc).__name__})"
    try:
        image = _image(ds, pixels)
    except Exception as exc:  # an unusual colour model or layout: no thumbnail, no failure
        return None, f"cannot render pixels ({type(exc).__name__})"
    image.thumbnail((size, size))
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"), ""


def _image(ds: object, pixels: object) -> object:
    """A Pillow image of one frame (``pixels``), windowed to 8 bits."""
    import numpy as np
    from PIL import Image

    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    if samples == 1:
        inverted = str(ds.get("PhotometricInterpretation", "")) == "MONOCHROME1"
        image = Image.fromarray(_windowed(np.asarray(pixels), inverted), mode="L")
    else:  # pydicom's pixel_array already gives RGB for YBR sources
        image = Image.fromarray(np.asarray(pixels).astype("uint8"), mode="RGB")
    return image


def _windowed(pixels: object, inverted: bool) -> object:
    """8-bit grey levels of one frame: its 1st to 99th percentile stretched over 0-255.

    Integer pixels of up to 16 bits take a shortcut with the very same result: percentiles of
    4-byte integers (numpy interpolates them in float64 from the same order statistics, and
    partitions 4-byte values faster than 8-byte floats), and the stretch computed once per
    grey level and looked up, instead of per pixel."""
    import numpy as np

    pixels = np.asarray(pixels)
    if pixels.dtype.kind in "iu" and pixels.dtype.itemsize <= 2 and pixels.size:
        ints = pixels.astype(np.int32)
        low, high = np.percentile(ints, [1, 99])
        first = int(ints.min())
        levels = np.arange(first, int(ints.max()) + 1, dtype="float64")
        return _stretch(levels, low, high, inverted).astype("uint8")[ints - first]
    data = pixels.astype("float64")
    low, high = np.percentile(data, [1, 99]) if data.size else (0.0, 1.0)
    return _stretch(data, low, high, inverted).astype("uint8")


def _stretch(data: object, low: float, high: float, inverted: bool) -> object:
    import numpy as np

    if high <= low:
        high = low + 1
    data = np.clip((data - low) / (high - low), 0, 1) * 255
    return 255 - data if inverted else data
