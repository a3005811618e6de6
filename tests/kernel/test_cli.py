"""The gantry command: one-shot deidentify, persistent stages, plugins, profiles, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gantry.cli import EXIT_INCOMPLETE, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, cli
from gantry.testing.factory import write_cohort


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_deidentify_one_shot_json_summary(tmp_path: Path, runner: CliRunner) -> None:
    write_cohort(tmp_path / "in", patients=1, series=2, instances=2)
    result = runner.invoke(cli, ["deidentify", str(tmp_path / "in"), str(tmp_path / "out"),
                                 "--db", "memory://", "--workers", "1", "--json"])
    assert result.exit_code == EXIT_OK, result.output
    summary = json.loads(result.stdout)
    stages = {s["stage"]: s for s in summary["summaries"]}
    assert stages["ingest"]["done"] == 4 and stages["export"]["done"] == 4
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 4


def test_rejected_inputs_give_exit_code_3(tmp_path: Path, runner: CliRunner) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    (tmp_path / "in" / "junk.bin").write_bytes(b"\x00" * 10)
    result = runner.invoke(cli, ["deidentify", str(tmp_path / "in"), str(tmp_path / "out"),
                                 "--db", "memory://", "--workers", "1"])
    assert result.exit_code == EXIT_REJECTED, result.output
    assert "junk.bin" in result.output


def test_invalid_profile_is_a_usage_error_naming_file_and_line(tmp_path: Path,
                                                               runner: CliRunner) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: ps3.15/basic\ntags:\n  NotAKeyword: {action: X}\n")
    result = runner.invoke(cli, ["profiles", "validate", str(bad)])
    assert result.exit_code == EXIT_USAGE
    assert "bad.yaml:3" in result.output and "NotAKeyword" in result.output
    assert "Traceback" not in result.output


def test_gate_refusal_gives_exit_code_withheld(tmp_path: Path, runner: CliRunner) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    (tmp_path / "careless.py").write_text(
        "from gantry import hookimpl\n"
        "from gantry.api import Redactor\n"
        "class Careless:\n"
        "    def redact(self, ds, context):\n"
        "        ds.ImageComments = 'seen ' + context.patient.patient_id\n"
        "        return []\n"
        "@hookimpl\n"
        "def gantry_redactors():\n"
        "    yield Redactor('careless', factory=lambda run: Careless())\n")
    leaky = tmp_path / "leaky.yaml"
    leaky.write_text("extends: ps3.15/basic\nredact: [ps315-tags, careless]\n"
                     "local_hooks: [careless.py]\n")
    result = runner.invoke(cli, ["deidentify", str(tmp_path / "in"), str(tmp_path / "out"),
                                 "--db", "memory://", "--workers", "1", "--profile", str(leaky)])
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "export gate" in result.output and "1 refused by the export gate" in result.output
    assert "MRN000" not in result.output
    assert not list((tmp_path / "out").rglob("*.dcm"))


def test_unreachable_input_is_one_clear_line(tmp_path: Path, runner: CliRunner) -> None:
    result = runner.invoke(cli, ["deidentify", str(tmp_path / "nope"), str(tmp_path / "out"),
                                 "--db", "memory://"])
    assert result.exit_code == EXIT_USAGE
    assert "input not found" in result.output and "Traceback" not in result.output


def test_persistent_session_stages(tmp_path: Path, runner: CliRunner) -> None:
    pytest.importorskip("gantry_sqlite", reason="the persistent stages need a durable store")
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    db = f"sqlite:///{tmp_path / 'work.db'}"
    for args in (["ingest", str(tmp_path / "in")], ["audit"], ["redact"],
                 ["export", str(tmp_path / "out")]):
        result = runner.invoke(cli, [*args, "--db", db])
        assert result.exit_code == EXIT_OK, (args, result.output)
    result = runner.invoke(cli, ["status", "--db", db, "--json"])
    info = json.loads(result.stdout)
    assert info["instances"] == 2 and info["status"] == {"exported": 2}


def test_plugins_lists_builtins_as_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plugins", "--all", "--json"])
    assert result.exit_code == 0
    names = {p["name"]: p for p in json.loads(result.stdout)}
    assert names["dicom-export"]["components"]["exporter"] == ["dicom"]
    assert "gantry_exporters" in names["dicom-export"]["hooks"]
    hooked = runner.invoke(cli, ["plugins", "--all", "--json", "--hook", "gantry_map_uid"])
    assert {p["name"] for p in json.loads(hooked.stdout)} >= {"deid"}


def test_profiles_list_and_show(runner: CliRunner) -> None:
    listed = runner.invoke(cli, ["profiles", "list"])
    assert "ps3.15/basic" in listed.output
    shown = runner.invoke(cli, ["profiles", "show", "ps3.15/basic"])
    assert json.loads(shown.stdout)["redact"] == ["ps315-tags"]


def test_module_entry_point_runs(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "gantry", "--version"], capture_output=True,
                         text=True, env={**os.environ}, check=True)
    assert out.stdout.startswith("gantry, version")


def test_one_plugin_manager_per_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``gantry deidentify`` builds one plugin manager in this process: the one that adds the
    plugins' commands also picks the default working store and serves the session (and the
    inline worker, which adopts the session's run)."""
    from gantry import cli as cli_module
    from gantry.plugins import GantryHooks

    built = []
    real_init = GantryHooks.__init__

    def counted(self, pm):
        built.append(self)
        real_init(self, pm)

    monkeypatch.setattr(GantryHooks, "__init__", counted)
    monkeypatch.setattr(cli_module, "_PLUGIN_COMMANDS_ADDED", False)
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    with pytest.raises(SystemExit) as done:
        cli_module.main(["-q", "deidentify", str(tmp_path / "in"), str(tmp_path / "out"),
                         "--workers", "1"])
    assert done.value.code == EXIT_OK
    assert len(built) == 1
