"""Export manifests written automatically with every export."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from gantry import Session
from gantry.testing.factory import make_instance

SECRET = bytes(range(32))  # the secret the conftest fixture exported with

# the working store is a real SQLite database (gantry-sqlite)
pytestmark = pytest.mark.component


def _manifest_text(dest):
    return "\n".join((dest / n).read_text() for n in ("manifest.html", "manifest.csv",
                                                      "manifest.json"))


def test_manifests_list_every_file_with_its_sha256(exported):
    dest = exported["dest"]
    rows = list(csv.DictReader((dest / "manifest.csv").open()))
    files = sorted(p for p in dest.rglob("*.dcm"))
    assert len(rows) == len(files) == 12
    for row in rows:
        data = (dest / row["path"]).read_bytes()
        assert row["sha256"] == hashlib.sha256(data).hexdigest()
        assert int(row["size"]) == len(data) and row["status"] == "ok"
        assert row["PatientIdentityRemoved"] == "YES"
        assert row["SOPInstanceUID"].startswith("2.25.")
    doc = json.loads((dest / "manifest.json").read_text())
    assert doc["summary"]["patients"] == 2 and doc["summary"]["series"] == 4
    assert doc["summary"]["files"] == 12 and doc["summary"]["modalities"] == {"CT": 12}
    assert {f["path"] for f in doc["files"]} == {r["path"] for r in rows}
    assert doc["profile"] == "ps3.15/basic" and doc["tools"]["gantry"]


def test_manifests_hold_no_original_identifiers(exported):
    text = _manifest_text(exported["dest"])
    assert [t for t in exported["cohort"].tokens if t in text] == []


def test_html_is_readable_with_a_thumbnail_per_series(exported):
    html = (exported["dest"] / "manifest.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    thumbs = html.count('src="data:image/png;base64,')
    assert thumbs == 4
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    png = base64.b64decode(html[start:html.index('"', start)])
    image = Image.open(io.BytesIO(png))
    assert max(image.size) <= 96 and image.size[0] > 8
    assert html.count("<h2>") == 5
    for words in ("Modalities", "Patients and studies", "Studies", "Series", "instances"):
        assert words in html


def test_resumed_export_manifest_covers_all_files(exported, tmp_path):
    from gantry.testing.factory import write_cohort

    more = write_cohort(tmp_path / "more", patients=1, series=1, instances=2)
    for path in more.paths:  # a new patient added to the inputs
        ds = make_instance(patient=5, instance=int(path.name[1:]))
        ds.save_as(path, enforce_file_format=True)
    with Session(store=exported["db"], secret=SECRET) as session:
        session.ingest(str(more.root))
        summary = session.export(str(exported["dest"]))
    assert summary.done == 2 and summary.skipped == 12
    doc = json.loads((exported["dest"] / "manifest.json").read_text())
    assert doc["summary"]["files"] == 14 and doc["summary"]["patients"] == 3


def test_manifests_can_be_switched_off(tmp_path):
    from gantry.testing.factory import write_cohort

    cohort = write_cohort(tmp_path / "in", patients=1, series=1, instances=2)
    profile = tmp_path / "quiet.yaml"
    profile.write_text("extends: ps3.15/basic\nplugins:\n  gantry-reports:\n"
                       "    manifests: false\n")
    with Session(store="memory://", profile=str(profile), secret=SECRET) as session:
        session.ingest(str(cohort.root))
        session.export(str(tmp_path / "out"))
    assert not (tmp_path / "out" / "manifest.json").exists()
    assert list((tmp_path / "out").rglob("*.dcm"))


def test_parquet_destination_gets_manifest_beside_the_table(exported, tmp_path):
    dest = tmp_path / "table.parquet"
    with Session(store=exported["db"], secret=SECRET) as session:
        assert session.export(str(dest), format="parquet").failed == 0
    assert (tmp_path / "table.parquet.manifest.json").is_file()
    import click
    from gantry_reports.commands import add_report_commands

    group = click.Group()
    add_report_commands(group)
    result = CliRunner().invoke(group, ["report", "manifest", str(dest), "--db", exported["db"]],
                                env={"GANTRY_SECRET": SECRET.hex()})
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "table.parquet.manifest.json").read_text())
    assert doc["tables"] == [{"path": "table.parquet", "size": dest.stat().st_size,
                              "sha256": hashlib.sha256(dest.read_bytes()).hexdigest()}]
    table = pq.read_table(dest)
    assert doc["summary"]["table_rows"] == table.num_rows
    assert doc["summary"]["patients"] == len(set(table.column("PatientID").to_pylist()))
    assert doc["summary"]["series"] == len(set(table.column("SeriesInstanceUID").to_pylist()))


def test_manifests_are_byte_identical_across_runs(tmp_path):
    from gantry.testing.factory import write_cohort

    cohort = write_cohort(tmp_path / "in", patients=2, series=2, instances=2)
    for name in ("a", "b"):
        with Session(store="memory://", secret=SECRET) as session:
            session.ingest(str(cohort.root))
            session.export(str(tmp_path / name))
    for manifest in ("manifest.html", "manifest.csv", "manifest.json"):
        assert (tmp_path / "a" / manifest).read_bytes() == (tmp_path / "b" / manifest).read_bytes()
    assert str(tmp_path) not in (tmp_path / "a" / "manifest.json").read_text()
