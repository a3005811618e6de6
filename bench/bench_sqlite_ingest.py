"""gantry-sqlite's ingest path on headers read from files, split as `gantry deidentify` splits it:
what an ingest worker does (``prepare``: rows, digest and hierarchy values of a header), what
shipping its result costs (pickle + unpickle of header and prepared rows), and what the parent
does (``add_instance`` with the prepared rows, then what `gantry deidentify` records per exported
instance: an export record, 52 changes, 4 findings, the status and two audit events; then a
checkpoint).

    .venv/bin/python bench/bench_sqlite_ingest.py                      # 5,000 instances
    .venv/bin/python bench/bench_sqlite_ingest.py --instances 2000 --no-memo
    .venv/bin/python bench/bench_sqlite_ingest.py --instances 2000 --baseline HEAD~1

``--baseline REV`` also runs gantry-sqlite as committed at ``REV`` (extracted with ``git
archive``, run in a subprocess, rounds alternating with the current code) and prints both
columns and their ratio: before/after in one run, on the same (noisy) machine.

Headers come from ``gantry.testing.factory.make_instance`` (100 instances per series, as in the
bench corpora), written to bytes and read back with ``dcmread(stop_before_pixels=True)`` as
``gantry.reading.read_header`` does, so elements are in pydicom's raw form. ``--no-memo``
switches the rows' memo off (every element decoded in place, as before the memo existed).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

PLUGIN_SRC = "plugins/gantry-sqlite/src"


def corpus(n: int) -> list[bytes]:
    """``n`` encoded instances, 100 per series, 2 series per study, one study per patient."""
    from gantry.testing.factory import make_instance

    blobs = []
    for i in range(n):
        ds = make_instance(patient=i // 200, study=0, series=i // 100 % 2, instance=i % 100)
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        blobs.append(buf.getvalue())
    return blobs


def export_results(n: int) -> tuple[list[Any], list[Any]]:
    """What an export of a metadata-only instance reports under ps3.15/basic: 52 changes and
    4 findings (the same for every instance, as in the bench corpora)."""
    from gantry.records import Change, Finding

    changes = [Change("X", f"({0x0008 + i // 16:04X},{0x1000 + i:04X})", f"Keyword{i}",
                      component="ps315-tags") for i in range(48)]
    changes += [Change("D", "(0010,0010)", "PatientName", detail="pseudonym",
                       component="ps315-tags")] * 2 + [Change("marker", component="ps315")] * 2
    findings = [Finding("applied-changes", "52 change(s)", "info", component="ps315-audit",
                        extra={"count": 52}),
                Finding("unknown-private-tag", "private block (0009,10xx)", "info",
                        tag="(0009,0010)", component="ps315-audit"),
                Finding("unknown-private-tag", "private block (0019,10xx)", "info",
                        tag="(0019,0010)", component="ps315-audit"),
                Finding("verdict", "de-identified by 52 change(s)", "info",
                        component="ps315-audit", extra={"changes": 52, "remaining": 0})]
    return changes, findings


def one_round(blobs: list[bytes], folder: Path, label: str) -> tuple[float, ...]:
    """Microseconds per instance: worker prepare, pickle round trip, parent add_instance (+
    checkpoint), parent export records (+ checkpoint)."""
    from gantry_sqlite.plugin import prepare_header
    from gantry_sqlite.store import SqliteStore, url_for_path
    from pydicom import dcmread

    from gantry.records import AuditEvent, ExportRecord
    from gantry.testing.store_contract import instance_from_header

    headers = [dcmread(io.BytesIO(b), stop_before_pixels=True) for b in blobs]
    instances = [instance_from_header(ds, f"/data/{i}.dcm", len(blobs[i]))
                 for i, ds in enumerate(headers)]
    t0 = time.perf_counter()
    prepared = [prepare_header(ds) for ds in headers]
    t1 = time.perf_counter()
    shipped = pickle.loads(pickle.dumps(list(zip(headers, prepared, strict=True))))
    t2 = time.perf_counter()
    store = SqliteStore(url_for_path(folder / f"{label}.db"))
    t3 = time.perf_counter()
    for inst, (ds, prep) in zip(instances, shipped, strict=True):
        store.add_instance(inst, ds, prepared=prep)
    store.checkpoint()
    t4 = time.perf_counter()
    changes, findings = export_results(len(blobs))
    for i, inst in enumerate(instances):
        uid = inst.sop_instance_uid
        store.log_event(AuditEvent("ingested", f"2.25.{i}", {}, time=time.time()))
        store.record_export(ExportRecord(uid, f"2.25.{i}", "/out", f"o/{i}.dcm", 1000, "f" * 64))
        store.log_event(AuditEvent("exported", f"2.25.{i}", {"sha256": "f" * 64},
                                   time=time.time()))
        store.add_findings(uid, "verify", findings)
        store.add_changes(uid, changes)
        store.set_status(uid, "exported")
    store.checkpoint()
    t5 = time.perf_counter()
    store.close()
    n = len(blobs)
    return tuple((b - a) / n * 1e6 for a, b in ((t0, t1), (t1, t2), (t3, t4), (t4, t5)))


def baseline_source(rev: str, folder: Path) -> Path:
    """gantry-sqlite's sources as committed at ``rev``, extracted under ``folder``."""
    root = Path(__file__).resolve().parent.parent
    data = subprocess.run(["git", "-C", str(root), "archive", rev, PLUGIN_SRC],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder / "baseline", filter="data")
    return folder / "baseline" / PLUGIN_SRC


def baseline_round(src: Path, args: argparse.Namespace, folder: Path, label: str
                   ) -> tuple[float, ...]:
    """One round of the code at ``src``, in a subprocess (its own imports)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(src), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, __file__, "--instances", str(args.instances), "--one-round",
           str(folder / label)] + (["--no-memo"] if args.no_memo else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return tuple(json.loads(out.splitlines()[-1]))


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print medians per instance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-memo", action="store_true", help="decode every element in place")
    parser.add_argument("--dir", default=None, help="Parent folder of the databases' folder")
    parser.add_argument("--baseline", metavar="REV", default=None,
                        help="also run gantry-sqlite as committed at REV, side by side")
    parser.add_argument("--one-round", metavar="DB", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from gantry_sqlite import headers

    if args.no_memo:
        headers.memo_table = lambda: None  # type: ignore[assignment]
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    if args.one_round:
        db = Path(args.one_round)
        print(json.dumps(one_round(corpus(args.instances), db.parent, db.name)))
        return
    folder = Path(tempfile.mkdtemp(prefix="bench-sqlite-ingest-", dir=args.dir))
    blobs = corpus(args.instances)
    src = baseline_source(args.baseline, folder) if args.baseline else None
    results, before = [], []
    for r in range(args.rounds):
        if src is not None:
            before.append(baseline_round(src, args, folder, f"b{r}"))
        results.append(one_round(blobs, folder, f"r{r}"))
    mode = "memo off" if args.no_memo else "memo on"
    print(f"gantry-sqlite ingest: {args.instances:,} headers read from files, {mode}, "
          f"median of {args.rounds} rounds (us per instance)")
    labels = ("worker  prepare (rows, digest, fields)", "ship    pickle + unpickle result",
              "parent  add_instance + checkpoint", "parent  export records + checkpoint",
              "parent  total")
    now = [statistics.median(r[k] for r in results) for k in range(4)]
    now.append(statistics.median(r[2] + r[3] for r in results))
    if src is None:
        for label, value in zip(labels, now, strict=True):
            print(f"  {label:<38}  {value:8.1f}")
    else:
        old = [statistics.median(r[k] for r in before) for k in range(4)]
        old.append(statistics.median(r[2] + r[3] for r in before))
        print(f"  {'':38}  {args.baseline:>10} {'current':>10}  ratio")
        for label, a, b in zip(labels, old, now, strict=True):
            print(f"  {label:<38}  {a:10.1f} {b:10.1f}  {a / b:5.2f}x")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
