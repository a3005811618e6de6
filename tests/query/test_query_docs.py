"""docs/query.md is true: its Python examples run."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry.testing.docs import run_python_examples

ROOT = Path(__file__).resolve().parents[2]


def test_query_page_examples_run(tmp_path: Path) -> None:
    pytest.importorskip("gantry_parquet")
    run_python_examples(ROOT / "docs" / "query.md", tmp_path, min_blocks=2)
