"""Built-in DICOM-folder export: pseudonymous layout, path safety, atomic, re-runnable, gated."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from gantry.builtins.dicom_export import safe_component
from gantry.errors import ExportError
from gantry.session import Session
from gantry.testing.factory import write_cohort


def _all_output_text(root: Path) -> str:
    chunks = []
    for path in sorted(root.rglob("*")):
        chunks.append(str(path.relative_to(root)))
        if path.is_file():
            chunks.append(path.read_bytes().decode("latin-1"))
    return "\n".join(chunks).lower()


@pytest.mark.parametrize("value", ["../../etc/passwd", "..", "/abs/path", "a/b\\c", "", "   "])
def test_path_components_cannot_escape(value: str) -> None:
    comp = safe_component(value)
    assert "/" not in comp and "\\" not in comp and comp not in (".", "..", "")


def test_export_leaves_no_planted_identifier_in_files_or_names(tmp_path: Path) -> None:
    cohort = write_cohort(tmp_path / "in", patients=2, series=2, instances=2, names="phi")
    out = tmp_path / "out"
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "in")
        summary = session.export(out)
    assert summary.done == 8 and summary.failed == 0
    files = list(out.rglob("*.dcm"))
    assert len(files) == 8
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    text = _all_output_text(out)
    leaked = sorted(t for t in cohort.tokens if t.lower() in text)
    assert leaked == []
    for path in files:
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES"
        parts = path.relative_to(out).parts
        assert parts[-1] == f"{ds.SOPInstanceUID}.dcm"
        assert parts[1] == ds.StudyInstanceUID and parts[2] == ds.SeriesInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID


def test_export_is_rerunnable_and_skips_what_is_done(tmp_path: Path) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "in")
        first = session.export(tmp_path / "out")
        second = session.export(tmp_path / "out")
    assert first.done == 3 and second.done == 0 and second.skipped == 3


def test_export_refuses_to_write_into_its_input(tmp_path: Path) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=1)
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "in")
        with pytest.raises(ExportError, match="refusing to export"):
            session.export(tmp_path / "in" / "out")
        with pytest.raises(ExportError, match="refusing to export"):
            session.export(tmp_path)
    with Session("memory://", workers=1) as session, \
            pytest.raises(ExportError, match="refusing to export into or over the input"):
        session.deidentify(f"file://{tmp_path / 'in'}", tmp_path / "in" / "out")  # file:// URL


def test_a_destination_url_no_exporter_can_write_is_refused(tmp_path: Path,
                                                              monkeypatch) -> None:
    """A URL no installed exporter writes to is an error, not a local folder named after the
    scheme (``s3://bucket/out`` silently became ``./s3:/bucket/out`` before)."""
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    monkeypatch.chdir(tmp_path)
    with Session("memory://", workers=1) as session:
        with pytest.raises(ExportError, match=r"nosuch://bucket/out: no dicom exporter writes "
                                              r"to nosuch:// destinations \(installed: "):
            session.deidentify(tmp_path / "in", "nosuch://bucket/out")
        session.ingest(tmp_path / "in")
        with pytest.raises(ExportError, match="no dicom exporter writes to unknown://"):
            session.export("unknown://bucket/out")
        assert session.export(f"file://{tmp_path / 'out'}").done == 2  # file:// is a path
    assert not (tmp_path / "nosuch:").exists() and not (tmp_path / "unknown:").exists()


def test_same_secret_gives_identical_bytes_across_runs_and_workers(tmp_path: Path) -> None:
    write_cohort(tmp_path / "in", patients=2, series=2, instances=2)
    outputs = []
    for n, workers in enumerate((1, 2)):
        out = tmp_path / f"out{n}"
        with Session("memory://", workers=workers) as session:
            session.ingest(tmp_path / "in")
            session.export(out)
        outputs.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*.dcm")})
    assert outputs[0] == outputs[1]


def test_gate_refuses_an_instance_that_would_leak(tmp_path: Path) -> None:
    from gantry import hookimpl
    from gantry.components import Redactor

    class Careless:
        def redact(self, ds, context):
            ds.StudyComments = f"for {context.patient.patient_name.replace('^', ' ')}"
            return []

    class Plugin:
        @hookimpl
        def gantry_redactors(self):
            yield Redactor("careless", factory=lambda run: Careless())

    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    profile = tmp_path / "leaky.yaml"
    profile.write_text("extends: ps3.15/basic\nredact: [ps315-tags, careless]\n")
    with Session("memory://", profile=str(profile), workers=1) as session:
        session.hooks.register(Plugin(), name="careless-plugin")
        session.ingest(tmp_path / "in")
        summary = session.export(tmp_path / "out")
    assert summary.done == 0 and summary.refused == 2 and summary.failed == 0
    assert all("export gate" in e for e in summary.errors)
    assert not list((tmp_path / "out").rglob("*.dcm"))
    assert "Quillfeather" not in " ".join(summary.errors)


def test_resume_rewrites_outputs_that_were_deleted(tmp_path: Path) -> None:
    write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "in")
        session.export(tmp_path / "out")
        victim = next((tmp_path / "out").rglob("*.dcm"))
        data = victim.read_bytes()
        victim.unlink()
        again = session.export(tmp_path / "out")
    assert again.done == 1 and again.skipped == 2
    assert victim.read_bytes() == data
