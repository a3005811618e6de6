"""docs/query.md is true: its Python examples run."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_query_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("gantry_parquet")
    blocks = BLOCK.findall((ROOT / "docs" / "query.md").read_text())
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_example_query")
    sys.modules[module.__name__] = module
    try:
        for code in blocks:
            exec(compile(code, "docs/query.md", "exec"), module.__dict__)
    finally:
        sys.modules.pop(module.__name__, None)
