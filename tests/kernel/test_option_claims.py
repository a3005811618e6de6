"""Options that claim work: a profile whose per-instance options (clean-pixel-data,
clean-recognizable-visual-features) no configured redactor of its stack carries out fails
validation with the option's line; their codes are written only where the work was done."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gantry.cli import EXIT_USAGE, cli
from gantry.errors import ProfileError
from gantry.plugins import build_plugin_manager
from gantry.runbuild import load_run_profile


def _profile(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("option", ["clean-pixel-data", "clean-recognizable-visual-features"])
def test_option_without_its_redactor_fails_validation_with_its_line(tmp_path, option):
    path = _profile(tmp_path, f"extends: ps3.15/basic\ndescription: x\noptions:\n"
                              f"  - clean-descriptors\n  - {option}\n")
    result = CliRunner().invoke(cli, ["profiles", "validate", str(path)])
    assert result.exit_code == EXIT_USAGE, result.output
    assert "p.yaml:5" in result.output and option in result.output
    assert "redact:" in result.output and "Traceback" not in result.output


def test_option_inherited_from_a_parent_names_the_parent_line(tmp_path):
    _profile(tmp_path, "extends: ps3.15/basic\noptions: [clean-pixel-data]\n", "parent.yaml")
    child = _profile(tmp_path, "extends: parent.yaml\n", "child.yaml")
    with pytest.raises(ProfileError) as info:
        load_run_profile(str(child), build_plugin_manager())
    assert info.value.file.endswith("parent.yaml") and info.value.line == 2


def test_redactor_without_configuration_does_not_count(tmp_path):
    pytest.importorskip("gantry_pixels")
    hooks = build_plugin_manager()
    bare = _profile(tmp_path, "extends: ps3.15/basic\noptions: [clean-pixel-data]\n"
                              "redact: [ps315-tags, pixel-zones]\n")
    with pytest.raises(ProfileError, match="no zone rules"):
        load_run_profile(str(bare), hooks)
    zoned = _profile(tmp_path, "extends: ps3.15/basic\noptions: [clean-pixel-data]\n"
                               "redact: [ps315-tags, pixel-zones]\nplugins:\n  gantry-pixels:\n"
                               "    zones:\n      - match: {Modality: US}\n"
                               "        boxes: [[0, 0, 8, 4]]\n", "zoned.yaml")
    assert load_run_profile(str(zoned), hooks).has("clean-pixel-data")
