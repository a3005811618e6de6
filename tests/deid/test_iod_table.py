"""The shipped IOD table is highdicom's data, derived by the script; the kernel never imports
highdicom; Types reach into sequences; unknown SOP classes get the least-disclosing actions."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from gantry.deid.iod import iod_of, iod_source, iod_table, types_at
from gantry.testing.iods import make_iod

ROOT = Path(__file__).resolve().parents[2]


def _script():
    spec = importlib.util.spec_from_file_location("generate_iod_types",
                                                  ROOT / "scripts" / "generate_iod_types.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(importlib.util.find_spec("highdicom") is None and not os.environ.get("CI"),
                    reason="highdicom (test extra) not installed")
def test_shipped_table_is_rebuilt_from_the_pinned_highdicom():
    script = _script()
    shipped = (ROOT / "profiles" / "ps3.3" / "iod_types.json.gz").read_bytes()
    assert script.encode(script.build(script.highdicom_standard_dir())) == shipped
    assert iod_table()["highdicom"] == script.HIGHDICOM_VERSION
    assert iod_source().startswith(f"highdicom {script.HIGHDICOM_VERSION}")


def test_the_kernel_never_imports_highdicom():
    code = ("import sys\n"
            "from gantry.deid.engine import DeidEngine\n"
            "from gantry.deid.standalone import instance_context, standalone_run\n"
            "from gantry.profiles import load_profile\n"
            "from gantry.testing.iods import make_iod\n"
            "profile = load_profile('ps3.15/basic')\n"
            "run = standalone_run(profile, bytes(32))\n"
            "ds = make_iod('pet')\n"
            "DeidEngine(profile, run).apply(ds, instance_context(ds, run))\n"
            "assert ds.SeriesDate == '19000101', ds.SeriesDate\n"
            "assert 'highdicom' not in sys.modules\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr


def test_types_reach_into_sequences():
    iod = iod_of("1.2.840.10008.5.1.4.1.1.4.1")
    assert iod == "enhanced-mr-image"
    assert types_at(iod, ("PerFrameFunctionalGroupsSequence", "FrameContentSequence"))[
        "FrameAcquisitionDateTime"] == "1C"
    assert "FrameAcquisitionDateTime" not in types_at(iod)
    assert types_at(iod, ("NoSuchSequence",)) == {}
    assert types_at(None) == {}


def test_a_type_1c_date_in_a_functional_group_gets_a_dummy(make_engine, deidentify):
    ds = make_iod("enhanced-mr")
    changes = deidentify(make_engine(), ds)
    for item in ds.PerFrameFunctionalGroupsSequence:
        assert item.FrameContentSequence[0].FrameAcquisitionDateTime == "19000101000000"
    assert ds.AcquisitionDateTime == "19000101000000"  # X/Z/D, Type 1 here
    assert ds.DeviceSerialNumber == "ANONYMIZED"  # X/Z/D, Type 1 in Enhanced Equipment
    dummied = {c.keyword for c in changes if c.action == "D"}
    assert {"FrameAcquisitionDateTime", "AcquisitionDateTime", "DeviceSerialNumber"} <= dummied


def test_an_unknown_sop_class_gets_the_least_disclosing_actions(make_engine, deidentify):
    ds = make_iod("pet")
    ds.SOPClassUID = "1.2.826.0.1.3680043.10.999.77"  # private
    deidentify(make_engine(), ds)
    assert "SeriesDate" not in ds and "OperatorsName" not in ds and "InstitutionName" not in ds
    assert ds.ContentDate == ""  # Z/D: Z


def test_a_local_code_in_dummy_mode_becomes_a_valid_dummy_code(make_engine, deidentify):
    ds = make_iod("sr")
    code = Dataset()
    code.CodeValue = "LOCAL7Q"
    code.CodingSchemeDesignator = "99STIGNATIUS"
    code.CodeMeaning = "Saint Ignatius ward"
    public = Dataset()
    public.CodeValue = "4147007"
    public.CodingSchemeDesignator = "SCT"
    public.CodeMeaning = "Mass"
    item = Dataset()
    item.RelationshipType = "CONTAINS"
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = Sequence([public])
    item.ConceptCodeSequence = Sequence([code])
    ds.ContentSequence.append(item)
    deidentify(make_engine(), ds)  # basic: the Content Sequence is kept in dummy mode
    kept = ds.ContentSequence[-1]
    dummy = kept.ConceptCodeSequence[0]
    assert (dummy.CodeValue, dummy.CodingSchemeDesignator, dummy.CodeMeaning) == \
        ("ANONYMIZED", "99GANTRY", "ANONYMIZED")
    assert kept.ConceptNameCodeSequence[0].CodingSchemeDesignator == "SCT"  # public: kept


def test_the_markers_list_the_attributes_given_dummies(make_engine, deidentify):
    ds = make_iod("pet")
    changes = deidentify(make_engine(), ds)
    method = list(ds.DeidentificationMethod)
    listed = " ".join(v for v in method if v.startswith("dummy values:")).split()
    assert {"00080021", "00080031"} <= set(listed)  # Series Date and Time, Type 1 in PET
    dummied = {c.tag[1:5] + c.tag[6:10] for c in changes
               if c.action == "D" and c.detail not in ("pseudonym", "items processed")}
    assert set(listed) - {"dummy", "values:"} == dummied
    assert all(len(v) <= 64 for v in method)
    assert "00100010" not in listed  # the pseudonym is not a dummy


def test_no_dummies_no_list(make_engine, deidentify):
    ds = make_iod("ct")
    deidentify(make_engine(options=("retain-longitudinal-full-dates",)), ds)
    assert not [v for v in ds.DeidentificationMethod if v.startswith("dummy values:")]


def test_explain_tag_says_what_the_iod_changed():
    from gantry.deid.rules import explain_tag
    from gantry.profiles import load_profile

    basic = load_profile("ps3.15/basic")
    pet, ct, private = "1.2.840.10008.5.1.4.1.1.128", "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4"
    assert explain_tag(basic, 0x00080021, pet).endswith(
        "; Type 1 in positron-emission-tomography-image: D")
    assert explain_tag(basic, 0x00080021, ct).endswith("; Type 3 or unknown in ct-image: X")
    assert explain_tag(basic, 0x00102297, ct).endswith("; Type 2C in ct-image: Z")
    assert explain_tag(basic, 0x00080021, private).endswith("; IOD unknown: X")
    assert explain_tag(basic, 0x00100030, ct) == explain_tag(basic, 0x00100030)  # Z stays Z
