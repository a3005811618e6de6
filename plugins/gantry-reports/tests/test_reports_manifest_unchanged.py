"""Files left as exported (size and modification time those of their export record) keep their
recorded sha256: the manifest reads only their header. Anything else is read and hashed again,
and ``rehash`` reads and hashes every file."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from gantry_reports import manifest
from gantry_reports.headerscan import HeaderReader

from gantry.records import ExportRecord
from gantry.testing.factory import make_instance

SECRET = bytes(range(32))


@pytest.fixture()
def exported(tmp_path: Path, export_cohort) -> tuple[Path, list[ExportRecord]]:
    _cohort, dest, records = export_cohort(tmp_path, patients=1, series=2, instances=3,
                                           rows=64, cols=64)
    assert len(records) == 6 and all(r.mtime_ns for r in records)
    return dest, records


def _entries(dest: Path, records: list[ExportRecord], **options) -> dict[str, dict]:
    manifest.write_manifests(str(dest), list(records), **options)
    doc = json.loads((dest / "manifest.json").read_text())
    return {entry["path"]: entry for entry in doc["files"]}


def _counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    loaded: list[str] = []
    real = manifest._load
    monkeypatch.setattr(manifest, "_load", lambda where: loaded.append(where) or real(where))
    return loaded


def _counting_heads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    parsed: list[int] = []
    real = HeaderReader.read
    monkeypatch.setattr(HeaderReader, "read",
                        lambda self, data: parsed.append(len(data)) or real(self, data))
    return parsed


def test_unchanged_files_keep_their_recorded_hash_and_fields(exported, monkeypatch) -> None:
    dest, records = exported
    assert all(dict(r.fields)["TransferSyntaxUID"] and dict(r.fields)["Modality"]
               for r in records)  # the export recorded them
    full = _entries(dest, records, rehash=True)
    loaded = _counting_loads(monkeypatch)
    parsed = _counting_heads(monkeypatch)
    fast = _entries(dest, records)
    assert loaded == [] and parsed == []  # no file read whole or hashed, no header parsed
    assert fast == full  # and every entry as reading and hashing each file gives it


def test_unchanged_files_without_recorded_fields_have_their_header_read(
        exported, monkeypatch) -> None:
    dest, records = exported
    bare = [dataclasses.replace(r, fields=()) for r in records]
    full = _entries(dest, bare, rehash=True)
    loaded = _counting_loads(monkeypatch)
    parsed = _counting_heads(monkeypatch)
    assert _entries(dest, bare) == full
    assert loaded == [] and len(parsed) == len(records)


def test_a_header_longer_than_the_first_read_is_read_whole(exported, monkeypatch) -> None:
    dest, records = exported
    records = [dataclasses.replace(r, fields=()) for r in records]
    full = _entries(dest, records, rehash=True)
    monkeypatch.setattr(manifest, "_HEAD_BYTES", 300)  # inside the header of every file
    assert _entries(dest, records) == full


def test_a_rewritten_file_is_hashed_again(exported, monkeypatch) -> None:
    """Same size, other bytes, a later modification time: re-read, and reported."""
    dest, records = exported
    target = dest / records[0].path
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF  # a pixel byte
    target.write_bytes(bytes(data))
    os.utime(target, ns=(records[0].mtime_ns + 10**9, records[0].mtime_ns + 10**9))
    loaded = _counting_loads(monkeypatch)
    entries = _entries(dest, records)
    assert loaded == [str(target)]
    assert entries[records[0].path]["status"] == "changed since export"
    assert all(e["status"] == "ok" for p, e in entries.items() if p != records[0].path)


def test_rehash_catches_a_change_that_kept_size_and_time(exported) -> None:
    """What the quick check cannot see (bytes changed, size and time put back) ``rehash``
    finds."""
    dest, records = exported
    target = dest / records[1].path
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(records[1].mtime_ns, records[1].mtime_ns))
    assert _entries(dest, records)[records[1].path]["status"] == "ok"
    assert _entries(dest, records, rehash=True)[records[1].path]["status"] == \
        "changed since export"


def test_records_without_a_time_are_hashed_as_before(exported, monkeypatch) -> None:
    dest, records = exported
    unknown = [dataclasses.replace(r, mtime_ns=0) for r in records]
    loaded = _counting_loads(monkeypatch)
    assert _entries(dest, unknown) == _entries(dest, records, rehash=True)
    assert len(loaded) == 2 * len(records)  # both runs read every file


def test_the_header_reader_wants_the_whole_header() -> None:
    """On the first bytes of a file, fields only when the pixel data starts in them: cut at an
    element boundary before it, the reader would miss later fields without noticing."""
    from io import BytesIO

    ds = make_instance(rows=32, cols=32)
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    reader = HeaderReader(manifest.KEY_FIELDS)
    whole = reader.read(data)
    pixel_at = data.rfind(b"\xe0\x7f\x10\x00")
    assert whole is not None and reader.read_head(data[:pixel_at + 12]) == whole
    assert reader.read_head(data[:pixel_at]) is None  # ends at an element boundary
    assert reader.read_head(data[:pixel_at - 3]) is None  # ends inside an element


def test_report_manifest_rehash_flag(tmp_path: Path, export_cohort) -> None:
    """``gantry report manifest DEST --rehash`` finds what the quick check cannot see."""
    import click
    from click.testing import CliRunner
    from gantry_reports.commands import add_report_commands

    db = f"sqlite:///{tmp_path / 'w.db'}"
    _cohort, dest, records = export_cohort(tmp_path, store=db, patients=1, series=1,
                                           instances=2)
    record = records[0]
    target = dest / record.path
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    os.utime(target, ns=(record.mtime_ns, record.mtime_ns))
    group = click.Group()
    add_report_commands(group)
    statuses = []
    for extra in ([], ["--rehash"]):
        result = CliRunner().invoke(group, ["report", "manifest", str(dest), "--db", db, *extra],
                                    env={"GANTRY_SECRET": SECRET.hex()})
        assert result.exit_code == 0, result.output
        doc = json.loads((dest / "manifest.json").read_text())
        statuses.append({e["path"]: e["status"] for e in doc["files"]}[record.path])
    assert statuses == ["ok", "changed since export"]
