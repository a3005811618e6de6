"""The rows, digest and field values of a header are the same from its raw spans
(``prepare_raw``) as from its dataset (``prepare``), whichever fills the memo first."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from gantry_sqlite import headers
from gantry_sqlite.plugin import prepare_header, prepare_raw_header

from gantry.dicom.elements import forget_split
from gantry.dicom.header import header_from_bytes
from gantry.dicom.rawheader import RawHeader
from gantry.testing.factory import bundled_test_files, write_cohort


def _headers(tmp_path: Path) -> list[tuple[Path, bytes]]:
    write_cohort(tmp_path / "cohort", patients=2, series=2, instances=3)
    files = sorted((tmp_path / "cohort").rglob("i*"))
    files += [Path(p) for p in bundled_test_files("*") if os.path.getsize(p) < 8 << 20]
    out = []
    for path in files:
        data = path.read_bytes()
        forget_split()
        if RawHeader.parse(data) is not None:
            out.append((path, data))
    return out


@pytest.mark.parametrize("raw_first", [True, False])
def test_prepare_raw_is_prepare_of_the_dataset(tmp_path, raw_first) -> None:
    headers._MEMO.clear()
    raw_rows = 0
    for path, data in _headers(tmp_path):
        forget_split()
        raw = RawHeader.parse(data)
        dataset = header_from_bytes(data)[0]
        if raw_first:
            raw_rows += headers.header_rows_raw(raw) is not None
            fast, full = prepare_raw_header(raw), prepare_header(dataset)
        else:
            full = prepare_header(dataset)
            raw_rows += headers.header_rows_raw(raw) is not None
            fast = prepare_raw_header(raw)
        assert fast == full, path
    assert raw_rows >= 40  # most files never build their dataset


def test_a_sequence_with_an_ambiguous_element_falls_back(tmp_path) -> None:
    """An element whose VR pydicom settles from the dataset around it is not decoded alone:
    the whole header goes through its dataset (same rows)."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    from gantry.testing.factory import make_instance

    ds = make_instance(rows=4, cols=4)
    item = Dataset()
    item.add_new(0x00283002, "UN", b"\x00\x01\x00\x00\x10\x00")  # LUT Descriptor, US or SS
    ds.ModalityLUTSequence = Sequence([item])
    path = tmp_path / "lut.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    forget_split()
    raw = RawHeader.parse(data)
    assert raw is not None
    headers._MEMO.clear()
    assert prepare_raw_header(raw) == prepare_header(header_from_bytes(data)[0])
