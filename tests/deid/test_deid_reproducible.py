"""Keyed determinism: same input + secret → identical bytes; another secret → unlinkable."""

from __future__ import annotations

import pickle
import subprocess
import sys

from gantry.deid.keys import keyed_date_offset, keyed_pseudonym, keyed_uid
from gantry.records import PatientKey
from gantry.testing.factory import make_instance


def _run(engine, deidentify, encoder, **kw) -> tuple[bytes, object]:
    ds = make_instance(**kw)
    deidentify(engine, ds)
    return encoder(ds), ds


def test_same_secret_gives_identical_bytes(make_engine, deidentify, encoder):
    options = ("retain-longitudinal-modified-dates", "clean-descriptors")
    first, _ = _run(make_engine(options=options), deidentify, encoder, patient=1)
    second, _ = _run(make_engine(options=options), deidentify, encoder, patient=1)
    assert first == second


def test_other_secret_is_unlinkable(make_engine, deidentify, encoder):
    _, a = _run(make_engine(secret=b"a" * 32), deidentify, encoder, patient=1)
    _, b = _run(make_engine(secret=b"b" * 32), deidentify, encoder, patient=1)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
                    "PatientName"):
        assert a[keyword].value != b[keyword].value


def test_keyed_values_are_stable_across_processes():
    code = ("from gantry.deid.keys import keyed_uid;"
            "print(keyed_uid(bytes(range(32)), '1.2.3.4'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == keyed_uid(bytes(range(32)), "1.2.3.4")
    assert out.startswith("2.25.") and len(out) <= 64


def test_date_offsets_stay_in_range_and_differ_per_patient():
    offsets = {keyed_date_offset(b"s" * 32, PatientKey(patient_id=str(i)), -3650, -365)
               for i in range(200)}
    assert all(-3650 <= o <= -365 for o in offsets)
    assert len(offsets) > 150


def test_pseudonym_is_deterministic_and_picklable():
    key = PatientKey(patient_id="MRN1", issuer="H")
    one = keyed_pseudonym(b"s" * 32, key)
    assert one == keyed_pseudonym(b"s" * 32, key)
    assert one != keyed_pseudonym(b"s" * 32, PatientKey(patient_id="MRN1", issuer="Other"))
    assert pickle.loads(pickle.dumps(one)) == one


def test_intervals_preserved_under_modified_dates(make_engine, deidentify):
    import datetime as dt

    a = make_instance(patient=4, study=0)
    b = make_instance(patient=4, study=3)
    before = (dt.datetime.strptime(b.StudyDate, "%Y%m%d") -
              dt.datetime.strptime(a.StudyDate, "%Y%m%d"))
    engine = make_engine(options=("retain-longitudinal-modified-dates",))
    deidentify(engine, a)
    deidentify(engine, b)
    after = (dt.datetime.strptime(b.StudyDate, "%Y%m%d") -
             dt.datetime.strptime(a.StudyDate, "%Y%m%d"))
    assert before == after
    assert a.StudyTime == "101500.000000"  # times of day survive a whole-day shift
    assert a.LongitudinalTemporalInformationModified == "MODIFIED"
