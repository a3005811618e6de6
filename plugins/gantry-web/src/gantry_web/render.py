"""Frames to PNG on the server: window/level for 16-bit, colour passed through.

Arrays come from ``gantry_pixels.api.decode`` (``(frames, rows, columns, samples)``) or from the
store's pixel sidecar; nothing is written to disk.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Window:
    """A window centre and width in modality units (after rescale)."""

    center: float
    width: float


def as_frames(array: np.ndarray, samples: int) -> np.ndarray:
    """Any stored pixel array as ``(frames, rows, columns, samples)``."""
    if array.ndim == 4:
        return array
    if array.ndim == 3:
        return array[None] if samples > 1 and array.shape[-1] == samples else array[..., None]
    if array.ndim == 2:
        return array[None, ..., None]
    raise ValueError(f"pixel array of shape {array.shape} is not an image")


def default_window(ds: Any, frame: np.ndarray) -> Window:
    """The header's first WindowCenter/WindowWidth, else the frame's range (rescaled)."""
    import numpy as np

    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    try:
        c = float(center[0] if _multi(center) else center)
        w = float(width[0] if _multi(width) else width)
        if w > 0:
            return Window(c, w)
    except (TypeError, ValueError, IndexError):
        pass
    values = rescaled(ds, frame)
    lo, hi = float(np.min(values)), float(np.max(values))
    return Window((lo + hi) / 2, max(hi - lo, 1.0))


def _multi(value: Any) -> bool:
    return value is not None and not isinstance(value, str | bytes) and hasattr(value, "__len__")


def rescaled(ds: Any, frame: np.ndarray) -> np.ndarray:
    """A greyscale frame in modality units (RescaleSlope/Intercept applied)."""
    import numpy as np

    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return frame.astype(np.float64) * slope + intercept


def to_display(ds: Any, frame: np.ndarray, photometric: str, window: Window | None
               ) -> tuple[np.ndarray, Window | None]:
    """One frame (``rows, columns, samples``) as 8-bit for display, and the window used."""
    import numpy as np

    if frame.shape[-1] == 3:  # colour: scale down deeper samples, no window
        data = frame.astype(np.float64)
        top = float(np.max(data)) if data.size else 255.0
        if top > 255:
            data = data * (255.0 / top)
        return np.clip(data, 0, 255).astype(np.uint8), None
    grey = frame[..., 0]
    window = window or default_window(ds, grey)
    values = rescaled(ds, grey)
    lo = window.center - window.width / 2
    out = np.clip((values - lo) / max(window.width, 1e-6), 0.0, 1.0) * 255.0
    if photometric.upper() == "MONOCHROME1":
        out = 255.0 - out
    return out.astype(np.uint8)[..., None], window


def png(image: np.ndarray) -> bytes:
    """Encode an 8-bit ``(rows, columns, 1|3)`` image as PNG (no library needed)."""
    import numpy as np

    rows, cols, samples = image.shape
    colour = 2 if samples == 3 else 0
    raw = np.ascontiguousarray(image, dtype=np.uint8).reshape(rows, cols * samples)
    scan = np.zeros((rows, cols * samples + 1), dtype=np.uint8)  # filter byte 0 per line
    scan[:, 1:] = raw

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", cols, rows, 8, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(scan.tobytes(), 6)) + chunk(b"IEND", b""))
