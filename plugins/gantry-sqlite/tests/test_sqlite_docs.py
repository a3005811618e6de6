"""docs/storage.md is true: its Python examples run, and every command it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from gantry_sqlite.commands import register

from gantry.testing.docs import run_python_examples

PAGE = Path(__file__).resolve().parents[3] / "docs" / "storage.md"

pytestmark = pytest.mark.skipif(not PAGE.exists(), reason="docs/ not present (installed plugin)")


def test_storage_page_python_examples_run(tmp_path: Path) -> None:
    run_python_examples(PAGE, tmp_path, min_blocks=2)


def test_storage_page_names_only_real_commands() -> None:
    import click

    group = click.Group("gantry")
    register(group)
    named = set(re.findall(r"gantry ([a-z-]+) ", PAGE.read_text()))
    plugin_commands = set(group.commands)
    kernel = {"deidentify", "ingest", "audit", "redact", "export", "status", "plugins", "runs",
              "query"}  # (query: gantry-parquet's; the page shows --db DEST with it)
    assert named <= plugin_commands | kernel, named - plugin_commands - kernel
    assert plugin_commands <= named
