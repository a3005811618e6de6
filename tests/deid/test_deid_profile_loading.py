"""Profiles: extends, overrides by keyword/tag/mask/private creator, errors with file+line+field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry.deid.engine import DeidEngine
from gantry.deid.standalone import instance_context, standalone_run
from gantry.errors import ProfileError
from gantry.profiles import DEFAULT_PROFILE, list_profiles, load_profile, shipped_profiles_dir
from gantry.testing.factory import make_instance


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_profiles_are_listed_and_load():
    names = [name for name, _, _ in list_profiles()]
    assert DEFAULT_PROFILE in names
    for name in names:
        profile = load_profile(name)
        assert profile.edition == "2024b"
        assert profile.redact == ["ps315-tags"] and profile.audit == ["ps315-audit"]
    assert (shipped_profiles_dir() / "ps3.15" / "annex_e_2024b.json").is_file()


def test_site_profile_composes(tmp_path):
    (tmp_path / "hooks.py").write_text("")
    path = _write(tmp_path, "site.yaml", """
extends: ps3.15/basic
options: [retain-longitudinal-modified-dates, clean-descriptors]
tags:
  (0008,0080): {action: K}
  (0008,103e): K
  0008103E: K
  StudyDescription: C
  (50xx,xxxx): K
  (0009,"ACME_PHI",xx10): X
private:
  ACME_SAFE:
    xx10: K
requires: [gantry-sqlite]
redact: [ps315-tags, pixel-zones]
export: [{to: ./out, format: dicom}]
plugins:
  gantry-ocr: {min_confidence: 0.6}
local_hooks: [./hooks.py]
date_offset_days: [-100, -10]
""")
    profile = load_profile(path)
    assert profile.options == ["retain-longitudinal-modified-dates", "clean-descriptors"]
    assert profile.tags["00080080"].action == "K"
    assert profile.tags["0008103e"].action == "K"
    assert profile.tags["00081030"].action == "C"
    assert profile.tags["50xxxxxx"].action == "K"
    assert profile.private["ACME_PHI"]["0009:10"].action == "X"
    assert profile.private["ACME_SAFE"]["10"].action == "K"
    assert profile.redact == ["ps315-tags", "pixel-zones"]
    assert profile.export[0].to == "./out"
    assert profile.local_hooks == [str((tmp_path / "hooks.py").resolve())]
    assert profile.extends == ["ps3.15/basic"]
    assert profile.source == str(path.resolve())
    # and the engine honours the overrides
    engine = DeidEngine(profile, standalone_run(profile, b"s" * 32))
    ds = make_instance()
    engine.apply(ds, instance_context(ds, engine.run))
    assert ds.InstitutionName == "Saint Ignatius Memorial Hospital"
    assert ds.SeriesDescription == "AXIAL 1"
    assert 0x00191010 in ds  # ACME_SAFE kept by creator
    assert 0x00091010 not in ds


def test_extends_chain_and_remove_options(tmp_path):
    _write(tmp_path, "a.yaml", "extends: ps3.15/research\n")
    path = _write(tmp_path, "b.yaml", "extends: a.yaml\nremove_options: [retain-safe-private]\n")
    profile = load_profile(path)
    assert "retain-safe-private" not in profile.options
    assert "clean-descriptors" in profile.options
    assert profile.name == "b"


@pytest.mark.parametrize(("text", "line", "field", "words"), [
    ("extends: ps3.15/basic\ntags:\n  StudyDescriptio: K\n", 3, "tags.StudyDescriptio",
     "unknown attribute"),
    ("tags:\n  StudyDescription: K\n  (0008,103E): {action: Q}\n", 3, "tags.(0008,103E)",
     "unknown action"),
    ("options:\n  - clean-descriptors\n  - retain-everything\n", 3, "options.1",
     "unknown option"),
    ("name: x\nsurprise: 1\n", 2, "surprise", "unknown key"),
    ("private:\n  ACME:\n    zz: K\n", 3, "private.ACME.zz", "private element"),
    ("tags:\n  (0009,0010): K\n", 2, "tags.(0009,0010)", "creator"),
    ("extends: nowhere/profile\n", 1, "extends", "not found"),
    ("date_offset_days: [1, 2, 3]\n", 1, "date_offset_days", "tuple"),
])
def test_errors_name_file_line_and_field(tmp_path, text, line, field, words):
    path = _write(tmp_path, "bad.yaml", text)
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    error = info.value
    assert error.file == str(path.resolve())
    assert error.line == line
    assert error.field is not None and error.field.startswith(field)
    assert words in str(error).lower()


def test_extends_cycle_is_an_error(tmp_path):
    _write(tmp_path, "one.yaml", "extends: two.yaml\n")
    _write(tmp_path, "two.yaml", "extends: one.yaml\n")
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(tmp_path / "one.yaml")


def test_exclusive_date_options(tmp_path):
    path = _write(tmp_path, "d.yaml", "options: [retain-longitudinal-full-dates, "
                                      "retain-longitudinal-modified-dates]\n")
    with pytest.raises(ProfileError, match="exclude"):
        load_profile(path)


def test_invalid_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "y.yaml", "tags:\n  a: [1, 2\n")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert info.value.line is not None
