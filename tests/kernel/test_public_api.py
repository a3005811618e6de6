"""The kernel's public API: every name ``gantry.api`` exports resolves to its one home and is
documented in docs/plugin-api.md."""

from __future__ import annotations

import re
from pathlib import Path

import gantry.api as api

PAGE = Path(__file__).resolve().parents[2] / "docs" / "plugin-api.md"


def test_every_exported_name_resolves() -> None:
    missing = []
    for name in api.__all__:
        try:
            getattr(api, name)
        except AttributeError as exc:
            missing.append(f"{name}: {exc}")
    assert not missing, "\n".join(missing)


def test_every_exported_name_is_documented_with_its_home() -> None:
    rows = dict(re.findall(r"^\| `([^`]+)` \| `([^`]+)` \|", PAGE.read_text(), re.M))
    exports = dict(api._EXPORTS)
    assert {n: rows.get(n) for n in exports if rows.get(n) != exports[n]} == {}, \
        "docs/plugin-api.md is out of date"
    assert set(rows) <= set(exports), f"documented but not exported: {set(rows) - set(exports)}"
