"""``Session.deidentify``: one read per file, the same result as ``ingest`` + ``export``."""

from __future__ import annotations

import shutil
from pathlib import Path

from gantry.session import Session
from gantry.testing.factory import make_instance, write_cohort

SECRET = bytes(range(32))


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith((".", "manifest", "gantry-"))
            and p.suffix == ".dcm"}


def _store_view(session: Session) -> tuple:
    store = session.store
    exports = sorted((r.sop_instance_uid, r.path, r.sha256) for r in store.iter_exports())
    findings = sorted((uid, stage, f.code, f.message) for uid, stage, f in store.iter_findings())
    changes = sorted((uid, c.action, c.tag, c.path, c.detail) for uid, c in store.iter_changes())
    rejected = sorted(r.reason for r in store.iter_rejected())
    return exports, findings, changes, rejected, store.counts()


def _inputs(root: Path) -> Path:
    src = root / "src"
    write_cohort(src, patients=2, series=2, instances=3)
    (src / "not-dicom.dcm").write_bytes(b"hello, not an image")
    (src / "empty.dcm").write_bytes(b"")
    # a second file with an ingested SOP Instance UID and other content: a conflict
    first = sorted(src.rglob("i0001"))[0]
    from pydicom import dcmread

    ds = dcmread(first)
    ds.ImageComments = "another file, same UID"
    ds.save_as(src / "zz-conflict.dcm", enforce_file_format=True)
    shutil.copy(first, src / "zz-duplicate.dcm")
    return src


def test_same_store_and_output_as_ingest_then_export(tmp_path):
    src = _inputs(tmp_path)
    two = Session("memory://", profile="ps3.15/basic", secret=SECRET, workers=2)
    try:
        two_summaries = [two.ingest(src), two.export(tmp_path / "two", audit=True)]
        two_view = _store_view(two)
    finally:
        two.close()
    one = Session("memory://", profile="ps3.15/basic", secret=SECRET, workers=2)
    try:
        one_summaries = one.deidentify(src, tmp_path / "one")
        one_view = _store_view(one)
    finally:
        one.close()
    assert _tree(tmp_path / "one") == _tree(tmp_path / "two")
    assert len(_tree(tmp_path / "one")) == 12
    assert one_view == two_view
    for a, b in zip(one_summaries, two_summaries, strict=True):
        for field in ("stage", "done", "failed", "rejected", "duplicates", "conflicts",
                      "findings", "skipped"):
            assert getattr(a, field) == getattr(b, field), field
    assert one_summaries[0].conflicts + one_summaries[0].duplicates == 2
    assert one_summaries[0].rejected == 2


def test_resumes_instances_ingested_by_an_interrupted_run(tmp_path):
    src = tmp_path / "src"
    write_cohort(src, patients=1, series=2, instances=3)
    db = f"sqlite:///{tmp_path / 'work.db'}"
    first = Session(db, profile="ps3.15/basic", secret=SECRET, workers=1)
    try:
        first.ingest(src)  # then "interrupted" before anything was exported
    finally:
        first.close()
    again = Session(db, profile="ps3.15/basic", secret=SECRET, workers=1)
    try:
        ingest, export = again.deidentify(src, tmp_path / "out")
    finally:
        again.close()
    assert ingest.skipped == 6 and ingest.done == 0
    assert export.done == 6 and export.failed == 0
    assert len(_tree(tmp_path / "out")) == 6


def test_a_failed_instance_is_tried_once(tmp_path, monkeypatch):
    from gantry.builtins.dicom_export import DicomFolderSink
    from gantry.errors import ExportError

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        ds = make_instance(patient=0, study=0, series=0, instance=i, rows=8, cols=8)
        ds.save_as(src / f"i{i}.dcm", enforce_file_format=True)
    calls: list[str] = []
    real_write = DicomFolderSink.write

    def write(self, relpath, data, dataset, context):
        calls.append(context.instance.source)
        if context.instance.source.endswith("i1.dcm"):
            raise ExportError(f"{relpath}: disk full")
        return real_write(self, relpath, data, dataset, context)

    monkeypatch.setattr(DicomFolderSink, "write", write)
    session = Session("memory://", profile="ps3.15/basic", secret=SECRET, workers=1)
    try:
        ingest, export = session.deidentify(src, tmp_path / "out")
    finally:
        session.close()
    assert ingest.done == 3
    assert (export.done, export.failed) == (2, 1)
    assert len(export.errors) == 1 and "disk full" in export.errors[0]
    assert sum(c.endswith("i1.dcm") for c in calls) == 1


def test_prestarted_workers(tmp_path):
    """``prestart=True`` starts the worker pool during the session's set-up; same output."""
    src = tmp_path / "src"
    write_cohort(src, patients=1, series=2, instances=3)
    trees = []
    for prestart in (False, True):
        session = Session("memory://", profile="ps3.15/basic", secret=SECRET, workers=2,
                          prestart=prestart)
        try:
            assert (getattr(session._exec, "_pool", None) is not None) == prestart
            session.deidentify(src, tmp_path / f"out-{prestart}")
        finally:
            session.close()
        trees.append(_tree(tmp_path / f"out-{prestart}"))
    assert trees[0] == trees[1] and len(trees[0]) == 6


def test_forked_and_spawned_workers_write_the_same_bytes(tmp_path, monkeypatch):
    """Workers forked from a set-up parent (what the CLI gets) and spawned ones (what a
    process with other threads gets) give the same files and the same store."""
    import multiprocessing

    from gantry.builtins import local_executor

    src = _inputs(tmp_path)
    results = {}
    for method in ("fork", "spawn"):
        monkeypatch.setattr(local_executor, "start_method", lambda method=method: method)
        session = Session("memory://", profile="ps3.15/basic", secret=SECRET, workers=2,
                          prestart=True)
        try:
            ctx = session._exec._pool._mp_context
            assert isinstance(ctx, type(multiprocessing.get_context(method)))
            session.deidentify(src, tmp_path / f"out-{method}")
            results[method] = (_tree(tmp_path / f"out-{method}"), _store_view(session))
        finally:
            session.close()
    assert results["fork"] == results["spawn"] and len(results["fork"][0]) == 12


def test_workers_can_stop_before_the_stage_observers_run(tmp_path, monkeypatch):
    """``keep_workers=False`` (the CLI's): the pool is gone as soon as the pass is over, before
    the store is read back for what is left and before manifests and reports are written; by
    default it stays for the session's next stage. Work left after all (instances an earlier,
    interrupted run ingested) gets a new pool."""
    src = tmp_path / "src"
    write_cohort(src, patients=1, series=2, instances=3)
    for keep, ingested_before in ((True, False), (False, False), (False, True)):
        session = Session("memory://", profile="ps3.15/basic", secret=SECRET, workers=2,
                          prestart=True)
        seen: dict[str, bool] = {}
        finish = session._finish
        monkeypatch.setattr(session, "_finish", lambda stage, summary, finish=finish,
                            seen=seen, session=session: (
            seen.setdefault(stage, session._exec is not None), finish(stage, summary)))
        try:
            if ingested_before:
                session.ingest(src)
                seen.clear()
            out = tmp_path / f"out-{keep}-{ingested_before}"
            exported = session.deidentify(src, out, keep_workers=keep)[1]
            assert exported.done == 6 and len(list(out.rglob("*.dcm"))) == 6
            assert seen == {"ingest": keep, "export": keep}
        finally:
            session.close()


def test_workers_fork_only_while_no_other_thread_runs():
    """A thread running in the parent (a store's writer, a progress bar) means spawn."""
    import sys
    import threading

    from gantry.builtins.local_executor import _os_threads, start_method

    alone = threading.active_count() == 1 and _os_threads() == 1
    assert start_method() == ("fork" if sys.platform.startswith("linux") and alone else "spawn")
    before = _os_threads()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert start_method() == "spawn"
        if sys.platform.startswith("linux"):  # the kernel counts it too (as it counts the
            assert _os_threads() == before + 1  # threads of native libraries)
    finally:
        stop.set()
        other.join()


def test_the_cli_forks_its_workers(tmp_path):
    """``gantry deidentify`` runs no other thread when its workers start (numpy's BLAS pool
    is one thread there): they are forked on Linux."""
    import subprocess
    import sys

    src = tmp_path / "src"
    write_cohort(src, patients=1, series=2, instances=3)
    probe = (
        "import sys\n"
        "from gantry.builtins import local_executor as le\n"
        "seen = []\n"
        "real = le.start_method\n"
        "le.start_method = lambda: seen.append(real()) or seen[-1]\n"
        "from gantry.cli import main\n"
        "try:\n"
        "    main(sys.argv[1:])\n"
        "finally:\n"
        "    print('start methods:', sorted(set(seen)))\n")
    run = subprocess.run([sys.executable, "-c", probe, "--quiet", "deidentify", str(src),
                          str(tmp_path / "out"), "--workers", "2"],
                         capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "GANTRY_HOME": str(tmp_path / "h"),
                              "GANTRY_SECRET": SECRET.hex()})
    assert run.returncode == 0, run.stderr
    expected = ["fork"] if sys.platform.startswith("linux") else ["spawn"]
    assert f"start methods: {expected}" in run.stdout
    assert len(list((tmp_path / "out").rglob("*.dcm"))) == 6


def test_rerun_after_the_output_was_removed_exports_again(tmp_path: Path, monkeypatch) -> None:
    """The default working store is keyed by DEST: with DEST gone there is nothing to resume,
    and the same command writes every file again (not "already exported")."""
    from click.testing import CliRunner

    from gantry.cli import cli

    monkeypatch.setenv("GANTRY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GANTRY_SECRET", SECRET.hex())
    src = tmp_path / "src"
    write_cohort(src, patients=1, series=1, instances=3)
    dest = tmp_path / "out"
    argv = ["deidentify", str(src), str(dest), "--workers", "1"]
    first = CliRunner().invoke(cli, argv)
    assert first.exit_code == 0, first.output
    written = _tree(dest)
    assert len(written) == 3
    shutil.rmtree(dest)
    again = CliRunner().invoke(cli, argv)
    assert again.exit_code == 0, again.output
    assert _tree(dest) == written
    resumed = CliRunner().invoke(cli, argv)  # DEST kept: the same command resumes, no work
    assert resumed.exit_code == 0, resumed.output
    assert _tree(dest) == written


def test_a_resumed_run_writes_again_the_outputs_removed_since(tmp_path: Path) -> None:
    """Files removed from DEST after a run are written again by the same command (before, a
    resumed run trusted its records when they covered every instance)."""
    src = tmp_path / "src"
    write_cohort(src, patients=1, series=2, instances=3)
    dest = tmp_path / "out"
    with Session(f"sqlite:///{tmp_path / 'w.db'}", workers=1, secret=SECRET) as s:
        s.deidentify(src, dest)
        written = _tree(dest)
        removed = sorted(name for name in written if name.endswith(".dcm"))[:2]
        for name in removed:
            (dest / name).unlink()
        ingested, exported = s.deidentify(src, dest)
        assert ingested.skipped == 6 and exported.done == 2
        assert _tree(dest) == written
        nothing = s.deidentify(src, dest)  # all there: nothing written, nothing read back
        assert nothing[1].done == 0
