"""``identifiers_from_items(..., plans=memo)`` gives the very identifier set (values, kinds and
their order) it gives without the memo, for items seen before and new ones alike."""

from __future__ import annotations

import pytest
from pydicom import dcmread

from gantry.deid.identifiers import element_items, identifiers_from_items
from gantry.profiles import load_profile
from gantry.records import PatientKey
from gantry.testing.factory import bundled_test_files, write_cohort


@pytest.mark.parametrize("name", ["ps3.15/basic", "ps3.15/retain-uids", "ps3.15/full-dates"])
def test_plans_give_the_same_set(tmp_path, name) -> None:
    profile = load_profile(name)
    cohort = write_cohort(tmp_path / "c", patients=2, series=2, instances=2)
    files = sorted(p for p in cohort.root.rglob("*") if p.is_file())
    files += bundled_test_files("*.dcm")[:40]
    plans: dict = {}
    compared = 0
    for path in files:
        ds = dcmread(path, force=True)
        items: list = []
        try:
            element_items(ds, False, items)
        except Exception:
            continue  # (a file the walk cannot read: not this test's concern)
        patient = PatientKey(patient_id=str(ds.get("PatientID", "")),
                             patient_name=str(ds.get("PatientName", "")))
        plain = identifiers_from_items(items, patient, ["x-extra"], profile=profile)
        for _ in range(2):  # new items, then the same items again
            planned = identifiers_from_items(items, patient, ["x-extra"], profile=profile,
                                             plans=plans)
            assert list(planned.values.items()) == list(plain.values.items()), path
            assert planned.exempt_vrs == plain.exempt_vrs
        compared += 1
    assert compared >= 30 and plans
