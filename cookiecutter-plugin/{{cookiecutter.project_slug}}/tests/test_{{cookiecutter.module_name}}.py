"""Tests of {{ cookiecutter.plugin_name }}, run against the real Gantry kernel."""

from __future__ import annotations

from pathlib import Path

from gantry.plugins import build_plugin_manager
from gantry.session import Session
from gantry.testing.factory import write_cohort


def test_plugin_is_discovered_through_its_entry_point() -> None:
    hooks = build_plugin_manager()
    info = hooks.find_plugin("{{ cookiecutter.plugin_name }}")
    assert info is not None and info.status == "loaded"
{%- if cookiecutter.stage == "redact" %}
    assert "{{ cookiecutter.component_name }}" in hooks.components("redactor")


def test_redactor_runs_in_a_profile_stack(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GANTRY_SECRET", bytes(range(32)).hex())
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    profile = tmp_path / "site.yaml"
    profile.write_text("extends: ps3.15/basic\n"
                       "redact: [{{ cookiecutter.component_name }}, ps315-tags]\n")
    with Session("memory://", profile=str(profile), workers=1) as session:
        session.ingest(tmp_path / "in")
        summary = session.export(tmp_path / "out")
        changes = [c for _, c in session.store.iter_changes()
                   if c.component == "{{ cookiecutter.component_name }}"]
    assert summary.done == 2
    assert {c.keyword for c in changes} == {"ImageComments"}
{%- elif cookiecutter.stage == "audit" %}
    assert "{{ cookiecutter.component_name }}" in hooks.components("auditor")


def test_auditor_reports_undeclared_burned_in_text(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GANTRY_SECRET", bytes(range(32)).hex())
    write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    profile = tmp_path / "site.yaml"
    profile.write_text("extends: ps3.15/basic\naudit: [{{ cookiecutter.component_name }}]\n")
    with Session("memory://", profile=str(profile), workers=1) as session:
        session.ingest(tmp_path / "in")
        session.audit()
        codes = [f.code for _, _, f in session.store.iter_findings()]
    assert codes == ["burned-in-unknown", "burned-in-unknown"]
{%- elif cookiecutter.stage == "export" %}
    assert "{{ cookiecutter.component_name }}" in hooks.components("exporter")


def test_exporter_writes_one_row_per_instance(tmp_path: Path, monkeypatch) -> None:
    import json

    monkeypatch.setenv("GANTRY_SECRET", bytes(range(32)).hex())
    cohort = write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    out = tmp_path / "rows.jsonl"
    with Session("memory://", workers=1) as session:
        session.ingest(tmp_path / "in")
        summary = session.export(out, format="{{ cookiecutter.component_name }}")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert summary.done == 3 and len(rows) == 3
    assert not {r["SOPInstanceUID"] for r in rows} & cohort.uids
{%- else %}
    assert "{{ cookiecutter.component_name }}" in hooks.components("ingestor")


def test_ingestor_reads_a_listing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("GANTRY_SECRET", bytes(range(32)).hex())
    cohort = write_cohort(tmp_path / "in", patients=1, series=1, instances=3)
    listing = tmp_path / "files.lst"
    listing.write_text("\n".join(str(p) for p in cohort.paths[:2]) + "\n")
    with Session("memory://", workers=1) as session:
        summary = session.ingest(f"list://{listing}")
        exported = session.export(tmp_path / "out")
    assert summary.done == 2 and exported.done == 2
{%- endif %}
