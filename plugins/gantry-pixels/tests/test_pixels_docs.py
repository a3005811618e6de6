"""The Python examples of docs/pixels.md run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PAGE = Path(__file__).resolve().parents[3] / "docs" / "pixels.md"


def test_pixels_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gantry.testing.plugin import TEST_SECRET

    monkeypatch.setenv("GANTRY_SECRET", TEST_SECRET.hex())
    monkeypatch.setenv("GANTRY_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.S | re.M)
    assert len(blocks) >= 2
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), {"__name__": "docs_pixels"})
