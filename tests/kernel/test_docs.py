"""Docs are true: their Python examples run, and every CLI command has a section."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from gantry.cli import _add_plugin_commands, cli
from gantry.testing.docs import run_python_examples

ROOT = Path(__file__).resolve().parents[2]
PAGES = ["getting-started.md", "writing-plugins.md", "institution-hooks.md"]


@pytest.mark.parametrize("page", PAGES)
def test_python_examples_run(page: str, tmp_path: Path) -> None:
    run_python_examples(ROOT / "docs" / page, tmp_path)


def _commands(group: click.Group, prefix: str) -> list[str]:
    out = []
    for name, command in group.commands.items():
        out.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            out.extend(_commands(command, f"{prefix} {name}"))
    return out


def test_every_command_is_in_the_cli_reference() -> None:
    _add_plugin_commands()
    page = (ROOT / "docs" / "cli.md").read_text()
    missing = [c for c in _commands(cli, "gantry") if f"## `{c}`" not in page]
    assert not missing, f"run python scripts/gen_cli_doc.py; missing: {missing}"
