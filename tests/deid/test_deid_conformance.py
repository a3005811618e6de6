"""Conformance with the shipped Table E.1-1: every row, under the basic profile and each option.

Generated from ``profiles/ps3.15/annex_e_2024b.json``: for each row, a dataset holding that
attribute gets the action the table prescribes (options resolved with the documented
precedence, compound codes and IOD conformance with the Types of the CT Image IOD).
"""

from __future__ import annotations

import re

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry.deid.rules import annex_e_table, option_action, resolve_compound

TABLE = annex_e_table("2024b")
CT = "1.2.840.10008.5.1.4.1.1.2"
ORIGINAL_UID = "1.2.826.0.1.3680043.10.999.1.2.3"
VALUES = {
    "DA": "20190314", "DT": "20190314101500", "TM": "101500", "PN": "Quillfeather^Ermengarde",
    "UI": ORIGINAL_UID, "CS": "ABC", "AS": "045Y", "IS": "5", "DS": "1.5", "US": 5, "SS": 5,
    "UL": 5, "SL": 5, "FL": 1.5, "FD": 1.5, "AE": "STATION7", "UR": "https://example.org/x",
    "OB": b"\x01\x02", "OW": b"\x01\x02", "UN": b"\x01\x02", "AT": 0x00100010,
    "SV": 5, "UV": 5, "OD": b"\x00" * 8, "OF": b"\x00" * 4, "OL": b"\x00" * 4, "OV": b"\x00" * 8,
}
TEXT = "Plain words here"


def _cases():
    for row in TABLE["rows"]:
        if row["tag"] == "private" or "x" in row["tag"]:
            continue
        option_sets = [()] + [(o,) for o in TABLE["options"] if o in row]
        for options in option_sets:
            label = f"{row['tag']}-{row['keyword']}-{options[0] if options else 'basic'}"
            yield pytest.param(row, options, id=label)


def _dataset(tag: int, vr: str) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT
    if vr == "SQ":
        item = Dataset()
        item.ReferencedSOPInstanceUID = ORIGINAL_UID
        item.ReferencedSOPClassUID = CT
        ds.add_new(tag, "SQ", Sequence([item]))
    else:
        value = VALUES.get(vr, TEXT)
        ds.add_new(tag, vr, value)
    return ds


@pytest.mark.parametrize(("row", "options"), list(_cases()))
def test_row_gets_the_table_action(row, options, make_engine, deidentify):
    tag = int(row["tag"].strip("()").replace(",", ""), 16)
    vr = dictionary_VR(tag).split(" or ")[0]
    if vr == "US or SS":
        vr = "US"
    expected = resolve_compound(option_action(row, options), row["keyword"], "ct-image")
    engine = make_engine(options=options)
    ds = _dataset(tag, vr)
    original = ds[tag].value
    deidentify(engine, ds)
    if tag in (0x00100010, 0x00100020) and expected in ("Z", "D"):
        assert ds[tag].value not in ("", original)  # the keyed pseudonym is the dummy
        return
    if tag == 0x00020003:  # file meta UID in the dataset body: mapped like any UID
        expected = "K" if "retain-uids" in options else "U"
    if expected == "X":
        assert tag not in ds
        return
    assert tag in ds, f"{row['keyword']} removed but table says {expected}"
    value = ds[tag].value
    if expected == "Z":
        assert value in ("", None, b"") or (vr == "SQ" and len(value) == 0)
    elif expected == "K":
        if vr == "SQ":
            assert len(value) == 1
        else:
            assert value == original
    elif expected == "D":
        if vr == "SQ":
            assert len(value) == 1
            assert value[0].ReferencedSOPInstanceUID != ORIGINAL_UID
        elif vr == "UI":
            assert value.startswith("2.25.")
        else:
            assert value not in ("", None) and value != original
    elif expected == "U":
        if vr == "SQ":
            assert value[0].ReferencedSOPInstanceUID.startswith("2.25.")
        else:
            assert str(value).startswith("2.25.")
    elif expected == "C":
        if vr in ("DA", "DT") and "retain-longitudinal-modified-dates" in options:
            assert value != original and re.fullmatch(r"\d{8}\d*", str(value))
        elif vr == "SQ":
            assert len(value) == 1
        elif vr == "UI":
            assert str(value).startswith("2.25.")
        else:
            assert tag in ds
    else:  # pragma: no cover - the table has no other action
        pytest.fail(f"unexpected action {expected}")


def test_every_table_row_is_tested():
    """The generator covers all 621 rows (618 exact tags + 3 masks + private)."""
    rows = TABLE["rows"]
    assert len(rows) == 621
    assert sum(1 for r in rows if "x" in r["tag"]) == 3
    assert sum(1 for r in rows if r["tag"] == "private") == 1


@pytest.mark.parametrize(("options", "curve", "overlay_data", "overlay_comments"), [
    ((), False, False, False),
    (("clean-graphics",), True, True, True),
])
def test_group_masks(options, curve, overlay_data, overlay_comments, make_engine, deidentify):
    ds = Dataset()
    ds.SOPClassUID = CT
    ds.add_new(0x50003000, "OB", b"\x01\x02")
    ds.add_new(0x50020005, "US", 1)
    ds.add_new(0x60023000, "OW", b"\x00\x01")
    ds.add_new(0x60024000, "LT", "plain overlay note")
    ds.add_new(0x60020010, "US", 16)
    deidentify(make_engine(options=options), ds)
    assert (0x50003000 in ds) is curve
    assert (0x50020005 in ds) is curve
    assert (0x60023000 in ds) is overlay_data
    assert (0x60024000 in ds) is overlay_comments
    # an overlay whose data was removed is removed whole
    assert (0x60020010 in ds) is overlay_data
