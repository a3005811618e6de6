"""Resume after SIGKILL: a real ``gantry`` process killed mid-ingest and mid-export, then the
same command run again, ends with every instance exactly once and no half-written output."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydicom import dcmread

from gantry.testing.factory import write_cohort

pytestmark = [pytest.mark.component, pytest.mark.slow]

TOTAL = 60

SLOW_HOOKS = '''
import time
from gantry import hookimpl

@hookimpl
def gantry_instance_ingested(instance, run):
    time.sleep(0.05)

@hookimpl
def gantry_exported(record, run):
    time.sleep(0.08)
'''


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    src = tmp_path / "src"
    write_cohort(src, patients=3, series=2, instances=TOTAL // 6)
    hooks = tmp_path / "slow_hooks.py"
    hooks.write_text(SLOW_HOOKS)
    profile = tmp_path / "slow.yaml"
    profile.write_text(f"extends: ps3.15/basic\nlocal_hooks: [{hooks}]\n")
    return {"src": src, "profile": profile, "db": tmp_path / "work" / "cohort.db",
            "out": tmp_path / "out"}


def _gantry(*args: str) -> list[str]:
    return [sys.executable, "-m", "gantry", "--quiet", *args]


def _count(db: Path, sql: str) -> int:
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(sql).fetchone()[0]
        finally:
            conn.close()
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def _run_and_kill(cmd: list[str], db: Path, sql: str, *, timeout: float = 60) -> int:
    """Start ``cmd``, SIGKILL it as soon as ``sql`` counts at least one row; return that count."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"finished before it could be killed: {out!r} {err!r}")
            n = _count(db, sql)
            if n:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
                assert proc.returncode == -signal.SIGKILL
                return n
            time.sleep(0.02)
        raise AssertionError("nothing committed before the timeout")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _finish(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return done


def test_ingest_killed_then_rerun_indexes_every_instance_once(setup: dict[str, Path]) -> None:
    db_url = f"sqlite:///{setup['db']}"
    cmd = _gantry("ingest", str(setup["src"]), "--db", db_url, "--profile", str(setup["profile"]))
    committed = _run_and_kill(cmd, setup["db"], "SELECT COUNT(*) FROM instances")
    assert 0 < committed < TOTAL
    assert _count(setup["db"], "SELECT COUNT(*) FROM sources") == committed
    _finish(cmd)
    db = setup["db"]
    assert _count(db, "SELECT COUNT(*) FROM instances") == TOTAL
    assert _count(db, "SELECT COUNT(DISTINCT sop_instance_uid) FROM instances") == TOTAL
    assert _count(db, "SELECT COUNT(*) FROM sources") == TOTAL
    assert _count(db, "SELECT COUNT(*) FROM conflicts") == 0
    assert _count(db, "SELECT COUNT(*) FROM rejected") == 0
    # every instance has its full header, not a partial one
    assert _count(db, "SELECT COUNT(*) FROM instances i WHERE NOT EXISTS (SELECT 1 FROM "
                      "elements e WHERE e.instance_id = i.id AND e.tag = '00100010')") == 0
    # the audit log is written ahead of the data: no committed instance lacks its event
    # (an event repeats only for work the kill lost and the rerun redid)
    assert _count(db, "SELECT COUNT(DISTINCT subject) FROM events WHERE kind = 'ingested'") \
        == TOTAL


def test_export_killed_then_rerun_writes_every_instance_once(setup: dict[str, Path]) -> None:
    """A 4-worker export, killed, then rerun: every instance once, no lock errors."""
    db_url = f"sqlite:///{setup['db']}"
    prof = ("--profile", str(setup["profile"]))
    _finish(_gantry("ingest", str(setup["src"]), "--db", db_url, *prof))
    cmd = _gantry("export", str(setup["out"]), "--db", db_url, "--workers", "4", *prof)
    committed = _run_and_kill(cmd, setup["db"], "SELECT COUNT(*) FROM exports")
    assert 0 < committed < TOTAL
    _finish(cmd)
    db = setup["db"]
    assert _count(db, "SELECT COUNT(*) FROM exports") == TOTAL
    assert _count(db, "SELECT COUNT(DISTINCT sop_instance_uid) FROM exports") == TOTAL
    assert _count(db, "SELECT COUNT(DISTINCT new_sop_instance_uid) FROM exports") == TOTAL
    files = sorted(p for p in setup["out"].rglob("*") if p.is_file())
    leftovers = [p for p in files if p.suffix == ".part" or p.name.startswith(".gantry-")]
    assert leftovers == [], f"half-written outputs left behind: {leftovers}"
    dicom = [p for p in files if p.suffix == ".dcm"]
    assert len(dicom) == TOTAL
    conn = sqlite3.connect(f"file:{setup['db']}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT new_sop_instance_uid, path, sha256 FROM exports").fetchall()
    finally:
        conn.close()
    for new_uid, path, sha in rows:
        target = Path(path) if Path(path).is_absolute() else setup["out"] / path
        data = target.read_bytes()
        assert hashlib.sha256(data).hexdigest() == sha, target
        assert dcmread(target).SOPInstanceUID == new_uid
