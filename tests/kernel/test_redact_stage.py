"""The redact stage records changes and keeps modified pixels in the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gantry import hookimpl
from gantry.components import Redactor
from gantry.records import Change
from gantry.session import Session


class BlankTopRows:
    def redact(self, ds, context):
        pixels = ds.pixel_array.copy()
        pixels[:4, :] = 0
        ds.PixelData = pixels.tobytes()
        context.notes["pixels_modified"] = True
        return [Change("pixels", keyword="PixelData", detail="rows 0-3 blanked")]


class Plugin:
    @hookimpl
    def gantry_redactors(self):
        yield Redactor("blank-top", factory=lambda run: BlankTopRows())


def _session(tmp_path: Path) -> Session:
    """A session whose stack blanks the top rows before the tag engine runs."""
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nredact: [blank-top, ps315-tags]\n")
    session = Session("memory://", profile=str(profile), workers=1)
    session.hooks.register(Plugin(), name="blank-plugin")
    return session


def test_redact_records_changes_and_modified_pixels(tmp_path: Path, gantry_cohort) -> None:
    cohort = gantry_cohort(patients=1, series=1, instances=2, rows=16, cols=16)
    with _session(tmp_path) as session:
        session.ingest(cohort.root)
        summary = session.redact()
        assert summary.done == 2
        for inst in session.instances():
            array, meta = session.store.get_pixels(inst.sop_instance_uid)
            assert meta.shape == (16, 16) and np.dtype(meta.dtype) == np.uint16
            assert not array[:4].any() and array[4:].any()
            assert session.store.get_status(inst.sop_instance_uid) == "redacted"
        components = {c.component for _, c in session.store.iter_changes()}
        assert components == {"blank-top", "ps315-tags"}
    assert np.frombuffer(cohort.paths[0].read_bytes()[-32:], np.uint16).any()  # originals intact


def test_pixel_change_before_the_tag_engine_is_declared(tmp_path: Path, gantry_cohort) -> None:
    import pydicom

    cohort = gantry_cohort(patients=1, series=1, instances=1, rows=16, cols=16)
    with _session(tmp_path) as session:
        session.ingest(cohort.root)
        session.export(tmp_path / "out")
    (path,) = (tmp_path / "out").rglob("*.dcm")
    codes = [i.CodeValue for i in pydicom.dcmread(path).DeidentificationMethodCodeSequence]
    assert codes == ["113100", "113101"]
