"""The series sink's parse of each de-identified instance: the dataset dcmread gives, without
holding the file's bytes."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest
from gantry_nifti.sink import _parsed
from gantry_nifti.synthetic import SeriesSpec, make_series
from pydicom.uid import ImplicitVRLittleEndian


def _encoded(ds, implicit: bool = False) -> bytes:
    if implicit:
        ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


@pytest.mark.parametrize("spec", [SeriesSpec(), SeriesSpec(multiframe=True, volumes=2),
                                  SeriesSpec(bits=8, signed=True)],
                         ids=["slices", "multiframe", "int8"])
def test_parsed_is_what_dcmread_reads_without_the_file(spec):
    for ds in make_series(spec)[:3]:
        data = _encoded(ds)
        ours, theirs = _parsed(data), pydicom.dcmread(io.BytesIO(data))
        assert list(ours.keys()) == list(theirs.keys())
        for elem in theirs:
            assert ours[elem.tag].value == elem.value, elem.keyword
        assert ours.file_meta == theirs.file_meta and ours.preamble == theirs.preamble
        assert np.array_equal(ours.pixel_array, theirs.pixel_array)
        assert ours.buffer is None  # the series is held once: not the file, its values


def test_a_file_the_byte_layer_does_not_split_goes_through_dcmread():
    ds = make_series(SeriesSpec())[0]
    data = _encoded(ds, implicit=True)
    ours = _parsed(data)
    assert ours.SOPInstanceUID == ds.SOPInstanceUID
    assert np.array_equal(ours.pixel_array, pydicom.dcmread(io.BytesIO(data)).pixel_array)
