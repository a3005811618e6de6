"""docs/reports.md is true: its Python examples run."""

from __future__ import annotations

from pathlib import Path

from gantry.testing.docs import run_python_examples

ROOT = Path(__file__).resolve().parents[3]


def test_reports_page_examples_run(tmp_path: Path) -> None:
    run_python_examples(ROOT / "docs" / "reports.md", tmp_path)
