"""gantry-sqlite at scale: index 100,000 synthetic headers, report peak memory, and compare
lookup-by-UID time at 10,000 and at 100,000 instances (same run, same database).

    .venv/bin/python bench/bench_sqlite.py                 # 100,000 instances
    .venv/bin/python bench/bench_sqlite.py --instances 20000 --small 2000

Headers come from ``gantry.testing.factory.make_instance`` (≈110 elements with private tags and
nested sequences), re-stamped with new UIDs per instance in process: no files are written, so
the figures are the store's own cost.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from pathlib import Path


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform != "darwin" else peak / (1024 * 1024)


def current_rss_mb() -> float:
    """Current resident set size, in MB (Linux /proc; falls back to the peak)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        import os

        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except OSError:
        return rss_mb()


def headers(start: int, stop: int):
    """Yield ``(instance, header)`` for instances ``start..stop-1`` (one template, new UIDs)."""
    from gantry.testing.factory import make_instance
    from gantry.testing.store_contract import instance_from_header

    ds = make_instance(patient=1)
    del ds.PixelData
    for n in range(start, stop):
        patient, study, series = n // 1000, n // 500, n // 100
        ds.PatientID = f"PID{patient:06d}"
        ds.StudyInstanceUID = f"2.25.1{study:012d}"
        ds.SeriesInstanceUID = f"2.25.2{series:012d}"
        ds.SOPInstanceUID = uid(n)
        ds.InstanceNumber = n % 100 + 1
        ds.SliceThickness = f"{1 + (n % 5) * 0.5:.2f}"
        yield instance_from_header(ds, f"/data/cohort/{series}/{n}.dcm", 50_000 + n % 97), ds


def uid(n: int) -> str:
    """The SOP Instance UID of synthetic instance ``n``."""
    return f"2.25.3{n:012d}"


def index(store, start: int, stop: int) -> float:
    """Add instances ``start..stop-1``; return seconds."""
    t0 = time.perf_counter()
    for inst, ds in headers(start, stop):
        store.add_instance(inst, ds)
    store.checkpoint()
    return time.perf_counter() - t0


def generate_only(start: int, stop: int) -> float:
    """Seconds to build the same headers and their rows without storing them (the baseline)."""
    from gantry_sqlite.headers import header_rows

    t0 = time.perf_counter()
    for _inst, ds in headers(start, stop):
        header_rows(ds)
    return time.perf_counter() - t0


def lookups(store, count: int, population: int, seed: int) -> tuple[float, float]:
    """Mean microseconds of ``get_instance`` and ``get_header`` over random UIDs."""
    rng = random.Random(seed)
    sample = [uid(rng.randrange(population)) for _ in range(count)]
    store.get_instance(sample[0])  # warm
    t0 = time.perf_counter()
    for u in sample:
        assert store.get_instance(u) is not None
    t1 = time.perf_counter()
    for u in sample[: count // 4]:
        assert store.get_header(u) is not None
    t2 = time.perf_counter()
    return (t1 - t0) / count * 1e6, (t2 - t1) / (count // 4) * 1e6


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=4000)
    parser.add_argument("--dir", default=None, help="Where to put the database (default: tmp)")
    args = parser.parse_args(argv)

    from gantry_sqlite.store import SqliteStore, url_for_path

    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench-sqlite-"))
    db = folder / "bench.db"
    for f in folder.glob("bench*"):
        f.unlink()
    base_rss = current_rss_mb()
    base_gen = generate_only(0, min(args.small, 5000))
    per_gen = base_gen / min(args.small, 5000)

    store = SqliteStore(url_for_path(db))
    t_small = index(store, 0, args.small)
    small = lookups(store, args.lookups, args.small, 1)
    t_rest = index(store, args.small, args.instances)
    big = lookups(store, args.lookups, args.instances, 2)
    t0 = time.perf_counter()
    n = sum(1 for _ in store.iter_instances())
    t_iter = time.perf_counter() - t0
    assert n == args.instances
    peak = rss_mb()
    store.close()
    size = sum(f.stat().st_size for f in folder.glob("bench*"))

    total = t_small + t_rest
    print(f"gantry-sqlite bench: {args.instances:,} instances, database {db}")
    print(f"  index          {total:8.1f} s  {args.instances / total:8.0f} instances/s  "
          f"({total / args.instances / per_gen:.1f}x building the headers' rows alone)")
    print(f"  iterate all    {t_iter:8.1f} s  {n / t_iter:8.0f} instances/s")
    print(f"  database size  {size / 2**20:8.0f} MB  ({size / args.instances / 1024:.1f} KiB "
          "per instance)")
    print(f"  peak RSS       {peak:8.0f} MB  (process before indexing: {base_rss:.0f} MB; "
          "target < 300 MB)")
    print(f"  lookup by UID  get_instance {small[0]:7.1f} us at {args.small:,} | "
          f"{big[0]:7.1f} us at {args.instances:,} | ratio {big[0] / small[0]:.2f}")
    print(f"                 get_header   {small[1]:7.1f} us at {args.small:,} | "
          f"{big[1]:7.1f} us at {args.instances:,} | ratio {big[1] / small[1]:.2f}")


if __name__ == "__main__":
    main()
