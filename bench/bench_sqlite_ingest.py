"""gantry-sqlite's ingest path on headers read from files, split as `gantry deidentify` splits it:
what an ingest worker does (``prepare``: rows, digest and hierarchy values of a header), what
shipping its result costs (pickle + unpickle of header and prepared rows), and what the parent
does (``add_instance`` with the prepared rows, then a checkpoint).

    .venv/bin/python bench/bench_sqlite_ingest.py                      # 5,000 instances
    .venv/bin/python bench/bench_sqlite_ingest.py --instances 2000 --no-memo

Headers come from ``gantry.testing.factory.make_instance`` (100 instances per series, as in the
bench corpora), written to bytes and read back with ``dcmread(stop_before_pixels=True)`` as
``gantry.reading.read_header`` does, so elements are in pydicom's raw form. ``--no-memo``
switches the rows' memo off (every element decoded in place, as before the memo existed).
"""

from __future__ import annotations

import argparse
import io
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path


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


def one_round(blobs: list[bytes], folder: Path, label: str) -> tuple[float, float, float]:
    """Microseconds per instance: worker prepare, pickle round trip, parent add_instance."""
    from gantry_sqlite.plugin import prepare_header
    from gantry_sqlite.store import SqliteStore, url_for_path
    from pydicom import dcmread

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
    store.close()
    n = len(blobs)
    return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6, (t4 - t3) / n * 1e6


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print medians per instance."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-memo", action="store_true", help="decode every element in place")
    parser.add_argument("--dir", default=None, help="Parent folder of the databases' folder")
    args = parser.parse_args(argv)

    from gantry_sqlite import headers

    if args.no_memo:
        headers.memo_table = lambda: None  # type: ignore[assignment]
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-sqlite-ingest-", dir=args.dir))
    blobs = corpus(args.instances)
    results = [one_round(blobs, folder, f"r{r}") for r in range(args.rounds)]
    prep, ship, parent = (statistics.median(r[k] for r in results) for k in range(3))
    mode = "memo off" if args.no_memo else "memo on"
    print(f"gantry-sqlite ingest: {args.instances:,} headers read from files, {mode}, "
          f"median of {args.rounds} rounds (us per instance)")
    print(f"  worker  prepare (rows, digest, fields)  {prep:8.1f}")
    print(f"  ship    pickle + unpickle result        {ship:8.1f}")
    print(f"  parent  add_instance + checkpoint       {parent:8.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
