"""Cleaning text, identifier variants, date shifting, compound-action resolution, markers."""

from __future__ import annotations

import pytest
from pydicom.dataset import Dataset

from gantry.deid.clean import Cleaner
from gantry.deid.dates import shift_da, shift_dt
from gantry.deid.identifiers import collect_identifiers
from gantry.deid.iod import iod_of
from gantry.deid.rules import resolve_compound
from gantry.records import PatientKey


def test_clean_removes_identifiers_and_patterns():
    ds = Dataset()
    ds.PatientName = "Quillfeather^Ermengarde^M"
    ds.PatientID = "MRN0007Q00000"
    ds.PatientBirthDate = "19500120"
    ids = collect_identifiers(ds, PatientKey("MRN0007Q00000"))
    text = ("ermengarde QUILLFEATHER (mrn0007q00000) born 01/20/1950, seen 2019-03-14, "
            "call (555) 010-7788, ID 88123456; CT CHEST W CONTRAST")
    out = Cleaner().clean(text, ids)
    for gone in ("ermengarde", "quillfeather", "mrn0007q00000", "1950", "2019", "7788",
                 "88123456"):
        assert gone not in out.lower()
    assert "CT CHEST W CONTRAST" in out


def test_scrub_only_removes_known_values():
    ds = Dataset()
    ds.PatientName = "Quillfeather^Ermengarde"
    ids = collect_identifiers(ds)
    assert Cleaner().scrub("Quillfeather 2019-03-14", ids) == "*** 2019-03-14"


def test_extra_words_and_patterns():
    from gantry.profiles import CleanSettings

    cleaner = Cleaner(CleanSettings(patterns=[r"room \d+"], words=["Nightshift"]))
    assert cleaner.clean("nightshift in Room 12", None) == "*** in ***"


@pytest.mark.parametrize(("value", "days", "expected"), [
    ("20190314", -10, "20190304"),
    ("20200301", -1, "20200229"),
    ("2019.03.14", 1, "20190315"),
    ("20190101-20190131", -1, "20181231-20190130"),
    ("bad", 5, ""),
])
def test_shift_da(value, days, expected):
    assert shift_da(value, days) == expected


def test_shift_dt_keeps_time_and_offset():
    assert shift_dt("20190314101500.123+0100", -3650) == "20090316101500.123+0100"
    assert shift_dt("2019", -400)[:4] == "2018"


@pytest.mark.parametrize(("action", "keyword", "iod", "expected"), [
    ("X/Z", "AcquisitionDate", "ct-image", "X"),  # Type 3 in CT
    ("X/Z", "AcquisitionDate", "enhanced-pet-image", "X"),
    ("X/Z", "AcquisitionDate", "positron-emission-tomography-image", "Z"),  # Type 2 in PET
    ("X/Z", "StartAcquisitionDateTime", "enhanced-pet-image", "X"),
    ("X/Z", "DeviceSerialNumber", "enhanced-ct-image", "D"),  # Type 1: a dummy, not offered
    ("X/D", "SeriesDate", "positron-emission-tomography-image", "D"),
    ("X/D", "SeriesDate", "ct-image", "X"),
    ("Z/D", "ContentDate", "ct-image", "Z"),  # Type 2C
    ("Z/D", "ContentDate", "comprehensive-sr", "D"),  # Type 1
    ("X/D", "RTPlanDate", "rt-plan", "Z"),  # Type 2
    ("X/Z/D", "OperatorsName", "rt-structure-set", "Z"),
    ("X/Z/D", "DeviceSerialNumber", "enhanced-mr-image", "D"),
    ("X/Z/D", "DeviceSerialNumber", "ct-image", "X"),
    ("X/Z/U*", "ReferencedImageSequence", "ct-image", "U"),
    ("X/Z/D", "InstitutionName", None, "X"),  # private or unknown SOP class
    ("Z/D", "ContentDate", None, "Z"),
    ("X", "ResponsiblePerson", "ct-image", "Z"),  # plain X of a Type 2C attribute
    ("X", "PatientAddress", "ct-image", "X"),
    ("K", "Anything", "ct-image", "K"),
])
def test_compound_resolution(action, keyword, iod, expected):
    assert resolve_compound(action, keyword, iod) == expected


def test_iod_of_sop_classes():
    assert iod_of("1.2.840.10008.5.1.4.1.1.88.22") == "enhanced-sr"
    assert iod_of("1.2.840.10008.5.1.4.1.1.4.1") == "enhanced-mr-image"
    assert iod_of("1.2.840.10008.5.1.4.1.1.2") == "ct-image"
    assert iod_of("1.2.840.10008.5.1.4.1.1.2\x00") == "ct-image"  # UI padding
    assert iod_of("1.2.826.0.1.3680043.10.999.1") is None  # a private SOP class


def test_a_profile_override_keeps_its_plain_x():
    from gantry.deid.iod import conformant_action

    assert conformant_action("X", "1") == "D"
    assert conformant_action("X", "1", explicit=True) == "X"
    assert conformant_action("Z", "1C") == "D"
    assert conformant_action("X/Z", "2", explicit=True) == "Z"  # compound codes always resolve


def test_markers_name_the_options(make_engine, deidentify):
    from gantry.testing.factory import make_instance

    ds = make_instance()
    deidentify(make_engine(options=("retain-longitudinal-full-dates", "clean-descriptors")), ds)
    assert ds.PatientIdentityRemoved == "YES"
    codes = [item.CodeValue for item in ds.DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113105", "113106"] or sorted(codes) == ["113100", "113105",
                                                                          "113106"]
    assert ds.LongitudinalTemporalInformationModified == "UNMODIFIED"
    assert ds.StudyDate == "20190314"


def test_unknown_attributes_switch(make_engine, deidentify):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.ConvolutionKernel = "STANDARD"  # not named by Table E.1-1
    ds.Rows = 4
    keep = ds.copy()
    deidentify(make_engine(), keep)
    assert keep.ConvolutionKernel == "STANDARD"
    deidentify(make_engine(unknown_attributes="remove"), ds)
    assert "ConvolutionKernel" not in ds and ds.Rows == 4


def test_safe_private_kept_only_under_the_option(make_engine, deidentify):
    def dataset():
        ds = Dataset()
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        block = ds.private_block(0x0019, "GEMS_ACQU_01", create=True)
        block.add_new(0x23, "DS", "27.5")  # table speed: safe
        block.add_new(0x9C, "LO", "SWAN")  # not in the safe list
        other = ds.private_block(0x0029, "SOMEONE_ELSE", create=True)
        other.add_new(0x23, "DS", "1")  # same element byte, other creator: not safe
        return ds

    basic = dataset()
    deidentify(make_engine(), basic)
    assert not any(elem.tag.is_private for elem in basic)
    kept = dataset()
    deidentify(make_engine(options=("retain-safe-private",)), kept)
    assert kept[0x00191023].value == 27.5
    assert kept[0x00190010].value == "GEMS_ACQU_01"  # its creator stays
    assert 0x0019109C not in kept and 0x00291023 not in kept and 0x00290010 not in kept


def test_coded_strings_lose_ids_not_vocabulary(make_engine, deidentify):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.PatientName = "Perfusion^Brain"
    ds.PatientID = "PID99887766"
    ds.ImageType = ["DERIVED", "PRIMARY", "PERFUSION"]
    ds.add_new(0x00041500, "CS", ["PID99887766", "IM1"])  # ReferencedFileID
    deidentify(make_engine(), ds)
    assert list(ds.ImageType) == ["DERIVED", "PRIMARY", "PERFUSION"]
    assert list(ds[0x00041500].value) == ["REMOVED", "IM1"]


def test_preamble_is_zeroed(make_engine, deidentify):
    from gantry.testing.factory import make_instance

    ds = make_instance()
    ds.preamble = b"Quillfeather clinic viewer".ljust(128, b"\x00")
    deidentify(make_engine(), ds)
    assert ds.preamble == b"\x00" * 128


def test_identifiers_collected_without_the_profile_are_filtered(make_engine, deidentify):
    from gantry.deid.gate import find_leaks
    from gantry.deid.standalone import instance_context
    from gantry.testing.factory import make_instance

    engine = make_engine(options=("retain-device-identity", "retain-institution-identity"))
    ds = make_instance()
    context = instance_context(ds, engine.run)
    context.identifiers = collect_identifiers(ds, context.patient)  # as a kernel might
    engine.apply(ds, context)
    assert ds.StationName == "CTZETA01" and ds.InstitutionName.startswith("Saint Ignatius")
    import io

    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    assert find_leaks(buf.getvalue(), "x.dcm", context.identifiers) == []
