"""gantry-parquet through a real Session and the real `gantry query` command (SQLite store)."""

from __future__ import annotations

import json

import click
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from gantry import Session
from gantry.testing.factory import write_cohort

SECRET = bytes(range(32))


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort")
    return write_cohort(root / "in", patients=3, series=2, instances=3)


@pytest.fixture
def db(tmp_path, cohort, monkeypatch):
    pytest.importorskip("gantry_sqlite")
    monkeypatch.setenv("GANTRY_SECRET", SECRET.hex())
    monkeypatch.setenv("GANTRY_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'work.db'}"
    with Session(store=url, secret=SECRET) as session:
        session.ingest(str(cohort.root))
    return url


def _strings(table):
    for column in table.columns:
        for value in column.to_pylist():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if isinstance(v, str):
                    yield v


def test_query_export_writes_only_matching_pseudonymous_rows(tmp_path, cohort):
    dest = tmp_path / "out" / "thin.parquet"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        summary = session.export(str(dest), format="parquet",
                                 query="SliceThickness < 2 and Manufacturer contains 'ge'")
        assert summary.failed == 0 and summary.done == 9
    table = pq.read_table(dest)
    assert table.num_rows == 9
    assert set(table.column("SliceThickness").to_pylist()) == {1.25}
    text = "\n".join(_strings(table))
    leaked = [token for token in cohort.tokens if token in text]
    assert leaked == []
    assert all(uid.startswith("2.25.") for uid in table.column("SOPInstanceUID").to_pylist())
    raw = dest.read_bytes()
    assert b"Quillfeather" not in raw and b"1.2.826.0.1.3680043.10.999" not in raw


def test_partitioned_export_from_profile_settings(tmp_path, cohort):
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nplugins:\n  gantry-parquet:\n"
                       "    partition_by: [SeriesNumber]\n    batch_size: 4\n")
    dest = tmp_path / "by-series"
    with Session(store="memory://", profile=str(profile), secret=SECRET) as session:
        session.ingest(str(cohort.root))
        assert session.export(str(dest), format="parquet").failed == 0
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == ["SeriesNumber=1",
                                                                    "SeriesNumber=2"]
    import pyarrow.dataset as pds

    assert pds.dataset(dest, partitioning="hive").count_rows() == 18


def test_session_tables_hold_stored_headers(cohort):
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        table = session.to_arrow()
        assert table.num_rows == 18
        assert table.schema.field("StudyDate").type.id == __import__("pyarrow").date32().id
        assert set(table.column("gantry_status").to_pylist()) == {"ingested"}
        frame = session.to_pandas()
        assert len(frame) == 18 and "SliceThickness" in frame.columns
        assert (frame["SliceThickness"] < 2).sum() == 9
        from gantry_parquet.tables import to_arrow

        thin = to_arrow(session, query="SeriesNumber == 2", columns=["SOPInstanceUID"])
        assert thin.num_rows == 9 and thin.column_names == ["SOPInstanceUID"]


def _cli():
    from gantry_parquet.commands import add_query_command

    group = click.Group()
    add_query_command(group)
    return group


@pytest.mark.component  # a real SQLite working store
def test_cli_query_expression_formats(db):
    runner = CliRunner()
    result = runner.invoke(_cli(), ["query", "SliceThickness < 2 and Modality == 'CT'",
                                    "--db", db, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 9 and {r["SliceThickness"] for r in rows} == {1.25}
    assert {"SOPInstanceUID", "PatientID", "Modality"} <= set(rows[0])
    result = runner.invoke(_cli(), ["query", "SeriesNumber in [2]", "--db", db,
                                    "--format", "csv", "--columns", "SeriesNumber,StudyDate"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "SeriesNumber,StudyDate" and len(lines) == 10
    assert lines[1].split(",")[1].count("-") == 2  # dates print as ISO dates
    result = runner.invoke(_cli(), ["query", "Modality == 'CT'", "--db", db, "--limit", "2"])
    assert result.exit_code == 0 and "2 instances" in result.output


@pytest.mark.component  # a real SQLite working store
def test_cli_query_errors_point_at_the_column(db):
    result = CliRunner().invoke(_cli(), ["query", "SliceThicknes < 1", "--db", db])
    assert result.exit_code == 1
    assert "did you mean 'SliceThickness'?" in result.output
    assert "SliceThicknes < 1\n^" in result.output


@pytest.mark.component  # a real SQLite working store
def test_cli_sql_is_read_only(db, tmp_path):
    runner = CliRunner()
    result = runner.invoke(_cli(), ["query", "--db", db, "--format", "json", "--sql",
                                    "SELECT Modality, count(*) AS n, min(SliceThickness) AS thin "
                                    "FROM instances GROUP BY Modality"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"Modality": "CT", "n": 18, "thin": 1.25}]
    secret = tmp_path / "secret.csv"
    secret.write_text("a\n1\n")
    for sql, message in [
        ("DELETE FROM instances", "only SELECT"),
        ("SELECT 1; DROP TABLE instances", "exactly one SELECT"),
        ("COPY instances TO 'x.csv'", "only SELECT"),
        (f"SELECT * FROM read_csv('{secret}')", "SQL:"),
        ("SELEC 1", "SQL:"),
    ]:
        result = runner.invoke(_cli(), ["query", "--db", db, "--sql", sql])
        assert result.exit_code == 1, (sql, result.output)
        assert message in result.output, (sql, result.output)
    result = runner.invoke(_cli(), ["query", "Modality == 'CT'", "--sql", "SELECT 1",
                                    "--db", db])
    assert result.exit_code == 2


def test_a_failed_final_write_leaves_no_temporary_table(tmp_path, cohort, monkeypatch):
    import errno

    import gantry_parquet.sink as sink
    import pytest

    def full_disk(tmp, path):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sink, "_swap", full_disk)
    dest = tmp_path / "out" / "t.parquet"
    with Session(store="memory://", secret=SECRET) as session:
        session.ingest(str(cohort.root))
        with pytest.raises(OSError, match="No space"):
            session.export(str(dest), format="parquet")
    assert [p.name for p in (tmp_path / "out").iterdir() if ".tmp-" in p.name] == []
