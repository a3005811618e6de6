"""docs/reports.md is true: its Python example runs."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_reports_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall((ROOT / "docs" / "reports.md").read_text())
    assert blocks
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_example_reports")
    sys.modules[module.__name__] = module
    try:
        for code in blocks:
            exec(compile(code, "docs/reports.md", "exec"), module.__dict__)
    finally:
        sys.modules.pop(module.__name__, None)
