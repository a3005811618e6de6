"""The plugin's hooks and its ``gantry`` sub-commands."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from gantry_sqlite import plugin
from gantry_sqlite.store import SqliteStore, url_for_path

from gantry.protocols import PixelMeta
from gantry.records import AuditEvent, ExportRecord
from gantry.testing.factory import make_instance
from gantry.testing.store_contract import instance_from_header


@pytest.fixture
def cli() -> click.Group:
    @click.group()
    def group() -> None:
        """A bare gantry-like group."""

    plugin.gantry_commands(cli=group)
    return group


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = url_for_path(tmp_path / "cohort.db")
    store = SqliteStore(url)
    for i in range(3):
        ds = make_instance(instance=i)
        inst = instance_from_header(ds, f"/in/{i}.dcm", 1000)
        store.add_instance(inst, ds)
        store.log_event(AuditEvent("ingested", f"2.25.{i}", {"n": i}, run_id="r1",
                                   time=1_700_000_000.0 + i))
    store.record_export(ExportRecord(str(make_instance().SOPInstanceUID), "2.25.0", "/out",
                                     "a.dcm", 1, "0" * 64))
    arr = np.zeros((8, 8), dtype=np.uint16)
    for _ in range(3):
        store.put_pixels("k", arr, PixelMeta("uint16", (8, 8), 1, "MONOCHROME2"))
    store.close()
    return url


def test_the_plugin_registers_the_sqlite_scheme(tmp_path: Path) -> None:
    (backend,) = list(plugin.gantry_stores())
    assert backend.name == "sqlite" and backend.schemes == ("sqlite",)
    store = backend.open(url_for_path(tmp_path / "x.db"))
    try:
        assert store.url.startswith("sqlite:///")
    finally:
        store.close()


def test_the_kernel_finds_the_plugin_and_opens_sqlite_urls(tmp_path: Path) -> None:
    from gantry.plugins import build_plugin_manager

    hooks = build_plugin_manager()
    backend = hooks.store_backend_for(url_for_path(tmp_path / "y.db"))
    assert backend.name == "sqlite"


def test_loading_the_plugin_module_imports_nothing_heavy() -> None:
    code = ("import sys, gantry_sqlite.plugin; "
            "heavy = [m for m in ('sqlite3', 'numpy', 'pydicom', 'gantry_sqlite.store', "
            "'pyarrow') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_audit_log_csv(cli: click.Group, db: str) -> None:
    result = CliRunner().invoke(cli, ["audit-log", "--db", db])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["subject"] for r in rows] == ["2.25.0", "2.25.1", "2.25.2"]
    assert rows[0]["time"] == "2023-11-14T22:13:20.000+00:00"
    assert rows[0]["kind"] == "ingested" and rows[0]["run_id"] == "r1"
    assert json.loads(rows[2]["detail"]) == {"n": 2}


def test_audit_log_json_to_a_file(cli: click.Group, db: str, tmp_path: Path) -> None:
    out = tmp_path / "audit.json"
    result = CliRunner().invoke(cli, ["audit-log", "--db", db, "--format", "json", "-o",
                                      str(out)])
    assert result.exit_code == 0, result.output
    events = json.loads(out.read_text())
    assert [e["detail"]["n"] for e in events] == [0, 1, 2]
    assert set(events[0]) == {"time", "run_id", "kind", "subject", "detail"}


def test_audit_log_reads_the_db_from_the_environment(cli: click.Group, db: str) -> None:
    result = CliRunner().invoke(cli, ["audit-log", "--format", "json"], env={"GANTRY_DB": db})
    assert result.exit_code == 0 and len(json.loads(result.output)) == 3


def test_sql_command(cli: click.Group, db: str) -> None:
    result = CliRunner().invoke(cli, ["sql", "--db", db, "--format", "json",
                                      "SELECT COUNT(*) AS n FROM instances WHERE modality = ?",
                                      "-p", "CT"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"n": 3}
    refused = CliRunner().invoke(cli, ["sql", "--db", db, "DELETE FROM instances"])
    assert refused.exit_code == 1 and "readonly" in refused.output


def test_compact_command_reports_reclaimed_bytes(cli: click.Group, db: str) -> None:
    result = CliRunner().invoke(cli, ["compact", "--db", db])
    assert result.exit_code == 0, result.output
    assert "1 live entries" in result.output and "reclaimed" in result.output
    reclaimed = int(result.output.rsplit("(", 1)[1].split()[0])
    assert reclaimed > 2 * 8 * 8 * 2


def test_purge_command(cli: click.Group, db: str) -> None:
    result = CliRunner().invoke(cli, ["purge", "--db", db, "--yes"])
    assert result.exit_code == 0, result.output
    assert "purged 1 exported instances" in result.output
    assert "2 instances not yet exported remain" in result.output
    aborted = CliRunner().invoke(cli, ["purge", "--db", db], input="n\n")
    assert aborted.exit_code == 1


def test_missing_store_is_a_clear_error(cli: click.Group, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["audit-log", "--db", url_for_path(tmp_path / "no.db")])
    assert result.exit_code == 2, result.output
    assert "no.db: no such store (read commands never create one)" in result.output
    assert not (tmp_path / "no.db").exists()


def test_verify_pixels_without_the_database(cli: click.Group, db: str, tmp_path: Path) -> None:
    sidecar = tmp_path / "cohort_pixels.bin"
    (tmp_path / "cohort.db").unlink()
    result = CliRunner().invoke(cli, ["verify-pixels", str(sidecar), "--extract",
                                      str(tmp_path / "rec")])
    assert result.exit_code == 0, result.output
    assert "1 keys readable, 0 damaged" in result.output
    (npy,) = (tmp_path / "rec").glob("*.npy")
    assert np.load(npy).shape == (8, 8)
    data = bytearray(sidecar.read_bytes())
    data[-5] ^= 0xFF
    sidecar.write_bytes(bytes(data))
    damaged = CliRunner().invoke(cli, ["verify-pixels", str(sidecar)])
    assert damaged.exit_code == 1 and "1 damaged" in damaged.output


def test_one_shot_runs_default_to_a_sqlite_store(tmp_path: Path) -> None:
    from gantry.plugins import build_plugin_manager
    from gantry.workstore import working_store_for

    url = working_store_for(str(tmp_path / "out"), build_plugin_manager())
    assert url.startswith("sqlite:///") and url.endswith(".db")
    # the same command resumes
    assert url == working_store_for(str(tmp_path / "out"), build_plugin_manager())
