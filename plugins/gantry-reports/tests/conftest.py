"""Shared fixtures of the gantry-reports tests: one exported cohort per module, and a way to
export a cohort of one's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from gantry import Session
from gantry.testing.factory import write_cohort

SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A synthetic cohort ingested into SQLite and exported as DICOM (manifests included)."""
    pytest.importorskip("gantry_sqlite")
    root = tmp_path_factory.mktemp("reports")
    cohort = write_cohort(root / "in", patients=2, series=2, instances=3, rows=32, cols=32)
    db = f"sqlite:///{root / 'work.db'}"
    dest = root / "out"
    with Session(store=db, secret=SECRET) as session:
        session.ingest(str(cohort.root))
        summary = session.export(str(dest))
    assert summary.failed == 0, summary.errors
    return {"cohort": cohort, "db": db, "dest": dest, "root": root}


@pytest.fixture(scope="session")
def export_cohort():
    """``export_cohort(root, store=..., **sizes)``: a factory cohort written under ``root/in``,
    ingested into ``store`` and exported as DICOM to ``root/out``; ``(cohort, dest, export
    records)``."""

    def export(root: Path, store: str = "memory://", **sizes):
        cohort = write_cohort(root / "in", **sizes)
        dest = root / "out"
        with Session(store=store, secret=SECRET) as session:
            session.ingest(str(cohort.root))
            assert session.export(str(dest)).failed == 0
            return cohort, dest, list(session.store.iter_exports(str(dest)))

    return export
