"""gantry-pixels' public contract: what other plugins (gantry-ocr, gantry-deface) build on.

Decoding an instance's frames to an array, blanking boxes, writing pixels back in the input's
transfer syntax family, and marking an instance cleaned. Everything else in this package is
internal and may change without notice.
"""

from __future__ import annotations

from gantry_pixels.codec import (
    DecodedPixels,
    PixelCodecError,
    black_value,
    blank_boxes,
    decode,
    describe,
    has_pixels,
    mark_cleaned,
    pixel_sha256,
    transfer_syntax,
    write_back,
)

__all__ = [
    "DecodedPixels",
    "PixelCodecError",
    "black_value",
    "blank_boxes",
    "decode",
    "describe",
    "has_pixels",
    "mark_cleaned",
    "pixel_sha256",
    "transfer_syntax",
    "write_back",
]
