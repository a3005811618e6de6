"""A lifecycle observer that raises does not stop the run; the stage reports it and fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry import hookimpl
from gantry.session import Session


class Broken:
    @hookimpl
    def gantry_exported(self, record):
        raise RuntimeError("notification service down")


def test_broken_observer_is_reported_and_the_export_completes(tmp_path: Path,
                                                              gantry_cohort) -> None:
    cohort = gantry_cohort(patients=1, series=1, instances=3)
    with Session("memory://", workers=1) as session:
        session.hooks.register(Broken(), name="broken-notifier")
        session.ingest(cohort.root)
        with pytest.warns(RuntimeWarning, match="broken-notifier"):
            summary = session.export(tmp_path / "out")
    assert summary.done == 3
    assert summary.plugin_errors == 3
    assert "plugin 'broken-notifier' failed in gantry_exported" in summary.errors[0]
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 3
