"""The YAML examples in docs/profiles.md load as written (docs that cannot rot)."""

from __future__ import annotations

import re
from pathlib import Path

from gantry.profiles import load_profile

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_profile_examples_in_docs_load(tmp_path):
    text = (DOCS / "profiles.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
    assert blocks
    for table in re.findall(r"```csv\n(.*?)```", text, re.DOTALL):  # a lookup example's
        (tmp_path / "ids.csv").write_text(table, encoding="utf-8")
    for i, block in enumerate(blocks):
        path = tmp_path / f"example{i}.yaml"
        path.write_text(block, encoding="utf-8")
        profile = load_profile(path)
        assert profile.extends == ["ps3.15/basic"]
        if "tags:" in block:
            assert profile.tags["00080080"].action == "K"
