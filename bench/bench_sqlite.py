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
    t0 = time.perf_counter()
    for u in sample:
        assert store.get_instance(u) is not None
    t1 = time.perf_counter()
    for u in sample[: count // 4]:
        assert store.get_header(u) is not None
    t2 = time.perf_counter()
    return (t1 - t0) / count * 1e6, (t2 - t1) / (count // 4) * 1e6


def interleaved(small, big, n_small: int, n_big: int, count: int, rounds: int
                ) -> tuple[tuple[float, float], tuple[float, float]]:
    """Median lookup times of both stores, measured in alternating rounds so that load on the
    machine during the run hits both alike."""
    import statistics

    a: list[tuple[float, float]] = []
    b: list[tuple[float, float]] = []
    lookups(small, 200, n_small, 0)  # warm both
    lookups(big, 200, n_big, 0)
    for r in range(rounds):
        a.append(lookups(small, count, n_small, 10 + r))
        b.append(lookups(big, count, n_big, 100 + r))

    def med(xs: list[tuple[float, float]]) -> tuple[float, float]:
        return statistics.median(x[0] for x in xs), statistics.median(x[1] for x in xs)

    return med(a), med(b)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", default=None, help="Where to put the databases (default: tmp)")
    args = parser.parse_args(argv)

    from gantry_sqlite.store import SqliteStore, url_for_path

    folder = Path(args.dir or tempfile.mkdtemp(prefix="bench-sqlite-"))
    folder.mkdir(parents=True, exist_ok=True)
    for f in [*folder.glob("small*"), *folder.glob("big*")]:
        f.unlink()
    base_rss = current_rss_mb()
    gen_n = min(args.small, 5000)
    per_gen = generate_only(0, gen_n) / gen_n

    big = SqliteStore(url_for_path(folder / "big.db"))
    t_index = index(big, 0, args.instances)
    peak_index = rss_mb()
    t0 = time.perf_counter()
    n = sum(1 for _ in big.iter_instances())
    t_iter = time.perf_counter() - t0
    assert n == args.instances
    small = SqliteStore(url_for_path(folder / "small.db"))
    index(small, 0, args.small)
    at_small, at_big = interleaved(small, big, args.small, args.instances, args.lookups,
                                   args.rounds)
    peak = rss_mb()
    small.close()
    big.close()
    size = sum(f.stat().st_size for f in folder.glob("big*"))

    print(f"gantry-sqlite bench: {args.instances:,} instances in {folder / 'big.db'}")
    print(f"  index          {t_index:8.1f} s  {args.instances / t_index:8.0f} instances/s  "
          f"({t_index / args.instances / per_gen:.1f}x the time to build the headers' rows)")
    print(f"  iterate all    {t_iter:8.1f} s  {n / t_iter:8.0f} instances/s")
    print(f"  database size  {size / 2**20:8.0f} MB  ({size / args.instances / 1024:.1f} KiB "
          "per instance)")
    print(f"  peak RSS       {peak_index:8.0f} MB  after indexing {args.instances:,} "
          f"(process before: {base_rss:.0f} MB; target < 300 MB); {peak:.0f} MB at the end")
    print(f"  lookup by UID (median of {args.rounds} interleaved rounds of {args.lookups}):")
    print(f"    get_instance {at_small[0]:8.1f} us at {args.small:,} | {at_big[0]:8.1f} us at "
          f"{args.instances:,} | ratio {at_big[0] / at_small[0]:.2f}")
    print(f"    get_header   {at_small[1]:8.1f} us at {args.small:,} | {at_big[1]:8.1f} us at "
          f"{args.instances:,} | ratio {at_big[1] / at_small[1]:.2f}")


if __name__ == "__main__":
    main()
