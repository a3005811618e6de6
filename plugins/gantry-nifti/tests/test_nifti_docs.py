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
