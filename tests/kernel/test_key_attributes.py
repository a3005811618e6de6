"""``key_attributes`` reads raw elements through the decode cache: the same values as
``ds.get``, of the same types."""

from __future__ import annotations

from pydicom import dcmread

from gantry.dicom.values import plain_value
from gantry.model import KEY_ATTRIBUTES, key_attributes
from gantry.testing.factory import bundled_test_files as get_testdata_files


def _reference(ds) -> dict:
    out = {}
    for keyword in KEY_ATTRIBUTES:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        out[keyword] = plain_value(value)
    return out


def test_same_values_and_types_as_dataset_get():
    checked = 0
    for path in get_testdata_files("*.dcm"):
        try:
            ds = dcmread(path, stop_before_pixels=True, force=True)
            expected = _reference(dcmread(path, stop_before_pixels=True, force=True))
        except Exception:
            continue
        found = key_attributes(ds)
        assert found == expected, path
        assert {k: type(v) for k, v in found.items()} == \
            {k: type(v) for k, v in expected.items()}, path
        checked += 1
    assert checked > 50
