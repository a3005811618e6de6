"""The operator's CLI (issue 23): working stores, exit codes, one-line errors, filters and
quarantine, dry runs, lookup tables, logs, --fresh and profile validation — each from the
command line, with the exact message, the exit code and nothing created where nothing should be.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from click.testing import CliRunner

from gantry.cli import (
    EXIT_INCOMPLETE,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_USAGE,
    _add_plugin_commands,
    cli,
)
from gantry.testing.factory import write_cohort

pytest.importorskip("gantry_sqlite", reason="one-shot runs keep a SQLite working store")


@pytest.fixture
def runner() -> CliRunner:
    _add_plugin_commands()  # sql, query, report... as the gantry script has them
    return CliRunner()


def _runs() -> Path:
    return Path(os.environ["GANTRY_HOME"]) / "runs"


def _run(runner: CliRunner, *args: str) -> object:
    return runner.invoke(cli, list(args), catch_exceptions=False, prog_name="gantry")


def _cohort(tmp_path: Path, junk: bool = False, **kwargs: int) -> Path:
    src = tmp_path / "in"
    write_cohort(src, **{"patients": 1, "series": 1, "instances": 2, **kwargs})
    if junk:
        (src / "junk.txt").write_text("not dicom")
    return src


# --------------------------------------------------------------------------- 1. working stores
def test_working_store_is_printed_listed_resolved_and_private(tmp_path: Path,
                                                              runner: CliRunner) -> None:
    src, out = _cohort(tmp_path), tmp_path / "out"
    result = _run(runner, "deidentify", str(src), str(out), "--workers", "1")
    assert result.exit_code == EXIT_OK, result.output
    (db,) = _runs().glob("*.db")
    assert f"working store: sqlite:///{db} (original headers" in result.stderr
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    for folder in (_runs(), _runs().parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    as_json = _run(runner, "deidentify", str(src), str(out), "--workers", "1", "--json")
    assert json.loads(as_json.stdout)["store"] == f"sqlite:///{db}"

    status = _run(runner, "status", str(out))
    assert status.exit_code == EXIT_OK, status.output
    assert status.stdout.splitlines()[:4] == [
        f"store: sqlite:///{db}", "profile: ps3.15/basic",
        "holds: 1 patients, 1 studies, 1 series, 2 instances", "instances: 2 exported"]
    listed = json.loads(_run(runner, "runs", "list", "--json").stdout)
    (entry,) = listed["runs"]
    assert entry["destination"] == str(out.resolve()) and entry["size"] > 0
    assert entry["counts"]["instances"] == 2 and entry["exit_code"] == EXIT_OK
    shown = _run(runner, "runs", "show", str(out))
    assert "status: 2 exported" in shown.stdout and f"destination: {out.resolve()}" in shown.stdout
    audit = _run(runner, "audit", str(out))  # audit, query, report: DEST names the store too
    assert audit.exit_code == EXIT_OK, audit.output
    query = _run(runner, "query", "--db", str(out), "Modality == 'CT'", "--format", "csv")
    assert query.exit_code == EXIT_OK and len(query.stdout.splitlines()) == 3
    report = _run(runner, "report", "audit", "--db", str(out))
    assert report.exit_code == EXIT_OK and len(report.stdout.splitlines()) == 3
    removed = _run(runner, "runs", "rm", entry["key"], "--yes")
    assert removed.exit_code == EXIT_OK and f"removed {entry['key']}" in removed.stdout
    assert not list(_runs().iterdir())
    gone = _run(runner, "status", str(out))
    assert gone.exit_code == EXIT_USAGE
    assert gone.stderr == (f"gantry: error: {out}: no working store for this destination "
                           "(gantry runs list; or give --db URL)\n")


# --------------------------------------------------------------------------- 2. exit codes
def test_a_resumed_run_exits_as_the_first(tmp_path: Path, runner: CliRunner) -> None:
    src, out = _cohort(tmp_path, junk=True), tmp_path / "out"
    first = _run(runner, "deidentify", str(src), str(out), "--workers", "1")
    again = _run(runner, "deidentify", str(src), str(out), "--workers", "1", "--json")
    assert first.exit_code == again.exit_code == EXIT_INCOMPLETE, again.output
    assert json.loads(again.stdout)["outcome"]["rejected"] == 1


def test_an_input_lost_to_a_uid_conflict_is_not_success(tmp_path: Path,
                                                        runner: CliRunner) -> None:
    """Two files with one SOP Instance UID and different contents: the second is not
    written (the first is kept), so the run did not write everything it was given."""
    src, out = _cohort(tmp_path), tmp_path / "out"
    first = sorted(p for p in src.rglob("*") if p.is_file())[0]
    ds = pydicom.dcmread(first)
    ds.SeriesDescription = "the same instance, edited"
    ds.save_as(src / "edited-copy.dcm", enforce_file_format=True)
    result = _run(runner, "deidentify", str(src), str(out), "--workers", "1", "--json")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert json.loads(result.stdout)["outcome"]["conflicts"] == 1
    again = _run(runner, "deidentify", str(src), str(out), "--workers", "1")
    assert again.exit_code == EXIT_INCOMPLETE, again.output
    status = _run(runner, "status", str(out))
    assert "1 UID conflicts" in status.stdout


def test_no_dicom_found_is_exit_4_and_leaves_nothing(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "empty").mkdir()
    result = _run(runner, "deidentify", str(tmp_path / "empty"), str(tmp_path / "out"))
    assert result.exit_code == EXIT_NOTHING, result.output
    assert "nothing to do: no DICOM instance found or selected" in result.stderr
    assert not (tmp_path / "out").exists() and not list(_runs().glob("*"))


def test_missing_input_is_a_usage_error_creating_nothing(tmp_path: Path,
                                                         runner: CliRunner) -> None:
    result = _run(runner, "deidentify", str(tmp_path / "nope"), str(tmp_path / "out"))
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == f"gantry: error: {tmp_path / 'nope'}: input not found\n"
    assert not (tmp_path / "out").exists() and not _runs().exists()


def test_read_commands_never_create_a_store(tmp_path: Path, runner: CliRunner) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (["status", "--db", url], ["audit", "--db", url], ["export", "o", "--db", url],
                 ["sql", "--db", url, "select 1"], ["query", "--db", url, "Modality == 'CT'"],
                 ["report", "audit", "--db", url]):
        result = _run(runner, *args)
        assert result.exit_code == EXIT_USAGE, (args, result.output)
        assert result.stderr.splitlines()[-1].endswith(
            "typo.db: no such store (read commands never create one)"), args
    assert list(tmp_path.iterdir()) == []


def test_a_file_name_for_db_suggests_the_url(tmp_path: Path, runner: CliRunner) -> None:
    result = _run(runner, "status", "--db", "cohort.db")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == ("gantry: error: --db cohort.db: a store is named by URL: did you "
                             "mean sqlite:///cohort.db?\n")


def test_click_usage_errors_are_one_line(runner: CliRunner) -> None:
    result = _run(runner, "deidentify", "only-src")
    assert result.exit_code == EXIT_USAGE
    assert result.stderr == ("gantry: error: Missing argument 'DEST'. (see 'gantry deidentify "
                             "--help')\n")


def test_class_names_only_with_debug(tmp_path: Path, runner: CliRunner) -> None:
    bad = tmp_path / "secret.key"
    bad.write_text("zz")
    bad.chmod(0o600)
    args = ["deidentify", str(_cohort(tmp_path)), str(tmp_path / "out"), "--secret-file",
            str(bad), "--db", "memory://"]
    plain = runner.invoke(cli, args, env={"GANTRY_SECRET": ""}, prog_name="gantry")
    assert plain.exit_code == 1
    assert plain.stderr == f"gantry: error: {bad}: the secret must be hexadecimal\n"
    debug = runner.invoke(cli, ["--debug", *args], env={"GANTRY_SECRET": ""})
    assert type(debug.exception).__name__ == "SecretError"


def test_a_closed_pipe_ends_quietly(tmp_path: Path, runner: CliRunner) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert _run(runner, "ingest", str(_cohort(tmp_path, instances=6)), "--db", db).exit_code == 0
    gantry = Path(sys.executable).with_name("gantry")
    query = "select a.* from header a, header b limit 100000"  # more than a pipe holds
    proc = subprocess.run(f"'{gantry}' sql --db '{db}' '{query}' | head -1; "
                          "exit ${PIPESTATUS[0]}", shell=True, executable="/bin/bash",
                          capture_output=True, text=True, timeout=60)
    assert proc.stdout.startswith("sop_instance_uid\t") and proc.stdout.count("\n") == 1
    assert proc.stderr == ""  # no BrokenPipeError, no "Exception ignored"
    assert proc.returncode == EXIT_PIPE


# --------------------------------------------------------------------------- 3. filters
def test_query_withholds_naming_the_source_and_quarantine_copies(tmp_path: Path,
                                                                 runner: CliRunner) -> None:
    src, out, quarantine = _cohort(tmp_path, junk=True), tmp_path / "out", tmp_path / "q"
    before = {p: p.read_bytes() for p in src.rglob("*") if p.is_file()}
    result = _run(runner, "deidentify", str(src), str(out), "--workers", "1",
                  "--query", "InstanceNumber == 1", "--quarantine", str(quarantine))
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    withheld = next(p for p in before if p.name == "i0001")
    assert f"{withheld}: withheld: not selected by --query" in result.stderr
    assert "ingest: 1 done, 1 withheld, 1 rejected" in result.stderr
    assert len(list(out.rglob("*.dcm"))) == 1
    copies = sorted(p.relative_to(quarantine).parts[0] for p in quarantine.rglob("*")
                    if p.is_file() and not p.name.endswith(".reason.txt"))
    assert copies == ["rejected", "withheld"]
    (note,) = (quarantine / "withheld").glob("*.reason.txt")
    assert f"source: {withheld}\nkind: withheld\nreason: not selected by --query\n" in \
        note.read_text()
    assert {p: p.read_bytes() for p in src.rglob("*") if p.is_file()} == before  # copied
    rejected = _run(runner, "status", str(out), "--rejected")
    assert f"withheld: {withheld}: not selected by --query" in rejected.stdout


def test_profile_filter_rules_withhold_with_their_reason(tmp_path: Path,
                                                         runner: CliRunner) -> None:
    profile = tmp_path / "filtered.yaml"
    profile.write_text("extends: ps3.15/basic\nfilter:\n"
                       "  - {modality: [CT], image_type: [AXIAL], reason: axial CT on hold}\n")
    result = _run(runner, "deidentify", str(_cohort(tmp_path)), str(tmp_path / "out"),
                  "--workers", "1", "-p", str(profile), "--json")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    ingest = json.loads(result.stdout)["summaries"][0]
    assert ingest["withheld"] == 2 and ingest["failed"] == 0
    assert all(e.endswith(": withheld: axial CT on hold") for e in ingest["errors"])


def test_a_site_hook_and_a_sop_class_rule_withhold(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "site.py").write_text(
        "from gantry import hookimpl\n"
        "@hookimpl\n"
        "def gantry_withhold(instance, header, run):\n"
        "    if header.get('InstanceNumber') == 2:\n"
        "        return 'second images go to manual review'\n")
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nlocal_hooks: [site.py]\nfilter:\n"
                       "  - {sop_class: 1.2.840.10008.5.1.4.1.1.7}\n")  # secondary capture
    result = _run(runner, "deidentify", str(_cohort(tmp_path, instances=3)), str(tmp_path / "o"),
                  "--workers", "1", "-p", str(profile))
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert result.stderr.count(": withheld: second images go to manual review") == 1
    assert len(list((tmp_path / "o").rglob("*.dcm"))) == 2
    profile.write_text("extends: ps3.15/basic\nfilter:\n"
                       "  - {sop_class: 1.2.840.10008.5.1.4.1.1.2}\n")  # CT image storage
    every = _run(runner, "deidentify", str(tmp_path / "in"), str(tmp_path / "o2"),
                 "--workers", "1", "-p", str(profile))
    assert every.exit_code == EXIT_INCOMPLETE, every.output
    assert "withheld: filtered by the profile: SOP class 1.2.840.10008.5.1.4.1.1.2" in \
        every.stderr
    assert not list((tmp_path / "o2").rglob("*.dcm"))


# --------------------------------------------------------------------------- 4. dry run
def test_dry_run_writes_nothing(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "out"
    result = _run(runner, "deidentify", str(_cohort(tmp_path)), str(out), "--dry-run",
                  "--workers", "1")
    assert result.exit_code == EXIT_OK, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("dry run: 2 would be written, 0 would fail, 0 refused, 0 withheld, "
                        "0 rejected, 0 already written; nothing was written")
    assert "  PatientName: D (pseudonym) 2" in lines
    assert not out.exists() and not _runs().exists()
    withheld = _run(runner, "deidentify", str(tmp_path / "in"), str(out), "--dry-run",
                    "--query", "InstanceNumber == 1", "--json")
    assert withheld.exit_code == EXIT_INCOMPLETE  # the code the run would give
    assert json.loads(withheld.stdout)["withheld"] == 1 and not out.exists()


def test_dry_run_refuses_what_the_run_refuses(tmp_path: Path, runner: CliRunner) -> None:
    """The export gate's withholding (an image known to carry burned-in text under a
    header-only profile) and another patient's name (the roster) are part of the dry run:
    it counts what the run would refuse and exits as the run does."""
    from pydicom.uid import UltrasoundImageStorage

    from gantry.testing.factory import make_instance

    src = _cohort(tmp_path)
    us = make_instance(patient=4, sop_class=UltrasoundImageStorage)
    us.Modality = "US"
    us.save_as(src / "echo.dcm", enforce_file_format=True)
    other = make_instance(patient=0, instance=5)
    named = make_instance(patient=1, instance=7)
    named.SeriesDescription = f"compared with {str(other.PatientName).split('^')[0]}"
    named.save_as(src / "compare.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    dry = _run(runner, "deidentify", str(src), str(out), "--dry-run", "--workers", "1",
               "-p", "ps3.15/research", "--json")
    report = json.loads(dry.stdout)
    assert not out.exists()
    real = _run(runner, "deidentify", str(src), str(out), "--workers", "1",
                "-p", "ps3.15/research", "--json")
    written = json.loads(real.stdout)["summaries"][-1]
    assert (written["done"], written["refused"]) == (2, 2), real.output
    assert (report["would_write"], report["refused"], report["would_fail"]) == (2, 2, 0), \
        dry.output
    assert dry.exit_code == real.exit_code == EXIT_INCOMPLETE
    assert any("burned-in" in line for line in report["problems"])


def test_export_dry_run_leaves_the_store_as_it_was(tmp_path: Path, runner: CliRunner) -> None:
    db = f"sqlite:///{tmp_path / 'w.db'}"
    assert _run(runner, "ingest", str(_cohort(tmp_path)), "--db", db).exit_code == EXIT_OK
    before = (tmp_path / "w.db").read_bytes()
    result = _run(runner, "export", str(tmp_path / "out"), "--db", db, "--dry-run", "--json")
    assert result.exit_code == EXIT_OK, result.output
    report = json.loads(result.stdout)
    assert report["would_write"] == 2 and report["changes"]["PatientID"] == {"D (pseudonym)": 2}
    assert not (tmp_path / "out").exists()
    assert (tmp_path / "w.db").read_bytes() == before


# --------------------------------------------------------------------------- 5. lookup tables
def _lookup_profile(tmp_path: Path, rows: str, missing: str = "refuse") -> Path:
    (tmp_path / "ids.csv").write_text("PatientID,pseudonym,name\n" + rows)
    profile = tmp_path / "site.yaml"
    profile.write_text("extends: ps3.15/basic\nlookup:\n"
                       f"  - {{file: ids.csv, name_column: name, missing: {missing}}}\n")
    return profile


@pytest.mark.parametrize("memo", ["1", "0"])
def test_lookup_table_gives_the_site_pseudonym_on_both_paths(tmp_path: Path, runner: CliRunner,
                                                             memo: str,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)  # the byte pass and the full engine
    profile = _lookup_profile(tmp_path, "MRN0007Q00000,SITE-001,SITE^ONE\n")
    result = _run(runner, "deidentify", str(_cohort(tmp_path, patients=2)), str(tmp_path / "o"),
                  "--workers", "1", "-p", str(profile))
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert "withheld: PatientID not in the lookup table ids.csv (missing: refuse)" in \
        result.stderr
    written = [pydicom.dcmread(p) for p in (tmp_path / "o").rglob("*.dcm")]
    assert len(written) == 2
    assert {(d.PatientID, str(d.PatientName)) for d in written} == {("SITE-001", "SITE^ONE")}


@pytest.mark.parametrize("memo", ["1", "0"])
@pytest.mark.parametrize("action", ["", "tags: {AccessionNumber: K}\n"])
def test_lookup_table_maps_other_attributes_identically_on_both_paths(
        tmp_path: Path, runner: CliRunner, memo: str, action: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)
    (tmp_path / "acc.csv").write_text("AccessionNumber,pseudonym\nACC0000X003693,STUDY-A\n")
    profile = tmp_path / "acc.yaml"
    profile.write_text("extends: ps3.15/basic\n" + action +
                       "lookup:\n  - {file: acc.csv, key: AccessionNumber, missing: keyed}\n")
    result = _run(runner, "deidentify", str(_cohort(tmp_path, patients=2)), str(tmp_path / "o"),
                  "--workers", "1", "-p", str(profile))
    assert result.exit_code == EXIT_OK, result.output
    found = {pydicom.dcmread(p).AccessionNumber for p in (tmp_path / "o").rglob("*.dcm")}
    (keyed,) = found - {"STUDY-A"}
    assert "STUDY-A" in found and len(keyed) == 16 and "ACC" not in keyed
    (tmp_path / "o2").mkdir()
    monkeypatch.setenv("GANTRY_BYTE_PASS", "0" if memo == "1" else "1")
    other = _run(runner, "deidentify", str(tmp_path / "in"), str(tmp_path / "o2"), "--db",
                 "memory://", "--workers", "1", "-p", str(profile))
    assert other.exit_code == EXIT_OK, other.output
    first = sorted(p.read_bytes() for p in (tmp_path / "o").rglob("*.dcm"))
    assert first == sorted(p.read_bytes() for p in (tmp_path / "o2").rglob("*.dcm"))


def test_lookup_missing_keyed_falls_back_to_the_keyed_pseudonym(tmp_path: Path,
                                                               runner: CliRunner) -> None:
    profile = _lookup_profile(tmp_path, "MRN0007Q00000,SITE-001,SITE^ONE\n", missing="keyed")
    result = _run(runner, "deidentify", str(_cohort(tmp_path, patients=2)), str(tmp_path / "o"),
                  "--workers", "1", "-p", str(profile))
    assert result.exit_code == EXIT_OK, result.output
    ids = {pydicom.dcmread(p).PatientID for p in (tmp_path / "o").rglob("*.dcm")}
    assert "SITE-001" in ids and any(i.startswith("GP-") for i in ids)


def test_bad_lookup_table_is_reported_line_by_line(tmp_path: Path, runner: CliRunner) -> None:
    profile = _lookup_profile(tmp_path, "A,S1,N\nA,S2,N\nB,S1,N\n,S3,N\n")
    result = _run(runner, "profiles", "validate", str(profile))
    assert result.exit_code == EXIT_USAGE
    csv = tmp_path / "ids.csv"
    assert result.stderr.splitlines() == [
        f"gantry: error: {csv}:3: PatientID repeats the one of line 2",
        f"gantry: error: {csv}:4: pseudonym is also given at line 2: two patients would be "
        "merged",
        f"gantry: error: {csv}:5: empty PatientID",
        f"{profile}: 3 error(s)"]
    run = _run(runner, "deidentify", str(_cohort(tmp_path)), str(tmp_path / "o"), "-p",
               str(profile))
    assert run.exit_code == EXIT_USAGE and not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- 6. logs, status
def test_log_file_json_lines_and_plain_progress(tmp_path: Path, runner: CliRunner,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import gantry.cli_output

    monkeypatch.setattr(gantry.cli_output, "PROGRESS_INTERVAL", 0.0)
    log = tmp_path / "run.log"
    result = _run(runner, "--log-file", str(log), "--log-format", "json", "deidentify",
                  str(_cohort(tmp_path, junk=True)), str(tmp_path / "o"), "--workers", "1")
    assert result.exit_code == EXIT_INCOMPLETE, result.output
    assert any(line.startswith("ingest: ") and " files, " in line and "files/s" in line
               for line in result.stderr.splitlines())  # not a terminal: plain lines
    assert "export: 2/2 files" in result.stderr  # the export's progress has its total
    assert "  findings: " in result.stderr and " info (" in result.stderr
    records = [json.loads(line) for line in log.read_text().splitlines()]
    stages = [r for r in records if r.get("event") == "stage"]
    assert [r["stage"] for r in stages] == ["ingest", "export"]
    assert any(r.get("event") == "problem" and "junk.txt" in r["message"] for r in records)
    assert all({"time", "level", "message"} <= set(r) for r in records)


def test_every_result_command_takes_json(tmp_path: Path, runner: CliRunner) -> None:
    listed = json.loads(_run(runner, "profiles", "list", "--json").stdout)
    assert any(p["name"] == "ps3.15/basic" for p in listed)
    assert json.loads(_run(runner, "runs", "list", "--json").stdout)["runs"] == []
    out = tmp_path / "out"
    assert _run(runner, "deidentify", str(_cohort(tmp_path)), str(out), "-w", "1").exit_code == 0
    lines = _run(runner, "sql", "--db", str(out), "select sop_instance_uid from instances",
                 "--json").stdout.splitlines()
    assert len(lines) == 2 and all("sop_instance_uid" in json.loads(line) for line in lines)
    for args in (["status", str(out)], ["query", "Modality == 'CT'", "--db", str(out)],
                 ["report", "audit", "--db", str(out)], ["audit-log", "--db", str(out)],
                 ["compact", "--db", str(out)], ["runs", "show", str(out)],
                 ["report", "manifest", str(out), "--db", str(out)],
                 ["purge", "--db", str(out), "--yes"]):
        result = _run(runner, *args, "--json")
        assert result.exit_code == EXIT_OK, (args, result.output)
        assert json.loads(result.stdout) is not None, args


def test_runs_lists_stores_made_before_run_records(runner: CliRunner) -> None:
    from gantry.workstore import private_dir

    old = private_dir(_runs()) / "0123456789abcdef.db"
    old.write_bytes(b"")
    (old.parent / "0123456789abcdef_pixels.bin").write_bytes(b"x" * 10)
    listed = _run(runner, "runs", "list")
    assert listed.stdout.splitlines()[1].startswith("0123456789abcdef") and \
        listed.stdout.splitlines()[1].endswith("(unknown)")
    assert _run(runner, "runs", "rm", "0123", "--yes").exit_code == EXIT_OK
    assert not list(_runs().iterdir())


def test_a_generated_secret_lives_in_owner_only_folders(tmp_path: Path, runner: CliRunner,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GANTRY_SECRET")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg" / "deep"))
    result = _run(runner, "deidentify", str(_cohort(tmp_path)), str(tmp_path / "o"), "-w", "1")
    assert result.exit_code == EXIT_OK, result.output
    key = tmp_path / "cfg" / "deep" / "gantry" / "secret.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    for folder in (key.parent, key.parent.parent, key.parent.parent.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


# --------------------------------------------------------------------------- 7. fresh, validate
def test_fresh_needs_an_empty_destination_or_overwrite(tmp_path: Path,
                                                       runner: CliRunner) -> None:
    src, out = _cohort(tmp_path), tmp_path / "out"
    assert _run(runner, "deidentify", str(src), str(out), "-w", "1").exit_code == EXIT_OK
    refused = _run(runner, "deidentify", str(src), str(out), "--fresh")
    assert refused.exit_code == EXIT_USAGE
    assert refused.stderr == (f"gantry: error: {out}: --fresh needs an empty destination (or "
                              "--overwrite to write over what is there)\n")
    again = _run(runner, "deidentify", str(src), str(out), "--fresh", "--overwrite", "-w", "1",
                 "--json")
    assert again.exit_code == EXIT_OK, again.output
    assert json.loads(again.stdout)["summaries"][1]["done"] == 2  # exported afresh
    db = f"sqlite:///{tmp_path / 'mine.db'}"
    out2 = tmp_path / "out2"
    assert _run(runner, "deidentify", str(src), str(out2), "--db", db, "-w", "1").exit_code == 0
    kept = _run(runner, "deidentify", str(src), str(out2), "--db", db, "-w", "1", "--fresh",
                "--overwrite", "--json")
    assert kept.exit_code == EXIT_OK, kept.output
    assert json.loads(kept.stdout)["summaries"][1]["done"] == 2  # re-exported, store kept
    assert (tmp_path / "mine.db").is_file()


def test_validate_reports_every_error_and_missing_components(tmp_path: Path,
                                                             runner: CliRunner) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("extends: ps3.15/basic\n"
                   "redact: [ps315-tags, pixel-zonez]\n"
                   "tags:\n  NotAKeyword: X\n  PatientName: {action: Q}\n"
                   "colour: blue\n")
    result = _run(runner, "profiles", "validate", str(bad))
    assert result.exit_code == EXIT_USAGE
    lines = result.stderr.splitlines()
    assert f"gantry: error: {bad}:6: colour: unknown key 'colour'" in lines
    assert f"gantry: error: {bad}:4: tags.NotAKeyword: unknown attribute keyword or tag " \
           "'NotAKeyword'" in lines
    assert any(line.startswith(f"gantry: error: {bad}:5: tags.PatientName") and "'Q'" in line
               for line in lines)
    assert any(line.startswith(f"gantry: error: {bad}:2: redact.1: no redactor named "
                               "'pixel-zonez' is installed") for line in lines)
    assert lines[-1] == f"{bad}: 4 error(s)"
    typo = tmp_path / "typo.yaml"
    typo.write_text("extends: ps3.15/basic\nredact: [ps315-tagz]\n")
    run = _run(runner, "deidentify", str(_cohort(tmp_path)), str(tmp_path / "o"), "-p",
               str(typo))
    assert run.exit_code == EXIT_USAGE
    assert "no redactor named 'ps315-tagz' is installed" in run.stderr
    assert not (tmp_path / "o").exists()


# --------------------------------------------------------------------------- 8. saved script
@pytest.mark.slow
def test_the_readme_example_runs_as_a_saved_script(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'if __name__ == "__main__"' not in block  # the example as users copy it
    script = tmp_path / "example.py"
    script.write_text(block.replace("/data/incoming", "incoming")
                      .replace("/data/research", "research")
                      .replace('profile="ps3.15/basic")', 'profile="ps3.15/basic", workers=2)'))
    write_cohort(tmp_path / "incoming", patients=2, series=2, instances=2)
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "BrokenProcessPool" not in proc.stderr
    assert len(list((tmp_path / "research").rglob("*.dcm"))) == 8


def test_the_one_pass_export_takes_lookup_tables_itself(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The byte-level pass applies the tables (it does not hand the instances to the full
    engine): its result is the one the equivalence test above compares."""
    import gantry.pipeline as pipeline
    from gantry import Session

    taken: list[bool] = []
    original = pipeline._process_bytes

    def spy(*args: object, **kwargs: object) -> bool:
        taken.append(original(*args, **kwargs))
        return taken[-1]

    monkeypatch.setattr(pipeline, "_process_bytes", spy)
    (tmp_path / "acc.csv").write_text("AccessionNumber,pseudonym\nACC0000X003693,STUDY-A\n")
    (tmp_path / "ids.csv").write_text("PatientID,pseudonym\nMRN0007Q00000,SITE-1\n")
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nlookup:\n"
                       "  - {file: acc.csv, key: AccessionNumber, missing: keyed}\n"
                       "  - {file: ids.csv, missing: keyed}\n")
    with Session("memory://", profile=str(profile), workers=1) as session:
        session.deidentify(str(_cohort(tmp_path, patients=2)), str(tmp_path / "o"))
    assert taken == [True] * 4
    written = [pydicom.dcmread(p) for p in (tmp_path / "o").rglob("*.dcm")]
    assert {(d.PatientID, d.AccessionNumber) for d in written if d.PatientID == "SITE-1"} == \
        {("SITE-1", "STUDY-A")}


def test_a_session_on_a_file_name_suggests_the_url(tmp_path: Path) -> None:
    from gantry import Session
    from gantry.errors import ComponentNotFound

    with pytest.raises(ComponentNotFound, match=r"did you mean sqlite:///cohort\.db\?$"):
        Session("cohort.db")
    assert not (tmp_path / "cohort.db").exists()
