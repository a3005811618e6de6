"""The Python examples of docs/pixels.md run."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry.testing.docs import run_python_examples

PAGE = Path(__file__).resolve().parents[3] / "docs" / "pixels.md"


def test_pixels_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gantry.testing.plugin import TEST_SECRET

    monkeypatch.setenv("GANTRY_SECRET", TEST_SECRET.hex())
    monkeypatch.setenv("GANTRY_HOME", str(tmp_path / "home"))
    run_python_examples(PAGE, tmp_path, min_blocks=2)
