"""The pixel-zones redactor and the codec: every photometric, bit depth and lossless syntax."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest
from gantry_pixels import codec
from gantry_pixels.settings import load_settings
from gantry_pixels.testing import make_text_image
from gantry_pixels.zones import ZoneRedactor, matching_rules
from pydicom.data import get_testdata_file
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

TOP = {"x": 0, "y": 0, "w": 320, "h": 40}
RULES = {"zones": [{"name": "acme-top", "match": {"Manufacturer": "acme*", "size": "*x320"},
                    "boxes": [[0, 0, 320, 40],
                              {"x": 0, "y": 0.9, "w": 1, "h": 0.1, "unit": "fraction"}]}]}


def _context() -> SimpleNamespace:
    return SimpleNamespace(notes={}, instance=None, identifiers=None, patient=None)


def _roundtrip(ds: pydicom.Dataset) -> pydicom.Dataset:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    buf.seek(0)
    return pydicom.dcmread(buf)


def _zone_mask(shape: tuple[int, ...]) -> np.ndarray:
    frames, rows, cols = shape[:3]
    mask = np.zeros((frames, rows, cols), dtype=bool)
    mask[:, 0:40, :] = True
    mask[:, int(rows * 0.9):, :] = True
    return mask


CASES = [
    ("MONOCHROME2", 8, False, 0, None),
    ("MONOCHROME2", 16, False, 0, None),
    ("MONOCHROME2", 16, True, 0, None),
    ("MONOCHROME1", 8, False, 0, None),
    ("MONOCHROME1", 16, True, 0, None),
    ("RGB", 8, False, 0, None),
    ("RGB", 8, False, 1, None),
    ("RGB", 16, False, 0, None),
    ("YBR_FULL", 8, False, 0, None),
    ("PALETTE COLOR", 8, False, 0, None),
    ("MONOCHROME2", 16, False, 0, RLELossless),
    ("MONOCHROME2", 16, True, 0, JPEGLSLossless),
    ("MONOCHROME2", 8, False, 0, JPEG2000Lossless),
    ("RGB", 8, False, 0, RLELossless),
    ("RGB", 8, False, 0, JPEGLSLossless),
    ("RGB", 8, False, 0, JPEG2000Lossless),
]


@pytest.mark.parametrize(("photometric", "bits", "signed", "planar", "syntax"), CASES,
                         ids=[f"{c[0]}-{c[1]}{'s' if c[2] else 'u'}-p{c[3]}-{c[4] or 'native'}"
                              for c in CASES])
def test_zones_blank_every_frame_and_keep_the_rest(photometric: str, bits: int, signed: bool,
                                                   planar: int, syntax: str | None) -> None:
    ds = make_text_image([(5, 5, "TEST, ADL 01/30/1986", 20)], photometric=photometric,
                         bits=bits, signed=signed, planar=planar, transfer_syntax=syntax,
                         frames=2)
    before = codec.decode(ds)
    uid = ds.SOPInstanceUID
    context = _context()
    changes = ZoneRedactor(load_settings(RULES)).redact(ds, context)
    out = _roundtrip(ds)
    assert out.SOPInstanceUID == out.file_meta.MediaStorageSOPInstanceUID == uid
    after = codec.decode(out).array
    mask = _zone_mask(after.shape)
    assert np.array_equal(after[~mask], before.array[~mask]), "pixels outside the boxes changed"
    black = codec.black_value(out, codec.decode(out))
    assert (after[mask] == black).all()
    if photometric == "PALETTE COLOR":
        assert black == 1  # index 0 is bright in this LUT; index 1 is the darkest
    expected = syntax or "1.2.840.10008.1.2.1"
    assert out.file_meta.TransferSyntaxUID == expected
    if photometric == "YBR_FULL":
        assert out.PhotometricInterpretation == "RGB"  # decoded to RGB and labelled truthfully
    assert context.notes["pixels_modified"] is True
    pixel_change = changes[0]
    assert pixel_change.keyword == "PixelData" and pixel_change.component == "pixel-zones"
    assert f"sha256 before {before.sha256}" in pixel_change.detail
    assert f"after {codec.pixel_sha256(after)}" in pixel_change.detail
    assert out.ImageType[0] == "DERIVED" and out.BurnedInAnnotation == "NO"
    codes = [(i.CodeValue, i.CodingSchemeDesignator) for i in
             out.DeidentificationMethodCodeSequence]
    assert codes == [("113101", "DCM")]


def test_unmatched_instance_is_never_decoded(monkeypatch: pytest.MonkeyPatch) -> None:
    ds = make_text_image([(5, 5, "TEST", 20)], manufacturer="OTHER VENDOR",
                         transfer_syntax=RLELossless)
    original = bytes(ds.PixelData)

    def refuse(_ds: object) -> None:
        raise AssertionError("decoded an instance without a pixel action")

    monkeypatch.setattr(codec, "decode", refuse)
    context = _context()
    assert ZoneRedactor(load_settings(RULES)).redact(ds, context) == []
    assert ds.PixelData == original and "pixels_modified" not in context.notes
    assert ds.file_meta.TransferSyntaxUID == RLELossless


def test_clean_pixel_code_is_not_added_twice() -> None:
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    ds = make_text_image([(5, 5, "TEST", 20)])
    basic, clean = Dataset(), Dataset()
    basic.CodeValue, basic.CodingSchemeDesignator, basic.CodeMeaning = "113100", "DCM", "Basic"
    clean.CodeValue, clean.CodingSchemeDesignator, clean.CodeMeaning = "113101", "DCM", "Clean"
    ds.DeidentificationMethodCodeSequence = Sequence([basic, clean])
    ZoneRedactor(load_settings(RULES)).redact(ds, _context())
    values = [i.CodeValue for i in ds.DeidentificationMethodCodeSequence]
    assert values == ["113100", "113101"]


def test_lossy_source_is_written_uncompressed_with_truthful_lossy_attributes() -> None:
    path = get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")  # JPEG baseline, YBR_FULL
    ds = pydicom.dcmread(path)
    ds.Manufacturer = "ACME"
    rules = {"zones": [{"match": {"Manufacturer": "ACME"}, "boxes": [[0, 0, 50, 10]]}]}
    ZoneRedactor(load_settings(rules)).redact(ds, _context())
    out = _roundtrip(ds)
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert out.LossyImageCompression == "01"
    methods = out.LossyImageCompressionMethod
    methods = [methods] if isinstance(methods, str) else list(methods)
    assert methods[-1] == "ISO_10918_1"
    assert out.PhotometricInterpretation == "RGB"
    assert (out.pixel_array[0:10, 0:50] == 0).all()


def test_box_outside_the_image_is_clipped_and_fraction_rounds_outwards() -> None:
    ds = make_text_image(rows=101, cols=99)
    rules = {"zones": [{"match": {}, "boxes": [[90, 95, 500, 500],
                                               {"x": 0.0, "y": 0.0, "w": 0.1, "h": 0.1,
                                                "unit": "fraction"}]}]}
    ZoneRedactor(load_settings(rules)).redact(ds, _context())
    arr = ds.pixel_array
    assert (arr[95:, 90:] == 0).all() and (arr[:11, :10] == 0).all()
    assert arr[20:80, 20:80].any()


def test_original_header_is_used_for_attributes_a_tag_redactor_removed(tmp_path) -> None:
    """ps315-tags removes DeviceSerialNumber before pixel-zones runs: match the original."""
    ds = make_text_image([(5, 5, "TEST", 20)], DeviceSerialNumber="SN-77",
                         SeriesDescription="Dose Report")
    path = tmp_path / "i.dcm"
    ds.save_as(path, enforce_file_format=True)
    del ds.DeviceSerialNumber, ds.SeriesDescription
    hooks = SimpleNamespace(ingestor_for=lambda source: SimpleNamespace(
        open=lambda s: io.BytesIO(Path(s).read_bytes())))
    context = SimpleNamespace(notes={}, instance=SimpleNamespace(source=str(path)),
                              run=SimpleNamespace(hooks=hooks))
    rules = {"zones": [{"match": {"DeviceSerialNumber": "SN-77",
                                  "SeriesDescription": "*dose*"}, "boxes": [[0, 0, 100, 40]]}]}
    assert ZoneRedactor(load_settings(rules)).redact(ds, context)
    assert context.notes["pixels_modified"]


@pytest.mark.parametrize(("match", "exclude", "expected"), [
    ({"Manufacturer": "ACME*"}, {}, True),
    ({"Manufacturer": "acme ultrasound"}, {}, True),
    ({"Manufacturer": "re:ACME\\s+ULTRA.*"}, {}, True),
    ({"Manufacturer": ["GE*", "ACME*"]}, {}, True),
    ({"ManufacturerModelName": "SONO ?"}, {}, True),
    ({"size": "256x320"}, {}, True),
    ({"size": "*x320"}, {}, True),
    ({"size": "320x256"}, {}, False),
    ({"Modality": "US", "sop_class": "1.2.840.10008.5.1.4.1.1.7"}, {}, True),
    ({"(0008,0060)": "US"}, {}, True),
    ({"Modality": "CT"}, {}, False),
    ({"Manufacturer": "ACME*"}, {"ManufacturerModelName": "SONO*"}, False),
    ({"DeviceSerialNumber": "*"}, {}, False),
])
def test_rule_matching(match: dict, exclude: dict, expected: bool) -> None:
    ds = make_text_image()
    settings = load_settings({"zones": [{"match": match, "exclude": exclude,
                                         "boxes": [[0, 0, 1, 1]]}]})
    assert bool(matching_rules(settings, ds)) is expected


@pytest.mark.parametrize(("zone", "message"), [
    ({"match": {"Manufactrer": "GE"}, "boxes": [[0, 0, 1, 1]]}, "unknown attribute"),
    ({"match": {"size": "512"}, "boxes": [[0, 0, 1, 1]]}, "ROWSxCOLUMNS"),
    ({"match": {"Modality": "re:(US"}, "boxes": [[0, 0, 1, 1]]}, "invalid regular expression"),
    ({"match": {}, "boxes": [[0, 0, 1]]}, "x, y, width, height"),
    ({"match": {}, "boxes": [{"x": 0, "y": 0, "w": 1.5, "h": 0.1, "unit": "fraction"}]},
     "between 0 and 1"),
    ({"match": {}, "boxes": []}, "at least 1"),
])
def test_invalid_rules_are_refused_with_the_field(zone: dict, message: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message):
        load_settings({"zones": [zone]})


def test_big_endian_source_is_written_little_endian_with_same_values() -> None:
    path = get_testdata_file("MR_small_bigendian.dcm")
    ds, ref = pydicom.dcmread(path), pydicom.dcmread(path)
    rules = {"zones": [{"match": {}, "boxes": [[0, 0, 8, 8]]}]}
    ZoneRedactor(load_settings(rules)).redact(ds, _context())
    out = _roundtrip(ds)
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    for elem in ref:
        if elem.keyword not in ("PixelData", "ImageType", "BurnedInAnnotation", ""):
            assert out[elem.tag].value == elem.value, elem.keyword
    assert np.array_equal(out.pixel_array[8:], ref.pixel_array[8:])
    assert (out.pixel_array[:8, :8] == out.pixel_array.min()).all()


def test_jpeg_lossless_is_decoded_with_imagecodecs_and_written_uncompressed() -> None:
    """pydicom needs GPL or extra plugins for JPEG Lossless; imagecodecs (BSD) decodes it."""
    imagecodecs = pytest.importorskip("imagecodecs")
    from pydicom.encaps import encapsulate

    ds = make_text_image([(5, 5, "TEST", 20)], bits=16, signed=True)
    stored = ds.pixel_array.view(np.uint16) & 0x0FFF  # 12 bits stored, two's complement
    ds.PixelData = encapsulate([imagecodecs.ljpeg_encode(stored, bitspersample=12)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.70"
    expected = make_text_image([(5, 5, "TEST", 20)], bits=16, signed=True).pixel_array
    assert np.array_equal(codec.decode(ds).array[0, ..., 0], expected)
    ZoneRedactor(load_settings(RULES)).redact(ds, _context())
    out = _roundtrip(ds)
    assert out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert np.array_equal(out.pixel_array[40:200], expected[40:200])
    assert "LossyImageCompression" not in out


def test_dataset_without_file_meta_is_decoded_in_the_syntax_it_was_read(tmp_path) -> None:
    from pydicom.filewriter import dcmwrite

    ds = make_text_image([(5, 5, "TEST", 20)])
    path = tmp_path / "nometa.dcm"
    del ds.file_meta
    dcmwrite(path, ds, implicit_vr=True, little_endian=True)
    read = pydicom.dcmread(path, force=True)
    assert "TransferSyntaxUID" not in read.file_meta
    assert ZoneRedactor(load_settings(RULES)).redact(read, _context())
    assert read.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2"
    assert (_roundtrip(read).pixel_array[:40] == 0).all()
