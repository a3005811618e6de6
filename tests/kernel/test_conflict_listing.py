"""A UID conflict (two files, one SOP Instance UID, different contents: the second is not
written) is an input not written, so ``gantry status --rejected`` lists it with both files
named, as the run's own summary does (the run exits 3 for it: ``outcome.conflicts``)."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from gantry.cli import EXIT_INCOMPLETE, EXIT_OK, cli
from gantry.testing.factory import write_cohort

pytest.importorskip("gantry_sqlite", reason="one-shot runs keep a SQLite working store")


def _run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="gantry")


def test_status_rejected_lists_a_uid_conflict_naming_both_files(tmp_path: Path) -> None:
    src, out = tmp_path / "in", tmp_path / "out"
    write_cohort(src, patients=1, series=1, instances=2)
    kept = sorted(p for p in src.rglob("*") if p.is_file())[0]
    ds = pydicom.dcmread(kept)
    ds.SeriesDescription = "the same instance, edited"
    (src / "zz").mkdir()
    other = src / "zz" / "edited-copy.dcm"  # walked after the first: the first is kept
    ds.save_as(other, enforce_file_format=True)

    run = _run("deidentify", str(src), str(out), "--workers", "1")
    assert run.exit_code == EXIT_INCOMPLETE, run.output
    assert f"{other}: SOP Instance UID already ingested from {kept}" in run.stderr

    brief = _run("status", str(out))
    assert "1 UID conflicts (--rejected lists them)" in brief.stdout
    listed = _run("status", str(out), "--rejected")
    assert listed.exit_code == EXIT_OK, listed.output
    (line,) = [row for row in listed.stdout.splitlines() if row.startswith("conflict: ")]
    assert line.startswith(f"conflict: {other}: SOP Instance UID already ingested from {kept} ")
    assert ds.SOPInstanceUID not in line  # the original UID is not shown: its pseudonym is
    as_json = json.loads(_run("status", str(out), "--rejected", "--json").stdout)
    (row,) = as_json["conflicts"]
    assert row["kept"] == str(kept) and row["source"] == str(other)
    assert row["instance"] != ds.SOPInstanceUID and row["instance"] in line
