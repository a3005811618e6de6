"""docs/nifti-bids.md is true: its Python example runs, its profile example validates, and
the plugin is listed by ``gantry plugins``."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from gantry import Session
from gantry.cli import cli
from gantry.testing.docs import run_python_examples

PAGE = Path(__file__).resolve().parents[3] / "docs" / "nifti-bids.md"


def test_python_example_runs(tmp_path):
    run_python_examples(PAGE, tmp_path)


def test_rules_example_is_a_valid_profile(tmp_path):
    yaml = re.search(r"```yaml\n(.*?)```", PAGE.read_text(), re.S)
    assert yaml is not None
    profile = tmp_path / "rules.yaml"
    profile.write_text(yaml.group(1))
    with Session("memory://", profile=str(profile), secret=bytes(range(32))) as session:
        rules = session.run.settings("gantry-nifti")["bids"]["rules"]
        assert [r["datatype"] for r in rules] == ["func", "fmap"]


def test_gantry_plugins_lists_both_exporters():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    block = result.output.split("nifti 0.1.0", 1)[1].split("\n\n", 1)[0]
    assert "gantry-nifti" in block and "exporter: bids, nifti" in block


def test_cli_deidentify_to_nifti_reports_refusals_and_exits_0(tmp_path):
    from gantry_nifti.synthetic import SeriesSpec, make_series, write_series

    src = tmp_path / "src"
    write_series(make_series(SeriesSpec(series_number=1)), src / "a")
    write_series(make_series(SeriesSpec(series_number=2, slices=1)), src / "b")
    secret = tmp_path / "secret.key"
    secret.write_text(bytes(range(32)).hex())
    result = CliRunner().invoke(cli, ["deidentify", str(src), str(tmp_path / "out"),
                                      "--format", "nifti", "--db", "memory://",
                                      "--secret-file", str(secret), "--workers", "1"])
    assert result.exit_code == 0, result.output
    refusals = [line for line in result.output.splitlines() if "not converted" in line]
    assert len(refusals) == 1 and "a single slice" in refusals[0]
    assert len(list((tmp_path / "out").rglob("*.nii.gz"))) == 1
