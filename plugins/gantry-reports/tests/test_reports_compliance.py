"""`gantry report compliance`: every instance against every rule of a profile."""

from __future__ import annotations

import hashlib
import json
import shutil

import click
import pytest
from click.testing import CliRunner
from gantry_reports.commands import add_report_commands
from gantry_reports.compliance import check_dataset
from pydicom import dcmread

from gantry.plugins import build_plugin_manager
from gantry.session import load_run_profile

# the working store is a real SQLite database (gantry-sqlite)
pytestmark = pytest.mark.component


def _cli():
    group = click.Group()
    add_report_commands(group)
    return group


@pytest.fixture(scope="module")
def basic():
    return load_run_profile("ps3.15/basic", build_plugin_manager())


def test_gantry_export_complies_with_its_profile(exported, basic, tmp_path):
    summary = check_dataset(exported["dest"], basic, out_dir=tmp_path / "report")
    assert summary["fail"] == 0 and summary["verdict"] in ("pass", "unverified")
    assert summary["instances"] == len(list(exported["dest"].rglob("*.dcm")))
    assert summary["rules"] > 500  # every Table E.1-1 row, masks, private, markers
    doc = json.loads((tmp_path / "report" / "compliance.json").read_text())
    assert doc["profile"]["name"] == "ps3.15/basic" and doc["profile"]["edition"]
    assert doc["tools"]["gantry"] and doc["tools"]["gantry-reports"]
    assert {r["rule"] for r in doc["rules"]} >= {"(0010,0010) PatientName", "private",
                                                 "marker:PatientIdentityRemoved"}
    assert all(r["instances_checked"] == summary["instances"] for r in doc["rules"])
    assert len(doc["instances"]) == summary["instances"]
    # pseudonyms cannot be proven from the files: said plainly, not passed silently
    assert "(0010,0010) PatientName" in doc["could_not_verify"]["rules"]
    assert doc["could_not_verify"]["not_checked"]
    assert "manifest.json" not in json.dumps(doc["non_dicom_files"])  # own files skipped


def test_report_sha256_covers_the_report(exported, basic, tmp_path):
    summary = check_dataset(exported["dest"], basic, out_dir=tmp_path)
    raw = (tmp_path / "compliance.json").read_bytes()
    body = raw[:raw.index(b',\n "report_sha256"')]
    assert hashlib.sha256(body).hexdigest() == summary["report_sha256"]
    assert json.loads(raw)["report_sha256"] == summary["report_sha256"]
    for name in ("compliance.json", "compliance.html"):
        line = (tmp_path / f"{name}.sha256").read_text()
        assert line == f"{hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()}  {name}\n"
    html = (tmp_path / "compliance.html").read_text()
    assert summary["report_sha256"] in html and "could not verify" in html


def test_breaches_fail_the_rule_and_the_instance(exported, basic, tmp_path):
    data = tmp_path / "tampered"
    shutil.copytree(exported["dest"], data)
    victim = sorted(data.rglob("*.dcm"))[0]
    ds = dcmread(victim)
    ds.PatientAddress = "1 Secret Street"            # X in the basic profile
    ds.PatientIdentityRemoved = "NO"
    block = ds.private_block(0x0011, "SOMEVENDOR", create=True)
    block.add_new(0x01, "LO", "hidden")               # private, unknown creator
    ds.ContentCreatorName = "Somebody^Else"          # Z: a non-dummy value is unverifiable
    ds.save_as(victim, enforce_file_format=True)
    (data / "notes.txt").write_text("not DICOM")
    summary = check_dataset(data, basic, out_dir=tmp_path / "r")
    assert summary["verdict"] == "fail" and summary["fail"] == 1
    doc = json.loads((tmp_path / "r" / "compliance.json").read_text())
    rules = {r["rule"]: r for r in doc["rules"]}
    assert rules["(0010,1040) PatientAddress"]["fail"] == 1
    assert rules["(0010,1040) PatientAddress"]["outcome"] == "fail"
    assert rules["private"]["fail"] == 1
    assert rules["marker:PatientIdentityRemoved"]["fail"] == 1
    assert rules["(0070,0084) ContentCreatorName"]["unverified"] == 1
    bad = [i for i in doc["instances"] if i["verdict"] == "fail"]
    assert len(bad) == 1 and bad[0]["path"] == str(victim.relative_to(data))
    assert {f["rule"] for f in bad[0]["failures"]} == {
        "(0010,1040) PatientAddress", "private", "marker:PatientIdentityRemoved"}
    assert doc["non_dicom_files"] == ["notes.txt"]
    text = json.dumps(doc) + (tmp_path / "r" / "compliance.html").read_text()
    assert "1 Secret Street" not in text and "hidden" not in text  # values never quoted


def test_cli_exit_codes_and_profile_options(exported, tmp_path):
    runner = CliRunner()
    out = tmp_path / "ok"
    result = runner.invoke(_cli(), ["report", "compliance", str(exported["dest"]),
                                    "--profile", "ps3.15/basic", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["fail"] == 0
    # the same files checked against a profile keeping modified dates: markers disagree
    result = runner.invoke(_cli(), ["report", "compliance", str(exported["dest"]),
                                    "--profile", "ps3.15/research", "--out",
                                    str(tmp_path / "research")])
    doc = json.loads((tmp_path / "research" / "compliance.json").read_text())
    failed = {r["rule"] for r in doc["rules"] if r["fail"]}
    assert result.exit_code == 1 and "FAIL" in result.output
    assert "marker:DeidentificationMethodCodeSequence" in failed
    result = runner.invoke(_cli(), ["report", "compliance", str(exported["dest"]), "--out",
                                    str(exported["dest"] / "inside")])
    assert result.exit_code == 2


def test_emptied_sequence_passes_and_filled_one_fails(basic):
    from gantry_reports.compliance import Checker, InstanceResult
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    checker = Checker(basic)
    rule = "(0040,0555) AcquisitionContextSequence"  # X/Z: Z (type 2) for enhanced images
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR
    ds.AcquisitionContextSequence = Sequence([])
    checker.check(ds, InstanceResult("empty.dcm"))
    assert checker.stats[rule].fail == 0
    item = Dataset()
    item.ValueType = "TEXT"
    ds.AcquisitionContextSequence = Sequence([item])
    result = InstanceResult("filled.dcm")
    checker.check(ds, result)
    assert checker.stats[rule].fail == 1
    assert {"rule": rule, "where": "AcquisitionContextSequence",
            "detail": "sequence not emptied"} in result.failures


def _originals(exported, secret=None):
    from gantry_reports.originals import Originals

    from gantry import Session

    session = Session(store=exported["db"], secret=secret or bytes(range(32)))
    return session, Originals(session)


def test_with_originals_everything_is_verified(exported, tmp_path):
    session, originals = _originals(exported)
    with session:
        summary = check_dataset(exported["dest"], session.profile, out_dir=tmp_path,
                                originals=originals)
    doc = json.loads((tmp_path / "compliance.json").read_text())
    assert doc["checked_against_originals"] is True
    assert summary["fail"] == 0 and summary["unverified"] == 0 and summary["verdict"] == "pass"
    rules = {r["rule"]: r for r in doc["rules"]}
    assert rules["originals:no-identifier-left"]["pass"] == summary["instances"]
    assert rules["(0010,0010) PatientName"]["pass"] == summary["instances"]


def test_with_originals_leaks_and_wrong_pseudonyms_fail(exported, tmp_path):
    data = tmp_path / "tampered"
    shutil.copytree(exported["dest"], data)
    victim = sorted(data.rglob("*.dcm"))[0]
    ds = dcmread(victim)
    ds.ImageComments = "seen by Quillfeather and Harrowgate"  # original names, planted back
    ds.PatientID = "SOMEONE-ELSE"
    ds.save_as(victim, enforce_file_format=True)
    session, originals = _originals(exported)
    with session:
        summary = check_dataset(data, session.profile, out_dir=tmp_path / "r",
                                originals=originals)
    doc = json.loads((tmp_path / "r" / "compliance.json").read_text())
    rules = {r["rule"]: r for r in doc["rules"]}
    assert summary["fail"] == 1
    assert rules["originals:no-identifier-left"]["fail"] == 1
    assert rules["(0010,0020) PatientID"]["fail"] == 1
    text = (tmp_path / "r" / "compliance.json").read_text()
    assert "Quillfeather" not in text and "Harrowgate" not in text  # kinds, never values
    # another secret: the UIDs and pseudonyms are not this project's keyed mapping
    session, originals = _originals(exported, secret=bytes(range(32, 64)))
    with session:
        summary = check_dataset(exported["dest"], session.profile, out_dir=tmp_path / "s",
                                originals=originals)
    rules = {r["rule"]: r for r in json.loads((tmp_path / "s" / "compliance.json")
                                              .read_text())["rules"]}
    assert rules["(0008,0018) SOPInstanceUID"]["fail"] == summary["instances"]


def test_with_originals_kept_times_and_shifted_datetimes_are_verified(tmp_path):
    """Under Retain Longitudinal Modified Dates a time of day is kept (a whole-day shift
    leaves it) and a DT has its date part shifted: with the originals both are proven, not
    'unverified'; a time that differs from the original fails."""
    pytest.importorskip("gantry_sqlite")
    from gantry_reports.originals import Originals

    from gantry import Session
    from gantry.testing.factory import make_instance

    src = tmp_path / "in"
    src.mkdir()
    ds = make_instance(patient=1)
    ds.AcquisitionDateTime = f"{ds.StudyDate}101500.25"
    ds.AcquisitionTime = "101500.25"
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    db = f"sqlite:///{tmp_path / 'work.db'}"
    dest = tmp_path / "out"
    with Session(store=db, profile="ps3.15/research", secret=bytes(range(32))) as session:
        session.ingest(str(src))
        assert session.export(str(dest)).done == 1

    def rules(out):
        with Session(store=db, profile="ps3.15/research", secret=bytes(range(32))) as session:
            check_dataset(dest, session.profile, out_dir=out, originals=Originals(session))
        doc = json.loads((out / "compliance.json").read_text())
        return {r["rule"]: r for r in doc["rules"]}

    found = rules(tmp_path / "c1")
    for rule in ("(0008,0030) StudyTime", "(0008,0032) AcquisitionTime",
                 "(0008,002A) AcquisitionDateTime"):
        assert (found[rule]["pass"], found[rule]["unverified"]) == (1, 0), found[rule]
    written = next(dest.rglob("*.dcm"))
    tampered = dcmread(written)
    tampered.StudyTime = "235959"
    tampered.save_as(written, enforce_file_format=True)
    assert rules(tmp_path / "c2")["(0008,0030) StudyTime"]["fail"] == 1


def test_with_originals_a_uid_conflict_names_both_files(tmp_path):
    """An input lost to a UID conflict (the run exits 3 for it) is in the compliance report
    made with the originals: the instance, the file kept (and where it was written) and the
    file not written."""
    pytest.importorskip("gantry_sqlite")
    from gantry_reports.originals import Originals

    from gantry import Session
    from gantry.testing.factory import make_instance

    src = tmp_path / "in"
    (src / "zz").mkdir(parents=True)
    ds = make_instance(patient=1)
    ds.save_as(src / "a.dcm", enforce_file_format=True)
    ds.SeriesDescription = "the same instance, edited"
    ds.save_as(src / "zz" / "b.dcm", enforce_file_format=True)
    db = f"sqlite:///{tmp_path / 'work.db'}"
    dest, out = tmp_path / "out", tmp_path / "report"
    with Session(store=db, secret=bytes(range(32))) as session:
        session.deidentify(src, dest)
        check_dataset(dest, session.profile, out_dir=out, originals=Originals(session))
        pseudonym = session.run.map_uid(ds.SOPInstanceUID)
    (written,) = [str(p.relative_to(dest)) for p in dest.rglob("*.dcm")]
    doc = json.loads((out / "compliance.json").read_text())
    assert doc["uid_conflicts"] == [{"instance": pseudonym, "kept": str(src / "a.dcm"),
                                     "written": written, "not_written": str(src / "zz" / "b.dcm")}]
    html = (out / "compliance.html").read_text()
    assert "UID conflicts" in html and str(src / "zz" / "b.dcm") in html and written in html
