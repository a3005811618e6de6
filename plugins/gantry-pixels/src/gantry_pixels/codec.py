"""Decode, blank and re-encode Pixel Data, and keep the image's attributes truthful.

Only a redactor that has a pixel action calls :func:`decode`; every other instance keeps its
Pixel Data bytes exactly as they were. After an edit :func:`write_back` re-encodes in the
original transfer syntax when a lossless encoder exists (RLE Lossless, JPEG-LS Lossless,
JPEG 2000 Lossless) and as Explicit VR Little Endian otherwise; :func:`mark_cleaned` updates
BurnedInAnnotation, ImageType and the de-identification method codes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gantry.api import GantryError

if TYPE_CHECKING:
    import numpy as np
    from pydicom import Dataset

#: Transfer syntaxes re-encoded as they were (pydicom has an encoder for each).
LOSSLESS_REENCODE = {
    "1.2.840.10008.1.2.5": "RLE Lossless",
    "1.2.840.10008.1.2.4.80": "JPEG-LS Lossless",
    "1.2.840.10008.1.2.4.90": "JPEG 2000 Lossless",
}
#: Uncompressed little-endian syntaxes written back as they were.
NATIVE_KEEP = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}
#: Lossy syntaxes and the LossyImageCompressionMethod term of each.
LOSSY_METHOD = {
    "1.2.840.10008.1.2.4.50": "ISO_10918_1",
    "1.2.840.10008.1.2.4.51": "ISO_10918_1",
    "1.2.840.10008.1.2.4.81": "ISO_14495_1",
    "1.2.840.10008.1.2.4.91": "ISO_15444_1",
    "1.2.840.10008.1.2.4.201": "ISO_15444_15",
    "1.2.840.10008.1.2.4.203": "ISO_15444_15",
    "1.2.840.10008.1.2.4.100": "ISO_13818_2",
    "1.2.840.10008.1.2.4.101": "ISO_13818_2",
    "1.2.840.10008.1.2.4.102": "ISO_14496_10",
    "1.2.840.10008.1.2.4.103": "ISO_14496_10",
}
#: CID 7050 "Clean Pixel Data Option".
CLEAN_PIXEL_CODE = ("113101", "DCM", "Clean Pixel Data Option")


class PixelCodecError(GantryError, ValueError):
    """Pixel Data cannot be decoded or re-encoded; the message names the instance."""


@dataclass
class DecodedPixels:
    """Decoded pixels of one instance, always shaped ``(frames, rows, columns, samples)``.

    ``photometric`` is the interpretation of ``array`` (YBR sources are decoded to RGB).
    """

    array: np.ndarray
    photometric: str
    transfer_syntax: str
    sha256: str

    @property
    def frames(self) -> int:
        """Number of frames."""
        return int(self.array.shape[0])


def describe(ds: Dataset) -> str:
    """A short, non-identifying name for an instance in messages (its current SOP Instance UID)."""
    return f"instance {ds.get('SOPInstanceUID', '?')}"


def transfer_syntax(ds: Dataset) -> str:
    """The dataset's transfer syntax UID (Explicit VR Little Endian when it has no file meta)."""
    meta = getattr(ds, "file_meta", None)
    uid = meta.get("TransferSyntaxUID") if meta is not None else None
    return str(uid) if uid else "1.2.840.10008.1.2.1"


def has_pixels(ds: Dataset) -> bool:
    """Whether the dataset carries integer Pixel Data we can edit."""
    return "PixelData" in ds and "Rows" in ds and "Columns" in ds


def pixel_sha256(array: np.ndarray) -> str:
    """sha256 of decoded pixel values (C order, native byte order): stable across encodings."""
    import numpy as np

    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


def decode(ds: Dataset) -> DecodedPixels:
    """Decode all frames of ``ds`` to a ``(frames, rows, columns, samples)`` array.

    YBR colour is converted to RGB (the array then is RGB); palette colour stays as indices.
    Raises :class:`PixelCodecError` naming the instance when no decoder can read it.
    """
    import numpy as np

    if not has_pixels(ds):
        raise PixelCodecError(f"{describe(ds)}: no Pixel Data to decode")
    _ensure_transfer_syntax(ds)
    ts = transfer_syntax(ds)
    try:
        array = np.array(ds.pixel_array, copy=True)
    except Exception as exc:  # pydicom raises many kinds; name the instance and syntax
        fallback = _decode_jpeg_lossless(ds, ts)
        if fallback is None:
            hint = " (pip install imagecodecs)" if ts in JPEG_LOSSLESS else ""
            raise PixelCodecError(
                f"{describe(ds)}: cannot decode Pixel Data in transfer syntax {ts}{hint}: {exc}"
            ) from exc
        array = fallback
    finally:
        _drop_cache(ds)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    rows, cols = int(ds.Rows), int(ds.Columns)
    array = array.reshape(frames, rows, cols, samples)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric.startswith("YBR"):
        photometric = "RGB"
    return DecodedPixels(array=array, photometric=photometric, transfer_syntax=ts,
                         sha256=pixel_sha256(array))


#: JPEG Lossless syntaxes: pydicom decodes them only with GPL or extra plugins installed.
JPEG_LOSSLESS = ("1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70")


def _ensure_transfer_syntax(ds: Dataset) -> None:
    """Give a dataset read without file meta the transfer syntax it was read in."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is not None and meta.get("TransferSyntaxUID"):
        return
    if meta is None:
        ds.file_meta = meta = FileMetaDataset()
    implicit, little = ds.original_encoding
    if implicit is None:
        implicit, little = True, True
    meta.TransferSyntaxUID = (ImplicitVRLittleEndian if implicit else
                              ExplicitVRLittleEndian if little else ExplicitVRBigEndian)


def _decode_jpeg_lossless(ds: Dataset, ts: str) -> np.ndarray | None:
    """Decode JPEG Lossless frames with imagecodecs (BSD), when it is installed."""
    if ts not in JPEG_LOSSLESS:
        return None
    try:
        import imagecodecs
    except ImportError:
        return None
    import numpy as np
    from pydicom.encaps import generate_frames

    count = int(ds.get("NumberOfFrames", 1) or 1)
    frames = [np.asarray(imagecodecs.ljpeg_decode(f))
              for f in generate_frames(ds.PixelData, number_of_frames=count)]
    array = np.stack(frames)
    if int(ds.get("PixelRepresentation", 0) or 0) == 1:
        bits = int(ds.get("BitsStored", array.dtype.itemsize * 8))
        wide = array.astype(np.int64) & ((1 << bits) - 1)
        wide = np.where(wide & (1 << (bits - 1)), wide - (1 << bits), wide)
        array = wide.astype(f"i{array.dtype.itemsize}")
    return array if count > 1 else array[0]


def _drop_cache(ds: Dataset) -> None:
    if getattr(ds, "_pixel_array", None) is not None:
        ds._pixel_array = None
        ds._pixel_id = {}


def black_value(ds: Dataset, decoded: DecodedPixels) -> Any:
    """The value that shows as black: a scalar, or one value per sample for colour.

    MONOCHROME2 → lowest stored value; MONOCHROME1 → highest; RGB → 0; palette colour → the
    index whose LUT entry is darkest.
    """
    import numpy as np

    photometric = decoded.photometric
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 8)) or 8)
    signed = int(ds.get("PixelRepresentation", 0) or 0) == 1
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if photometric == "MONOCHROME1":
        return high
    if photometric == "PALETTE COLOR":
        return _darkest_palette_index(ds, decoded.array.dtype)
    if decoded.array.shape[-1] > 1:
        return np.zeros(decoded.array.shape[-1], dtype=decoded.array.dtype)
    return low


def _darkest_palette_index(ds: Dataset, dtype: Any) -> int:
    import numpy as np
    from pydicom.pixels import apply_color_lut

    info = np.iinfo(dtype)
    first = int(ds.RedPaletteColorLookupTableDescriptor[1])
    count = int(ds.RedPaletteColorLookupTableDescriptor[0]) or 65536
    indices = np.arange(first, first + count, dtype=np.int64).clip(info.min, info.max)
    rgb = apply_color_lut(indices.astype(dtype), ds).astype(np.float64)
    luminance = rgb @ np.array([0.299, 0.587, 0.114])
    return int(indices[int(np.argmin(luminance))])


def blank_boxes(decoded: DecodedPixels, boxes: list[tuple[int, int, int, int, int]],
                value: Any) -> int:
    """Set every ``(frame, x, y, w, h)`` box to ``value``; ``frame = -1`` means all frames.

    Boxes are clipped to the image. Returns the number of pixels set (per frame, summed).
    """
    arr = decoded.array
    _, rows, cols, _ = arr.shape
    count = 0
    for frame, x, y, w, h in boxes:
        x0, y0 = max(0, int(x)), max(0, int(y))
        x1, y1 = min(cols, int(x) + int(w)), min(rows, int(y) + int(h))
        if x1 <= x0 or y1 <= y0:
            continue
        frames = slice(None) if frame < 0 else slice(frame, frame + 1)
        arr[frames, y0:y1, x0:x1, :] = value
        count += (x1 - x0) * (y1 - y0) * (arr.shape[0] if frame < 0 else 1)
    return count


def write_back(ds: Dataset, decoded: DecodedPixels) -> str:
    """Store ``decoded.array`` as the Pixel Data of ``ds``; returns the transfer syntax written.

    The original syntax is kept when it is uncompressed little endian or has a lossless
    encoder; anything else becomes Explicit VR Little Endian. Lossy history is kept truthful:
    LossyImageCompression stays ``01`` with the method (and ratio when it can be computed).
    """
    from pydicom.uid import UID, ExplicitVRLittleEndian

    source_ts = decoded.transfer_syntax
    array = decoded.array
    frames, rows, cols, samples = array.shape
    _record_lossy_history(ds, source_ts, array)
    if decoded.photometric != str(ds.get("PhotometricInterpretation", "")).strip():
        ds.PhotometricInterpretation = decoded.photometric
    shaped = array.reshape(frames, rows, cols, samples)
    if samples == 1:
        shaped = shaped[..., 0]
    if frames == 1:
        shaped = shaped[0]
    if source_ts in LOSSLESS_REENCODE:
        try:
            kwargs: dict[str, Any] = {}
            if source_ts == "1.2.840.10008.1.2.4.90" and samples == 3:
                kwargs["use_mct"] = False
            if samples == 3:
                ds.PlanarConfiguration = 0
            # keep the (already mapped) SOP Instance UID: pydicom would make a random one
            ds.compress(UID(source_ts), shaped, generate_instance_uid=False, **kwargs)
            _drop_cache(ds)
            return source_ts
        except Exception:
            # No usable encoder for this array (bit depth, plugin missing): write it
            # uncompressed below, which is still lossless.
            pass
    target = source_ts if source_ts in NATIVE_KEEP else str(ExplicitVRLittleEndian)
    planar = int(ds.get("PlanarConfiguration", 0) or 0) if samples > 1 else 0
    native = array
    if samples > 1 and planar == 1:
        native = array.transpose(0, 3, 1, 2)  # frame, sample, row, column
    bits_allocated = int(ds.get("BitsAllocated", 8))
    dtype = {8: "u1", 16: "u2", 32: "u4"}.get(bits_allocated)
    if dtype is None:
        raise PixelCodecError(f"{describe(ds)}: cannot write BitsAllocated={bits_allocated}")
    if array.dtype.kind == "i":
        dtype = dtype.replace("u", "i")
    data = native.astype("<" + dtype, copy=False).tobytes()
    if len(data) % 2:
        data += b"\x00"
    if "PixelData" in ds:
        del ds["PixelData"]
    ds.PixelData = data
    ds["PixelData"].VR = "OB" if bits_allocated == 8 else "OW"
    ds["PixelData"].is_undefined_length = False
    if samples > 1:
        ds.PlanarConfiguration = planar
    ds.file_meta.TransferSyntaxUID = UID(target)
    if source_ts == "1.2.840.10008.1.2.2":  # big endian source now written little endian
        _relabel_little_endian(ds)
    _drop_cache(ds)
    return target


def _relabel_little_endian(ds: Dataset) -> None:
    """Convert every element read from a big-endian file (values are parsed on access) and
    mark the datasets little endian, so pydicom writes them in the new transfer syntax."""
    for elem in ds:
        if elem.VR == "SQ":
            for item in elem.value or ():
                _relabel_little_endian(item)
    ds.set_original_encoding(False, True, ds.original_character_set)


def _record_lossy_history(ds: Dataset, source_ts: str, array: np.ndarray) -> None:
    method = LOSSY_METHOD.get(source_ts)
    if method is None:
        return
    if source_ts == "1.2.840.10008.1.2.4.91" and ds.get("LossyImageCompression") == "00":
        return  # JPEG 2000 (lossless or lossy) used losslessly
    ds.LossyImageCompression = "01"
    methods = list(_as_list(ds.get("LossyImageCompressionMethod")))
    ratios = list(_as_list(ds.get("LossyImageCompressionRatio")))
    if not methods or methods[-1] != method:
        ratio = _compression_ratio(ds, array)
        methods.append(method)
        if ratio is not None and len(ratios) == len(methods) - 1:
            ratios.append(f"{ratio:.2f}"[:16])
    ds.LossyImageCompressionMethod = methods
    if ratios:
        ds.LossyImageCompressionRatio = ratios


def _compression_ratio(ds: Dataset, array: np.ndarray) -> float | None:
    try:
        encoded = len(ds.PixelData)
    except Exception:
        return None
    if not encoded:
        return None
    return array.size * array.dtype.itemsize / encoded


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return [value]


def mark_cleaned(ds: Dataset, *, burned_in_annotation: str | None = "NO",
                 code: tuple[str, str, str] | None = CLEAN_PIXEL_CODE) -> list[str]:
    """Update the markers of an image whose pixels were cleaned; returns the keywords changed.

    ImageType value 1 becomes ``DERIVED``; BurnedInAnnotation is set (unless ``None``);
    ``code`` (by default Clean Pixel Data, 113101, DCM) is appended to
    DeidentificationMethodCodeSequence only when no item with that code is there yet (the tag
    engine may have added it); ``None`` adds none (a redactor whose option's code the kernel
    writes, such as gantry-deface's).
    """
    from pydicom.dataset import Dataset as PyDataset
    from pydicom.sequence import Sequence

    changed: list[str] = []
    if "ImageType" in ds:
        values = [str(v) for v in _as_list(ds.ImageType)]
        if values and values[0] != "DERIVED":
            values[0] = "DERIVED"
            ds.ImageType = values
            changed.append("ImageType")
    if burned_in_annotation and ds.get("BurnedInAnnotation") != burned_in_annotation:
        ds.BurnedInAnnotation = burned_in_annotation
        changed.append("BurnedInAnnotation")
    if code is None:
        return changed
    seq = ds.get("DeidentificationMethodCodeSequence")
    items = list(seq) if seq is not None else []
    present = any(
        str(item.get("CodeValue", "")) == code[0]
        and str(item.get("CodingSchemeDesignator", "")) == code[1]
        for item in items
    )
    if not present:
        entry = PyDataset()
        entry.CodeValue, entry.CodingSchemeDesignator, entry.CodeMeaning = code
        items.append(entry)
        ds.DeidentificationMethodCodeSequence = Sequence(items)
        changed.append("DeidentificationMethodCodeSequence")
    return changed
