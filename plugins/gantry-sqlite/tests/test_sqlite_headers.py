"""``header_rows`` (memoized, raw elements not decoded in place) gives exactly the rows and
digest of the straightforward walker it replaced, kept here verbatim as the reference."""

from __future__ import annotations

import hashlib
import io
import random
import warnings
from pathlib import Path
from typing import Any

import pytest
from gantry_sqlite import headers
from gantry_sqlite.headers import PIXEL_TAGS, encode_value, header_rows
from gantry_sqlite.rows import header_fields
from pydicom import config, dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

from gantry.testing.factory import make_instance, write_cohort

pytestmark = pytest.mark.component


# -- the reference: the walker as it was before memoizing -------------------------------------
def reference_rows(ds: Dataset) -> tuple[list[tuple], str]:
    rows: list[tuple] = []
    _ref_walk(ds, "", rows)
    text = "\n".join(f"{r[0]}|{r[1]}|{r[2]}|{r[3]}" for r in rows)
    h = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
    for row in rows:
        if row[5] is not None:
            h.update(row[5])
    return rows, h.hexdigest()


def _ref_walk(ds: Dataset, path: str, rows: list[tuple]) -> None:
    for elem in ds:
        tag = int(elem.tag)
        if tag in PIXEL_TAGS and not path:
            continue
        vr = str(elem.VR)
        tag_text = f"{tag:08X}"
        creator = _ref_creator(ds, tag) if tag >> 16 & 1 else None
        if vr == "SQ":
            items = elem.value or []
            rows.append((path, tag_text, vr, str(len(items)), None, None, creator))
            for i, item in enumerate(items):
                _ref_walk(item, f"{path}{tag_text}[{i}]/", rows)
            continue
        value, number, data = encode_value(vr, elem.value)
        rows.append((path, tag_text, vr, value, number, data, creator))


def _ref_creator(ds: Dataset, tag: int) -> str | None:
    group, element = tag >> 16, tag & 0xFFFF
    if element < 0x1000:
        return None
    found = ds.get((group, element >> 8))
    return None if found is None or found.value is None else str(found.value)


def reference_fields(ds: Dataset) -> tuple[Any, ...]:
    """What ``hierarchy_rows`` read from the header before ``header_fields`` existed."""
    def s(keyword: str) -> str:
        value = ds.get(keyword)
        return "" if value is None else str(value)

    number = ds.get("SeriesNumber")
    try:
        series_number = int(number) if number not in (None, "") else None
    except (TypeError, ValueError):
        series_number = None
    return (series_number, s("PatientName"), s("IssuerOfPatientID"), s("PatientBirthDate"),
            s("StudyDate"), s("StudyDescription"), s("AccessionNumber"), s("Modality"),
            s("SeriesDescription"))


# -- helpers -------------------------------------------------------------------------------------
def _same(a: tuple[list[tuple], str], b: tuple[list[tuple], str]) -> None:
    """Rows equal value for value *and type* (``1 == 1.0 == True`` would hide a change)."""
    assert a[1] == b[1]
    assert len(a[0]) == len(b[0])
    for ra, rb in zip(a[0], b[0], strict=True):
        assert ra == rb
        assert [type(x) for x in ra] == [type(x) for x in rb], (ra, rb)
        if isinstance(ra[4], float):  # -0.0 == 0.0, nan != nan
            assert repr(ra[4]) == repr(rb[4]), (ra, rb)


def _read(data: bytes, **kw: Any) -> Dataset:
    return dcmread(io.BytesIO(data), force=True, **kw)


def _check_bytes(blobs: list[bytes], rounds: int = 2) -> int:
    """Compare new and reference rows on fresh reads of each blob, several rounds in shuffled
    orders (so the memo is cold, warm and shared across files). Returns files compared."""
    compared = 0
    order = list(range(len(blobs)))
    rng = random.Random(5)
    for r in range(rounds):
        if r:
            rng.shuffle(order)
        for i in order:
            for kw in ({"stop_before_pixels": True}, {}):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        expected = reference_rows(_read(blobs[i], **kw))
                    except Exception as exc:  # the reference fails: so must the new walker
                        with pytest.raises(type(exc)):
                            header_rows(_read(blobs[i], **kw))
                        continue
                    _same(header_rows(_read(blobs[i], **kw)), expected)
                    fields = header_fields(_read(blobs[i], **kw))
                    want = reference_fields(_read(blobs[i], **kw))
                    assert fields == want
                    assert [type(x) for x in fields] == [type(x) for x in want]
                compared += 1
    return compared


@pytest.fixture(autouse=True)
def _cold_memo() -> None:
    headers._MEMO.clear()


# -- tests ---------------------------------------------------------------------------------------
def test_factory_cohort_files_match_reference(tmp_path: Path) -> None:
    study = write_cohort(tmp_path / "in", patients=2, studies=1, series=2)
    blobs = [Path(p).read_bytes() for p in study.paths]
    assert _check_bytes(blobs) == 4 * len(blobs)
    assert headers._MEMO  # raw elements went through the memo


def test_factory_instances_in_memory_match_reference() -> None:
    for n in range(6):
        ds = make_instance(patient=n % 3, study=n % 2, series=n, instance=n, phi=n % 2 == 0)
        _same(header_rows(ds), reference_rows(ds))


@pytest.mark.parametrize("syntax", [ImplicitVRLittleEndian, ExplicitVRBigEndian])
def test_factory_instances_other_transfer_syntaxes(syntax: str) -> None:
    blobs = []
    for n in range(4):
        ds = make_instance(patient=n, series=n % 2, instance=n)
        ds.file_meta.TransferSyntaxUID = syntax
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        blobs.append(buf.getvalue())
    assert _check_bytes(blobs) == 4 * len(blobs)


def test_pydicom_test_files_match_reference() -> None:
    from pydicom.data import get_charset_files, get_testdata_files

    files = sorted(set(get_testdata_files()) | set(get_charset_files()))
    blobs = []
    for f in files:
        if not Path(f).is_file():
            continue
        data = Path(f).read_bytes()
        if len(data) <= 2_000_000:  # the big multi-frame files add time, not cases
            blobs.append(data)
    assert len(blobs) > 150
    assert _check_bytes(blobs) > 300


def _charset_file(charset: str, name: bytes, syntax: str = ImplicitVRLittleEndian) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    if charset:
        ds.SpecificCharacterSet = charset
    item = Dataset()
    item.add_new(0x00100010, "PN", name)
    item.add_new(0x00081030, "LO", b"\xe9t\xe9")
    ds.add_new(0x00081110, "SQ", Sequence([item]))
    ds.add_new(0x00100010, "PN", name)
    ds.add_new(0x00080080, "LO", name)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_same_bytes_under_different_character_sets() -> None:
    """One value's bytes decode differently per character set: the memo must tell them apart
    (top level and inside sequence items, which inherit the character set)."""
    name = b"\xc4\xe9\xe8\xf5^\xa4\xb5"
    blobs = [_charset_file(cs, name) for cs in
             ("", "ISO_IR 100", "ISO_IR 101", "ISO_IR 144", "ISO_IR 192", "GB18030",
              ["", "ISO 2022 IR 87"], "ISO_IR 100")]
    assert _check_bytes(blobs, rounds=3) == 6 * len(blobs)
    texts = {header_rows(_read(b))[1] for b in blobs}
    assert len(texts) >= 5


def _private_file(creator: str, syntax: str, extra: str = "", pixel_rep: int = 1) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.5"
    ds.SOPInstanceUID = "1.2.3.5"
    ds.add_new(0x00290010, "LO", creator)
    ds.add_new(0x00291008, "CS", "IMAGE NUM 4")
    ds.add_new(0x00291009, "LO", "20100114")
    ds.add_new(0x00291010, "OB", b"\x01\x02\x03\x04")
    ds.add_new(0x00291131, "LO", "4.0.1")  # no creator for block 0x11
    ds.add_new(0x00191010, "UL", 7)  # no creator at all
    ds.add_new(0x00280106, "US", 3)  # "US or SS" in implicit VR
    ds.add_new(0x00280103, "US", pixel_rep)  # PixelRepresentation: US or SS
    ds.add_new(0x00283002, "US", [256, 0, 16])  # LUTDescriptor
    if extra:
        ds.add_new(0x00291100, "LO", extra)
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def test_private_elements_and_implicit_vr_lookups() -> None:
    """Implicit VR: the VR of a private element comes from the private dictionary through its
    creator, which the memo key carries; ambiguous VRs are decoded in place."""
    blobs = [_private_file(c, s, e, p) for c in ("SIEMENS CSA HEADER", "ACME 1.0", "")
             for s in (ImplicitVRLittleEndian, ExplicitVRBigEndian) for e in ("", "x")
             for p in (1, 0)]
    assert _check_bytes(blobs, rounds=3) == 6 * len(blobs)
    rows, _ = header_rows(_read(blobs[0]))
    by_tag = {r[1]: r for r in rows}
    assert by_tag["00291008"][2] == "CS" and by_tag["00291008"][6] == "SIEMENS CSA HEADER"
    assert by_tag["00280106"][2] == "SS"
    rows, _ = header_rows(_read(blobs[1]))
    assert {r[1]: r for r in rows}["00280106"][2] == "US"


def test_memo_follows_pydicom_configuration(tmp_path: Path) -> None:
    study = write_cohort(tmp_path / "in", patients=1, studies=1, series=1)
    blobs = [Path(p).read_bytes() for p in study.paths[:3]]
    _check_bytes(blobs, rounds=1)
    old = config.use_DS_decimal, config.datetime_conversion
    try:
        config.use_DS_decimal = True
        config.datetime_conversion = True
        _check_bytes(blobs, rounds=1)
    finally:
        config.use_DS_decimal, config.datetime_conversion = old
    _check_bytes(blobs, rounds=1)


def test_raw_elements_are_not_decoded_in_place(tmp_path: Path) -> None:
    from pydicom.dataelem import RawDataElement

    study = write_cohort(tmp_path / "in", patients=1, studies=1, series=1)
    ds = dcmread(study.paths[0], stop_before_pixels=True)
    header_rows(ds)
    raw = sum(1 for e in ds._dict.values() if isinstance(e, RawDataElement))
    assert raw > len(ds._dict) // 2
    again = dcmread(study.paths[0], stop_before_pixels=True)
    _same(header_rows(ds), reference_rows(again))


def test_same_bytes_under_different_byte_orders() -> None:
    """``00 01`` is 256 little endian and 1 big endian: the memo key carries the byte order."""
    from pydicom.uid import ExplicitVRLittleEndian

    blobs = []
    for syntax, value in ((ExplicitVRLittleEndian, 256), (ExplicitVRBigEndian, 1)):
        ds = make_instance(patient=1)
        ds.file_meta.TransferSyntaxUID = syntax
        ds.Rows = ds.Columns = value
        ds.SliceLocation = 1.0
        del ds.PixelData
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        blobs.append(buf.getvalue())
    assert _check_bytes(blobs, rounds=2) == 8
    rows = [{r[1]: r[3] for r in header_rows(_read(b))[0]} for b in blobs]
    assert (rows[0]["00280010"], rows[1]["00280010"]) == ("256", "1")
