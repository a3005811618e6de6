"""``Session.to_arrow`` / ``to_pandas`` come from whichever plugin implements
``gantry_instance_table``; the kernel names none, and says plainly when none is installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gantry import Session, hookimpl
from gantry.errors import GantryError
from gantry.plugins import build_plugin_manager

SECRET = bytes(range(32))


class ArrowOnly:
    """A table plugin that makes one form, and records what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str | None, list[str] | None]] = []

    @hookimpl
    def gantry_instance_table(self, session: Any, form: str, query: str | None,
                              columns: list[str] | None) -> Any:
        self.asked.append((form, query, columns))
        if form != "arrow":
            return None
        return [inst.sop_instance_uid for inst in session.instances()]


def test_tables_come_from_the_plugin_that_makes_them(tmp_path: Path) -> None:
    from gantry.testing.factory import write_cohort

    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    hooks = build_plugin_manager(load_entrypoints=False, env={})
    plugin = ArrowOnly()
    hooks.register(plugin, name="my-tables")
    with Session(store="memory://", secret=SECRET, hooks=hooks) as session:
        session.ingest(str(tmp_path / "in"))
        assert len(session.to_arrow("Modality == 'CT'", columns=("PatientID",))) == 2
        with pytest.raises(GantryError, match="no installed plugin makes pandas tables"):
            session.to_pandas()
    assert plugin.asked == [("arrow", "Modality == 'CT'", ["PatientID"]),
                            ("pandas", None, None)]


def test_without_a_table_plugin_the_error_says_what_is_missing() -> None:
    hooks = build_plugin_manager(load_entrypoints=False, env={})
    with Session(store="memory://", secret=SECRET, hooks=hooks) as session, \
            pytest.raises(GantryError, match=r"no installed plugin makes arrow tables.*"
                                              r"gantry_instance_table"):
        session.to_arrow()
