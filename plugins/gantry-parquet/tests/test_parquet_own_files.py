"""An output folder holding a parquet table taken as input (``gantry deidentify OUT OUT2``):
the table's files and the folder's marker are Gantry's own (name and content), skipped as an
index, not rejected as inputs that are not DICOM."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from gantry_parquet.own_files import own_files

from gantry import Session
from gantry.ownfiles import own_file_kind
from gantry.testing.factory import write_cohort

pytest.importorskip("gantry_sqlite", reason="one-shot runs keep a SQLite working store")

SECRET = bytes(range(32))


def _cli(*args: str):
    from gantry.cli import _add_plugin_commands, cli

    _add_plugin_commands()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="gantry")


def test_a_table_beside_an_export_is_skipped_as_gantrys_own(tmp_path: Path):
    cohort = write_cohort(tmp_path / "in", patients=1, series=2, instances=2)
    out = tmp_path / "out"
    with Session("memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        assert session.export(str(out / "dicom"), format="dicom").failed == 0
        assert session.export(str(out / "one.parquet"), format="parquet").failed == 0
        assert session.export(str(out / "table"), format="parquet",
                              options={"partition_by": ["SeriesNumber"]}).failed == 0
    own = {p.relative_to(out).as_posix() for p in out.rglob("*")
           if p.is_file() and not p.name.endswith(".dcm")}
    assert "one.parquet" in own and "table/_gantry_parquet.json" in own
    assert any(name.startswith("table/SeriesNumber=") for name in own)
    run = _cli("deidentify", str(out), str(tmp_path / "out2"), "--workers", "1", "--json")
    outcome = json.loads(run.stdout)["outcome"]
    assert outcome["rejected"] == 0 and outcome["instances"] == 4, run.output
    listed = json.loads(_cli("status", str(tmp_path / "out2"), "--rejected", "--json").stdout)
    skipped = {Path(r["source"]).relative_to(out).as_posix() for r in listed["rejected_inputs"]
               if r["stage"] == "index" and r["reason"].startswith("Gantry's own ")}
    assert skipped == own


def test_the_kinds_need_their_content():
    kinds = list(own_files())
    assert own_file_kind(kinds, "a.parquet", lambda: b"PAR1\x15\x04") is not None
    assert own_file_kind(kinds, "a.parquet", lambda: b"not a table") is None
    assert own_file_kind(kinds, "_gantry_parquet.json", lambda: b'{"partition_by": []}') is None
