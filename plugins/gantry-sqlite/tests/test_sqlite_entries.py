"""The index rows built from the kernel's per-element entries (``StoreBackend.prepare_entries``,
the one walk shared with the byte pass) equal the rows of the header's dataset
(``prepare``), for generated data sets — sequences, private blocks with and without creators,
UN, undefined lengths, long values, several character sets — and for the test corpora's
files, whichever path filled the memos first and after pydicom's settings change."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from gantry_sqlite import headers
from gantry_sqlite.plugin import gantry_stores, prepare_header, prepare_raw_header
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import config
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.tag import BaseTag

from gantry.dicom import walk as kernel_walk
from gantry.dicom.elements import forget_split
from gantry.dicom.header import header_from_bytes
from gantry.dicom.rawheader import RawHeader
from gantry.testing.factory import bundled_test_files, make_instance, write_cohort

BACKEND = next(iter(gantry_stores()))
INDEX = BACKEND.prepare_entries
PREPARE_RAW = kernel_walk.raw_preparer(BACKEND)
CHARSETS = {None: "ascii", "ISO_IR 100": "latin-1", "ISO_IR 192": "utf-8",
            "ISO_IR 144": "iso8859-5", "GB18030": "gb18030"}
CREATORS = ["SIEMENS CT VA0  COAD", "GEMS_IDEN_01", "ACME PRIVATE"]


def _both(data: bytes) -> tuple[Any, Any, bool]:
    """``(prepare from the entries, prepare of the dataset, whether the entries sufficed)``."""
    forget_split()
    header = RawHeader.parse(data)
    assert header is not None
    entries = kernel_walk.walk(header, INDEX)
    assert entries is not None and len(entries) == len(header.spans)
    taken = headers.header_rows_entries(header, entries) is not None
    fast = PREPARE_RAW(header)
    forget_split()
    full = prepare_header(header_from_bytes(data)[0])
    return fast, full, taken


def _text(draw: Any, encoding: str, limit: int) -> str:
    alphabet = st.characters(codec=encoding, exclude_characters="\\\x00\r\n\x1b",
                             exclude_categories=("Cc", "Cs"))
    return draw(st.text(alphabet, max_size=limit)).strip()


@st.composite
def datasets(draw: Any) -> bytes:
    """A planted instance with random text, numbers, sequences, private and UN elements."""
    ds = make_instance(patient=draw(st.integers(0, 3)), study=0, series=0,
                       instance=draw(st.integers(0, 3)), rows=4, cols=4)
    charset = draw(st.sampled_from(sorted(CHARSETS, key=str)))
    encoding = CHARSETS[charset]
    if charset is None:
        del ds.SpecificCharacterSet
    else:
        ds.SpecificCharacterSet = charset
    for tag, vr in draw(st.lists(st.sampled_from(
            [(0x00081030, "LO"), (0x00204000, "LT"), (0x00102180, "SH"), (0x00081070, "PN"),
             (0x00321060, "LO"), (0x00180015, "CS")]), max_size=4, unique=True)):
        value = _text(draw, encoding, 16 if vr in ("SH", "CS") else 64)
        ds.add_new(tag, vr, value.upper().encode("ascii", "ignore").decode() if vr == "CS"
                   else value)
    for tag, vr, value in draw(st.lists(st.sampled_from(
            [(0x00080021, "DA", "20231231"), (0x00080031, "TM", "101500.5"),
             (0x0008002A, "DT", "2019"), (0x00101010, "AS", "045Y"),
             (0x00101020, "DS", "1.5\\2"), (0x00200013, "IS", "-3"), (0x00280030, "DS", ""),
             (0x00181310, "US", [0, 4, 4, 0]), (0x00189306, "FD", 0.25),
             (0x00180050, "DS", "2.50000"), (0x00209128, "UL", 7),
             (0x00081155, "UI", "1.2.3\\1.2.4"), (0x00200052, "UI", ""),
             (0x0020000D, "UI", "1.2.840.99 ")]),
            max_size=5, unique_by=lambda t: t[0])):
        ds.add_new(tag, vr, value)
    if draw(st.booleans()):  # a long text value (not memoized: decoded alone)
        ds.add_new(0x00324000, "LT", _text(draw, encoding, 8) + "x" * 1500)
    if draw(st.booleans()):  # a sequence, maybe nested, maybe empty
        items = []
        for _ in range(draw(st.integers(0, 2))):
            item = Dataset()
            item.ReferencedSOPInstanceUID = draw(st.sampled_from([ds.SOPInstanceUID,
                                                                  "1.2.3.4.5"]))
            if draw(st.booleans()):
                inner = Dataset()
                inner.CodeValue = "T-D3000"
                inner.CodeMeaning = _text(draw, encoding, 20)
                item.PurposeOfReferenceCodeSequence = Sequence([inner])
            items.append(item)
        seq_tag = draw(st.sampled_from([0x00081140, 0x00081115, 0x00081250]))
        ds.add_new(seq_tag, "SQ", Sequence(items))
        if draw(st.booleans()):
            ds[seq_tag].is_undefined_length = True
    for group in draw(st.lists(st.sampled_from([0x0009, 0x0011, 0x0029]), max_size=2,
                               unique=True)):
        block = draw(st.integers(0x10, 0x11))
        if draw(st.booleans()):  # (a private element without its creator, too)
            ds.add_new(group << 16 | block, "LO", draw(st.sampled_from(CREATORS)))
        for element in draw(st.lists(st.integers(0, 4), max_size=3, unique=True)):
            vr = draw(st.sampled_from(["LO", "DS", "US", "OB", "UN", "SQ"]))
            tag = group << 16 | block << 8 | element
            if vr == "US":
                ds.add_new(tag, vr, draw(st.integers(0, 60000)))
            elif vr in ("OB", "UN"):
                ds.add_new(tag, vr, draw(st.binary(max_size=12)).ljust(2, b"\x00"))
            elif vr == "DS":
                ds.add_new(tag, vr, "2.5")
            elif vr == "SQ":
                item = Dataset()
                item.add_new(0x00080100, "SH", "X1")
                ds.add_new(tag, vr, Sequence([item]))
            else:
                ds.add_new(tag, vr, _text(draw, encoding, 32))
    if draw(st.booleans()):  # a public element written as UN (read back as its own VR)
        ds._dict[0x00081090] = RawDataElement(BaseTag(0x00081090), "UN", 4, b"ACME", 0,
                                              False, True)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=datasets(), cold=st.booleans())
def test_rows_from_entries_are_the_rows_of_the_dataset(data: bytes, cold: bool) -> None:
    if cold:  # every memo empty: the entries made now, not found
        headers._MEMO.clear()
        kernel_walk.TABLE.clear()
    fast, full, _ = _both(data)
    assert fast == full


def test_corpora_files_and_memo_orders(tmp_path: Path) -> None:
    write_cohort(tmp_path / "cohort", patients=2, series=2, instances=3)
    files = sorted((tmp_path / "cohort").rglob("i*"))
    files += [Path(p) for p in bundled_test_files("*") if os.path.getsize(p) < 8 << 20]
    taken = tried = 0
    for dataset_first in (False, True):
        headers._MEMO.clear()
        kernel_walk.TABLE.clear()
        for path in files:
            data = path.read_bytes()
            forget_split()
            if RawHeader.parse(data) is None:
                continue
            if dataset_first:
                prepare_header(header_from_bytes(data)[0])
            fast, full, ok = _both(data)
            assert fast == full, path
            assert fast == prepare_raw_header(RawHeader.parse(data)), path
            tried += 1
            taken += ok
    assert tried >= 80 and taken >= 0.8 * tried  # most files never build their dataset


def test_entries_are_made_again_when_pydicom_settings_change(monkeypatch) -> None:
    """An entry made under other decoding settings is not reused (the backend's token)."""
    ds = make_instance(rows=4, cols=4)
    ds.add_new(0x00101020, "DS", "1.50")
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    before, _, _ = _both(data)
    token = INDEX.token()
    monkeypatch.setattr(config, "use_DS_decimal", True)
    assert INDEX.token() is not token
    after, full, _ = _both(data)
    assert after == full
    monkeypatch.setattr(config, "use_DS_decimal", False)
    again, full, _ = _both(data)
    assert again == full == before


def test_customised_decoding_takes_no_entries(monkeypatch) -> None:
    """A data element callback: no entries, the dataset's rows (through ``prepare_raw``)."""
    monkeypatch.setattr(config, "data_element_callback", lambda raw, **kw: raw)
    assert INDEX.token() is None
    data = io.BytesIO()
    make_instance(rows=4, cols=4).save_as(data, enforce_file_format=True)
    forget_split()
    header = RawHeader.parse(data.getvalue())
    assert kernel_walk.walk(header, INDEX) is None
    assert PREPARE_RAW(header) == prepare_header(header.dataset())


@pytest.fixture(autouse=True)
def _clean() -> Any:
    yield
    forget_split()
