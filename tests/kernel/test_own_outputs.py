"""Re-de-identifying an output: ``gantry deidentify OUT1 OUT2`` where OUT1 is Gantry's own
output. The manifests, audit reports, audit logs, report checksums and partial writes Gantry
wrote there are its own files (name *and* content), skipped as an index as a DICOMDIR is (not
rejected: exit code as if they were not there), on every ingest path: the one-shot pass, the
store's ingest (SQLite and memory), the dry run, a zip of the folder. A DICOM file named like a
manifest is still DICOM; a file named like one that Gantry did not write is still rejected."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from gantry import Session
from gantry.cli import EXIT_INCOMPLETE, EXIT_OK, _add_plugin_commands, cli
from gantry.ownfiles import KERNEL_OWN_FILES, own_file_kind
from gantry.testing.factory import make_instance, write_cohort

pytest.importorskip("gantry_sqlite", reason="one-shot runs keep a SQLite working store")
pytest.importorskip("gantry_reports", reason="the manifests are gantry-reports'")

OWN = ("manifest.csv", "manifest.json", "manifest.html", "audit.csv", "audit.json",
       "events.csv", "events.json", ".gantry-x.dcm.4242.part", "report.html.sha256")


def _run(*args: str):
    _add_plugin_commands()
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, prog_name="gantry")


@pytest.fixture
def out1(tmp_path: Path) -> Path:
    """A one-shot run's output, with the reports and logs a user adds beside it."""
    src, out = tmp_path / "in", tmp_path / "out1"
    write_cohort(src, patients=1, series=1, instances=2)
    assert _run("deidentify", str(src), str(out), "--workers", "1").exit_code == EXIT_OK
    for args in (("report", "audit", "--db", str(out), "--out", str(out / "audit.csv")),
                 ("report", "audit", "--db", str(out), "--json", "--out",
                  str(out / "audit.json")),
                 ("audit-log", "--db", str(out), "-o", str(out / "events.csv")),
                 ("audit-log", "--db", str(out), "--json", "-o", str(out / "events.json"))):
        assert _run(*args).exit_code == EXIT_OK, args
    written = next(out.rglob("*.dcm"))
    (out / ".gantry-x.dcm.4242.part").write_bytes(written.read_bytes()[:300])
    (out / "report.html.sha256").write_text(f"{'ab' * 32}  report.html\n")
    assert {p.name for p in out.iterdir()} >= set(OWN)
    return out


def _skipped_as_own(rows: list[dict]) -> set[str]:
    return {Path(r["source"].replace("!", "/")).name for r in rows
            if r["stage"] == "index" and r["reason"].startswith("Gantry's own ")}


def test_deidentifying_an_output_again_skips_gantrys_own_files(out1: Path, tmp_path: Path):
    out2 = tmp_path / "out2"
    run = _run("deidentify", str(out1), str(out2), "--workers", "1", "--json")
    assert run.exit_code == EXIT_OK, run.output
    assert json.loads(run.stdout)["outcome"]["rejected"] == 0
    listed = json.loads(_run("status", str(out2), "--rejected", "--json").stdout)
    assert _skipped_as_own(listed["rejected_inputs"]) == set(OWN)
    text = _run("status", str(out2), "--rejected").stdout
    assert "index: " + str(out1 / "manifest.json") + ": Gantry's own export manifest" in text
    assert len(list(out2.rglob("*.dcm"))) == 2
    dry = _run("deidentify", str(out1), str(tmp_path / "out3"), "--dry-run", "--workers", "1")
    assert dry.exit_code == EXIT_OK, dry.output
    assert "0 rejected" in dry.stdout


@pytest.mark.parametrize("store", ["sqlite", "memory://"])
def test_the_stores_ingest_skips_them_too(out1: Path, tmp_path: Path, store: str):
    if store == "sqlite":
        store = f"sqlite:///{tmp_path / 'w.db'}"
    archive = tmp_path / "out1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in out1.rglob("*"):
            if path.is_file():
                zf.write(path, path.relative_to(out1).as_posix())
    with Session(store, workers=1) as session:
        folder = session.ingest(out1)
        zipped = session.ingest(archive)
        rows = [r.__dict__ for r in session.store.iter_rejected()]
    assert folder.rejected == zipped.rejected == 0, (folder.errors, zipped.errors)
    assert folder.done == 2 and zipped.duplicates == 2
    assert len([r for r in rows if r["stage"] == "index"]) == 2 * len(OWN)


def test_a_name_alone_is_not_enough(tmp_path: Path):
    src = tmp_path / "in"
    src.mkdir()
    make_instance().save_as(src / "manifest.json", enforce_file_format=True)  # DICOM
    (src / "manifest.csv").write_text("patient,name\n1,Quillfeather\n")  # not Gantry's
    (src / "notes.sha256").write_text("not a checksum\n")
    run = _run("deidentify", str(src), str(tmp_path / "out"), "--workers", "1", "--json")
    assert run.exit_code == EXIT_INCOMPLETE, run.output
    outcome = json.loads(run.stdout)["outcome"]
    assert outcome["instances"] == 1 and outcome["rejected"] == 2
    listed = json.loads(_run("status", str(tmp_path / "out"), "--rejected", "--json").stdout)
    assert {Path(r["source"]).name: r["stage"] for r in listed["rejected_inputs"]} == {
        "manifest.csv": "ingest", "notes.sha256": "ingest"}  # (a rejection's stage)


def test_kernel_kinds_need_their_content():
    def head(data: bytes):
        return lambda: data

    assert own_file_kind(KERNEL_OWN_FILES, ".gantry-a.dcm.1.part", head(b"\0" * 128 + b"DICM"))
    assert own_file_kind(KERNEL_OWN_FILES, ".gantry-a.dcm.1.part", head(b"hello")) is None
    note = b"source: /in/a\nkind: rejected\nreason: not DICOM\nrun: 1\n"
    assert own_file_kind(KERNEL_OWN_FILES, "1234-a.reason.txt", head(note))
    assert own_file_kind(KERNEL_OWN_FILES, "a.txt", head(note)) is None
