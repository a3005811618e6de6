"""docs/storage.md is true: its Python examples run, and every command it names exists."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
from gantry_sqlite.commands import register

PAGE = Path(__file__).resolve().parents[3] / "docs" / "storage.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

pytestmark = pytest.mark.skipif(not PAGE.exists(), reason="docs/ not present (installed plugin)")


def test_storage_page_python_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = BLOCK.findall(PAGE.read_text())
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType("docs_storage_example")
    for code in blocks:
        exec(compile(code, str(PAGE), "exec"), module.__dict__)


def test_storage_page_names_only_real_commands() -> None:
    import click

    group = click.Group("gantry")
    register(group)
    named = set(re.findall(r"gantry ([a-z-]+) ", PAGE.read_text()))
    plugin_commands = set(group.commands)
    kernel = {"deidentify", "ingest", "audit", "redact", "export", "status", "plugins"}
    assert named <= plugin_commands | kernel, named - plugin_commands - kernel
    assert plugin_commands <= named
