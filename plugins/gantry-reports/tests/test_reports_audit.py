"""`gantry report audit`: what was done to each instance, never the values."""

from __future__ import annotations

import csv
import io
import json

import click
import pytest
from click.testing import CliRunner
from gantry_reports.commands import add_report_commands
from pydicom import dcmread

SECRET = bytes(range(32))

# the working store is a real SQLite database (gantry-sqlite)
pytestmark = pytest.mark.component


def _run(*args):
    group = click.Group()
    add_report_commands(group)
    return CliRunner().invoke(group, ["report", "audit", *args],
                              env={"GANTRY_SECRET": SECRET.hex()})


def test_audit_csv_one_row_per_instance_by_pseudonymous_uid(exported):
    result = _run("--db", exported["db"], "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    exported_uids = {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID)
                     for p in exported["dest"].rglob("*.dcm")}
    assert {r["sop_instance_uid"] for r in rows} >= exported_uids
    row = next(r for r in rows if r["sop_instance_uid"] in exported_uids)
    assert row["status"] == "exported" and int(row["changes"]) > 10
    removed = row["removed"].split(";")
    assert "PatientAddress" in removed and "OtherPatientIDsSequence" in removed
    assert "PatientName" in row["replaced"].split(";")
    assert "StudyInstanceUID" in row["replaced"].split(";")
    assert any(a.startswith("(0009,") for a in removed)  # private tags by tag


def test_audit_never_holds_original_values(exported):
    for args in (("--format", "csv"), ("--format", "json", "--long")):
        text = _run("--db", exported["db"], *args).stdout
        assert [t for t in exported["cohort"].tokens if t in text] == []


def test_audit_long_json_lists_each_change(exported, tmp_path):
    out = tmp_path / "audit.json"
    result = _run("--db", exported["db"], "--format", "json", "--long", "--out", str(out))
    assert result.exit_code == 0, result.output
    changes = json.loads(out.read_text())
    assert {c["category"] for c in changes} >= {"removed", "replaced"}
    assert all(set(c) == {"sop_instance_uid", "category", "action", "attribute", "tag",
                          "component", "detail"} for c in changes)
    assert {c["component"] for c in changes} >= {"ps315-tags"}
