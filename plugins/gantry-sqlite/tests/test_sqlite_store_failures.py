"""A store in use is refused; a full disk stops the run with one line and a resumable state."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from gantry_sqlite.store import SqliteStore

from gantry.testing.factory import write_cohort


def _gantry(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gantry", *args], capture_output=True,
                          text=True, timeout=300)


def test_a_second_run_on_a_store_in_use_is_refused(tmp_path):
    src = write_cohort(tmp_path / "in", patients=1, series=1, instances=2).root
    db = f"sqlite:///{tmp_path / 'store.db'}"
    store = SqliteStore(db)
    try:
        with store.run_lock():
            busy = _gantry("ingest", str(src), "--db", db)
    finally:
        store.close()
    assert busy.returncode == 1
    lines = busy.stderr.strip().splitlines()
    assert len(lines) == 1 and "in use by another gantry run (pid " in lines[0], busy.stderr
    free = _gantry("ingest", str(src), "--db", db)
    assert free.returncode == 0, free.stderr
    assert "ingest: 2 done" in free.stderr


def _open_and_close(url: str) -> str:
    try:
        SqliteStore(url).close()
    except Exception as exc:  # (the test reports what each process met)
        return repr(exc)
    return "ok"


@pytest.mark.slow
def test_processes_opening_one_new_store_at_once_all_open_it(tmp_path):
    # the second of two runs started together once met "database is locked" (switching the
    # new database to WAL) or a pixel sidecar shorter than its header (being written)
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        for attempt in range(12):
            url = f"sqlite:///{tmp_path / f'store-{attempt}.db'}"
            assert pool.map(_open_and_close, [url] * 6) == ["ok"] * 6


@pytest.mark.slow
def test_two_runs_at_once_on_one_store(tmp_path):
    src = write_cohort(tmp_path / "in", patients=2, series=2, instances=15).root
    db = f"sqlite:///{tmp_path / 'store.db'}"
    runs = [subprocess.Popen([sys.executable, "-m", "gantry", "deidentify", str(src),
                              str(tmp_path / "out"), "--db", db, "--workers", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]  # type: ignore[union-attr]
    for run in runs:
        run.stderr.close()  # type: ignore[union-attr]
        run.stdout.close()  # type: ignore[union-attr]
    refused = [err for code, err in results if code == 1 and "in use by another" in err]
    done = [err for code, err in results if code == 0]
    assert len(refused) + len(done) == 2, results
    assert any("ingest: 60 done" in err for err in done), results
    assert not any("duplicates" in err for _, err in results), results
    store = SqliteStore(db)
    try:
        counts = store.counts()
        assert counts.instances == 60
        uids = store.exported_uids(str(tmp_path / "out"))
        assert len(uids) == 60 and {store.get_status(uid) for uid in uids} == {"exported"}
    finally:
        store.close()


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MB tmpfs mounted for the test (root only), grown with ``remount(size)``."""
    mount = tmp_path / f"disk-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {made.stderr.strip()}")

    def remount(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    try:
        yield mount, remount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_a_full_disk_stops_the_run_with_one_line_and_resumes(tmp_path, small_disk):
    mount, remount = small_disk
    src = write_cohort(tmp_path / "in", patients=4, series=4, instances=25).root
    db = f"sqlite:///{mount / 'store.db'}"
    out = tmp_path / "out"
    full = _gantry("deidentify", str(src), str(out), "--db", db, "--workers", "1")
    assert full.returncode == 1
    lines = full.stderr.strip().splitlines()
    assert lines[-1].startswith("gantry: error: ") and "database or disk is full" in lines[-1]
    assert "Traceback" not in full.stderr
    assert "run the same command again to resume" in lines[-1]
    remount("64m")
    again = _gantry("deidentify", str(src), str(out), "--db", db, "--workers", "1")
    assert again.returncode == 0, again.stderr
    store = SqliteStore(db)
    try:
        assert store.counts().instances == 400
        uids = store.exported_uids(str(out))
        assert len(uids) == 400
        assert {store.get_status(uid) for uid in uids} == {"exported"}
    finally:
        store.close()
    written = [p for p in Path(out).rglob("*") if p.is_file() and "manifest" not in p.name]
    assert len(written) == 400


def test_a_status_left_behind_by_a_kill_is_corrected_on_rerun(tmp_path):
    from gantry.session import Session

    src = write_cohort(tmp_path / "in", patients=1, series=2, instances=3).root
    db = f"sqlite:///{tmp_path / 'store.db'}"
    out = tmp_path / "out"
    with Session(db, workers=1, secret=bytes(range(32))) as session:
        session.ingest(src)
        session.export(out)
        uid = next(iter(session.store.exported_uids(str(out))))
        # a kill between the export record and the status write leaves exactly this
        session.store.set_status(uid, "ingested")
    with Session(db, workers=1, secret=bytes(range(32))) as session:
        again = session.export(out)
        assert again.skipped == 6 and again.done == 0
        assert session.store.get_status(uid) == "exported"
        assert {session.store.get_status(u) for u in session.store.exported_uids(str(out))} \
            == {"exported"}


@pytest.mark.slow
def test_kill_during_a_staged_export_then_rerun(tmp_path):
    import os
    import signal
    import time

    src = write_cohort(tmp_path / "in", patients=3, series=3, instances=20).root
    db = f"sqlite:///{tmp_path / 'store.db'}"
    out = tmp_path / "out"
    assert _gantry("ingest", str(src), "--db", db).returncode == 0
    run = subprocess.Popen([sys.executable, "-m", "gantry", "export", str(out), "--db", db,
                            "--workers", "1"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and run.poll() is None:
        if out.exists() and sum(1 for p in out.rglob("*") if p.is_file()) >= 20:
            break
        time.sleep(0.05)
    if run.poll() is None:
        os.kill(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    again = _gantry("export", str(out), "--db", db, "--workers", "1")
    assert again.returncode == 0, again.stderr
    store = SqliteStore(db)
    try:
        uids = store.exported_uids(str(out))
        assert len(uids) == store.counts().instances == 180
        assert {store.get_status(uid) for uid in uids} == {"exported"}
    finally:
        store.close()
