"""A rerun with another profile, options, secret or plugin stack must not relabel outputs made
another way: it stops with a clear message, or re-exports everything with ``--fresh``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydicom import dcmread

from gantry import Session
from gantry.cli import EXIT_FAILURE, EXIT_OK, cli
from gantry.errors import ExportError
from gantry.testing.factory import write_cohort


def _methods(out: Path) -> set[str]:
    """The profile each written file names in its De-identification Method."""
    return {value for p in out.rglob("*.dcm") for value in dcmread(p).DeidentificationMethod
            if str(value).startswith("profile ")}


def test_cli_rerun_with_another_profile_stops_then_fresh_reexports(tmp_path):
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    runner = CliRunner()
    args = ["deidentify", str(tmp_path / "in"), str(tmp_path / "out"), "--workers", "1"]
    assert runner.invoke(cli, args).exit_code == EXIT_OK
    assert _methods(tmp_path / "out") == {"profile ps3.15/basic"}
    again = runner.invoke(cli, [*args, "-p", "ps3.15/research"])
    assert again.exit_code == EXIT_FAILURE
    assert "another profile" in again.output and "--fresh --overwrite" in again.output
    assert _methods(tmp_path / "out") == {"profile ps3.15/basic"}  # nothing relabelled
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["profile"] == "ps3.15/basic"
    fresh = runner.invoke(cli, [*args, "-p", "ps3.15/research", "--fresh", "--overwrite",
                                "--json"])
    assert fresh.exit_code == EXIT_OK, fresh.output
    export = json.loads(fresh.stdout)["summaries"][1]
    assert export["done"] == 2 and export["skipped"] == 0
    assert _methods(tmp_path / "out") == {"profile ps3.15/research"}
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["profile"] == "ps3.15/research"
    same = runner.invoke(cli, [*args, "-p", "ps3.15/research", "--json"])  # plain resume
    assert same.exit_code == EXIT_OK
    assert json.loads(same.stdout)["summaries"][1]["done"] == 0


@pytest.mark.parametrize("change", ["secret", "options", "plugins"])
def test_session_export_notices_each_part(tmp_path, change):
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    db = f"sqlite:///{tmp_path / 'w.db'}"
    pytest.importorskip("gantry_sqlite")
    with Session(db, workers=1) as session:
        session.ingest(tmp_path / "in")
        assert session.export(tmp_path / "out").done == 2
    kwargs: dict = {}
    if change == "secret":
        kwargs["secret"] = bytes(range(7, 39))
    elif change == "options":
        (tmp_path / "p.yaml").write_text("extends: ps3.15/basic\noptions: [retain-uids]\n")
        kwargs["profile"] = str(tmp_path / "p.yaml")
    else:
        (tmp_path / "hook.py").write_text("from gantry import hookimpl\n")
        (tmp_path / "p.yaml").write_text("extends: ps3.15/basic\nlocal_hooks: [hook.py]\n")
        kwargs["profile"] = str(tmp_path / "p.yaml")
    with Session(db, workers=1, **kwargs) as session:
        with pytest.raises(ExportError, match=r"another (profile|secret|plugins)"):
            session.export(tmp_path / "out")
        summary = session.export(tmp_path / "out", fresh=True)
        assert summary.done == 2 and summary.skipped == 0
        assert session.export(tmp_path / "out").skipped == 2  # the new recipe is recorded
