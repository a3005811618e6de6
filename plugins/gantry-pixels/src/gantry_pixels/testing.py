"""Synthetic images with text burned into the pixels, for tests of pixel redaction and OCR.

:func:`make_text_image` renders text with Pillow's built-in font onto an anatomy-like
background (a textured disc) in any photometric interpretation, bit depth, frame count and
transfer syntax the pixel code handles, and returns a dataset with file meta.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

#: ``(x, y, text, pixel height)`` of each text to draw.
Text = tuple[int, int, str, int]


def render_mask(rows: int, cols: int, texts: Sequence[Text]) -> np.ndarray:
    """A ``rows x cols`` float mask in [0, 1], 1 where text is drawn (antialiased)."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.new("L", (cols, rows), 0)
    draw = ImageDraw.Draw(img)
    for x, y, text, size in texts:
        draw.text((x, y), text, fill=255, font=ImageFont.load_default(size=size))
    return np.asarray(img, dtype=np.float64) / 255.0


def anatomy(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """A float image in [0, 1]: a textured, smoothly shaded disc on a dark background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:rows, 0:cols]
    cy, cx = rows * 0.55, cols * 0.5
    r = np.hypot((yy - cy) / (rows * 0.35), (xx - cx) / (cols * 0.35))
    body = np.clip(1.2 - r, 0, 1) ** 0.5
    texture = 0.15 * np.sin(xx / 7.0 + seed) * np.cos(yy / 9.0) + 0.05 * rng.random((rows, cols))
    return np.clip(0.55 * body + body * texture, 0, 0.8)


def make_text_image(texts: Sequence[Text] = (), *, rows: int = 256, cols: int = 320,
                    frames: int = 1, photometric: str = "MONOCHROME2", bits: int = 8,
                    signed: bool = False, planar: int = 0, transfer_syntax: str | None = None,
                    seed: int = 0, patient_name: str = "TEST^ADL", patient_id: str = "MRN4471",
                    manufacturer: str = "ACME ULTRASOUND", model: str = "SONO 9",
                    modality: str = "US", texts_per_frame: Sequence[Sequence[Text]] | None = None,
                    **attrs: Any) -> Dataset:
    """A dataset whose pixels carry ``texts`` (bright text on anatomy) on every frame.

    ``photometric`` is one of MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, PALETTE COLOR;
    ``bits`` 8 or 16; ``transfer_syntax`` compresses with ``ds.compress`` (RLE, JPEG-LS,
    JPEG 2000 lossless). ``texts_per_frame`` gives different text per frame.
    """
    base = anatomy(rows, cols, seed)
    images = []
    for f in range(frames):
        mask = render_mask(rows, cols, texts_per_frame[f] if texts_per_frame else texts)
        images.append(np.maximum(base, mask))
    stack = np.stack(images)  # frames, rows, cols in [0, 1]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop_class = UltrasoundMultiFrameImageStorage if frames > 1 else SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    uid = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = modality, manufacturer, model
    ds.PatientName, ds.PatientID = patient_name, patient_id
    ds.PatientBirthDate = "19860130"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = bits
    ds.BitsStored = bits if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in attrs.items():
        setattr(ds, key, value)
    top = (1 << ds.BitsStored) - 1
    if photometric in ("MONOCHROME1", "MONOCHROME2"):
        ds.SamplesPerPixel = 1
        values = stack if photometric == "MONOCHROME2" else 1.0 - stack
        arr = np.round(values * top).astype(np.int64)
        if signed:
            arr -= 1 << (ds.BitsStored - 1)
        arr = arr.astype(f"{'i' if signed else 'u'}{bits // 8}")
    elif photometric in ("RGB", "YBR_FULL"):
        ds.SamplesPerPixel = 3
        ds.PlanarConfiguration = planar
        rgb = np.stack([stack, stack * 0.9, stack * 0.6], axis=-1)
        rgb[..., 0] = np.maximum(rgb[..., 0], stack)  # text stays bright in red
        arr = np.round(rgb * top).astype(f"u{bits // 8}")
        if photometric == "YBR_FULL":
            from pydicom.pixels import convert_color_space

            arr = convert_color_space(arr, "RGB", "YBR_FULL")
    elif photometric == "PALETTE COLOR":
        if bits != 8:
            raise ValueError("palette colour images are made with 8 bits")
        ds.SamplesPerPixel = 1
        # indices 0..255; the LUT maps index i to a warm ramp, index 0 is not the darkest
        arr = np.round(stack * 254).astype("u1") + 1
        lut = np.arange(256, dtype=np.uint16) * 257
        lut[0] = 40000  # a bright entry at index 0 proves we search for the darkest
        for colour, scale in (("Red", 1.0), ("Green", 0.8), ("Blue", 0.5)):
            setattr(ds, f"{colour}PaletteColorLookupTableDescriptor", [256, 0, 16])
            data = (lut * scale).astype("<u2")
            data[0] = 40000
            setattr(ds, f"{colour}PaletteColorLookupTableData", data.tobytes())
        ds.BitsStored, ds.HighBit = 8, 7
    else:
        raise ValueError(f"unsupported photometric {photometric!r}")
    ds.PhotometricInterpretation = photometric
    if frames == 1:
        arr = arr[0]
    native = arr
    if ds.SamplesPerPixel == 3 and planar == 1:
        native = np.moveaxis(arr, -1, -3)
    ds.PixelData = np.ascontiguousarray(native).astype(arr.dtype.newbyteorder("<")).tobytes()
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    if transfer_syntax:
        j2k_colour = ds.SamplesPerPixel == 3 and transfer_syntax.startswith("1.2.840.10008.1.2.4.9")
        ds.compress(transfer_syntax, arr, generate_instance_uid=False,
                    **({"use_mct": False} if j2k_colour else {}))
    return ds
