"""Every hook is documented: contract and example in its docstring, and in docs/hooks.md."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

from gantry import hookspecs

ROOT = Path(__file__).resolve().parents[2]
HOOKS = sorted(n for n, f in vars(hookspecs).items() if n.startswith("gantry_") and callable(f))
CONTRACTS = ("yield records", "return None (ignored)",
             "return X or None to defer; first non-None wins")


@pytest.mark.parametrize("name", HOOKS)
def test_hook_docstring_states_contract_and_example(name: str) -> None:
    doc = inspect.getdoc(getattr(hookspecs, name)) or ""
    assert any(c in doc for c in CONTRACTS), f"{name}: no return contract in its docstring"
    assert "Example::" in doc and "@hookimpl" in doc, f"{name}: no example in its docstring"


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_in_docs_page(name: str) -> None:
    page = (ROOT / "docs" / "hooks.md").read_text()
    assert f"### `{name}(" in page, f"{name} is missing from docs/hooks.md"


def test_docs_page_is_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("gen_hooks_doc", ROOT / "scripts" /
                                                  "gen_hooks_doc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert (ROOT / "docs" / "hooks.md").read_text() == module.render(), (
        "docs/hooks.md is stale: run python scripts/gen_hooks_doc.py")
