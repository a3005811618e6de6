"""gantry-parquet and the query language at scale, against pyarrow and DuckDB on the same file.

    .venv/bin/python bench/bench_parquet.py                       # 100,000 instances
    .venv/bin/python bench/bench_parquet.py --instances 20000 --repeat 5

1. **Export**: 100,000 redacted-looking headers (``gantry.testing.factory.make_instance``,
   ≈70 top-level elements with sequences and private tags, re-stamped per instance) go through
   the real ``parquet`` sink (flatten → typed batches → staging parts → one unified file).
   Baselines: the same final table written once with ``pyarrow.parquet.write_table`` (no
   flattening at all: the floor), and the loop one writes by hand (every top-level value as
   text, sequences dropped, all rows in memory, ``Table.from_pylist`` + ``write_table``). Peak
   RSS growth is printed to show memory stays flat.
2. **Queries** on the written file: Gantry's ``parse_query → to_duckdb`` run by DuckDB against a
   hand-written DuckDB SQL query, and ``parse_query → to_arrow`` on ``pyarrow.dataset`` against a
   hand-written pyarrow expression; both sides count the same rows (checked). Also the pure
   Python ``to_predicate`` over the rows (what ``Session.query`` uses), against DuckDB.

Ratios are gantry time / baseline time measured in this run (best of ``--repeat``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

QUERIES = [
    ("Modality == 'CT' and SliceThickness < 1.0 and Manufacturer contains 'GE'",
     "Modality = 'CT' AND SliceThickness < 1.0 AND contains(lower(Manufacturer), 'ge')",
     lambda pc: (pc.field("Modality") == "CT") & (pc.field("SliceThickness") < 1.0)
     & pc.match_substring(pc.field("Manufacturer"), "GE", ignore_case=True)),
    ("StudyDate between 2019-06-01 and 2019-12-31",
     "StudyDate BETWEEN DATE '2019-06-01' AND DATE '2019-12-31'",
     None),
    ("SeriesNumber in [1, 3, 5] or BodyPartExamined is null",
     "SeriesNumber IN (1, 3, 5) OR BodyPartExamined IS NULL",
     lambda pc: pc.field("SeriesNumber").isin([1, 3, 5]) | pc.field("BodyPartExamined").is_null()),
]


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def datasets(count: int):
    """Yield ``count`` headers: one template re-stamped with new UIDs and varied values."""
    import datetime as dt

    from gantry.testing.factory import make_instance

    ds = make_instance(patient=1)
    del ds.PixelData
    manufacturers = ["GE MEDICAL SYSTEMS", "SIEMENS", "Philips", "TOSHIBA"]
    base = dt.date(2019, 1, 1)
    for n in range(count):
        ds.PatientID = f"GP-{n // 1000:06d}"
        ds.StudyInstanceUID = f"2.25.1{n // 500:012d}"
        ds.SeriesInstanceUID = f"2.25.2{n // 100:012d}"
        ds.SOPInstanceUID = f"2.25.3{n:012d}"
        ds.Modality = "CT" if n % 3 else "MR"
        ds.Manufacturer = manufacturers[n % 4]
        ds.SeriesNumber = n // 100 % 10 + 1
        ds.InstanceNumber = n % 100 + 1
        ds.SliceThickness = f"{0.5 + (n % 5) * 0.5:.2f}"
        ds.StudyDate = (base + dt.timedelta(days=n // 500 % 365)).strftime("%Y%m%d")
        if n % 7 == 0:
            ds.BodyPartExamined = "CHEST"
        elif "BodyPartExamined" in ds:
            del ds.BodyPartExamined
        yield ds


def best(repeat: int, fn):
    """``(best seconds, last result)`` of ``repeat`` calls."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import duckdb
    import pyarrow.compute as pc
    import pyarrow.dataset as pds
    import pyarrow.parquet as pq
    from gantry_parquet.api import to_arrow, to_duckdb
    from gantry_parquet.sink import ParquetSink

    from gantry.components import ExportTarget
    from gantry.query import header_row, parse_query, to_predicate

    rows_out: list[tuple[str, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "table.parquet"
        run = SimpleNamespace(run_id="bench", profile=SimpleNamespace(name="bench"),
                              settings=lambda section: {})
        context = SimpleNamespace(instance=SimpleNamespace(sop_instance_uid=""))
        rss_before = peak_rss_mb()
        start = time.perf_counter()
        sink = ParquetSink(ExportTarget(str(dest), "parquet", {"batch_size": args.batch_size}),
                           run)
        for ds in datasets(args.instances):
            sink.write("", b"", ds, context)
        sink.close()
        export_s = time.perf_counter() - start
        rss_growth = peak_rss_mb() - rss_before
        table = pq.read_table(dest)
        baseline_s, _ = best(args.repeat, lambda: pq.write_table(table, Path(tmp) / "b.parquet",
                                                                 compression="zstd"))
        rows_out.append((f"export {args.instances:,} headers → parquet (vs write_table only)",
                         export_s, baseline_s))

        def naive() -> None:
            # what one writes by hand: every top-level value as text, all rows in memory
            import pyarrow as pa

            rows = [{e.keyword or str(e.tag): str(e.value) for e in ds if e.VR != "SQ"}
                    for ds in datasets(args.instances)]
            pq.write_table(pa.Table.from_pylist(rows), Path(tmp) / "naive.parquet")

        naive_s, _ = best(1, naive)
        rows_out.append((f"export {args.instances:,} headers → parquet (vs untyped pydicom "
                         "loop + write_table)", export_s, naive_s))
        print(f"table: {table.num_rows:,} rows x {table.num_columns} columns, "
              f"{dest.stat().st_size / 1e6:.1f} MB; peak RSS grew {rss_growth:.0f} MB during "
              f"the export (batch size {args.batch_size})")

        con = duckdb.connect()
        path = str(dest)
        dataset = pds.dataset(dest)
        for text, sql, arrow_expr in QUERIES:
            def gantry_duckdb(text=text):
                where, params = to_duckdb(parse_query(text))
                return con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {where}",
                                   [path, *params]).fetchall()[0][0]

            def plain_duckdb(sql=sql):
                return con.execute(f"SELECT count(*) FROM read_parquet(?) WHERE {sql}",
                                   [path]).fetchall()[0][0]

            g_s, g_n = best(args.repeat, gantry_duckdb)
            b_s, b_n = best(args.repeat, plain_duckdb)
            assert g_n == b_n, (text, g_n, b_n)
            rows_out.append((f"DuckDB  {text} [{g_n:,} rows]", g_s, b_s))
            if arrow_expr is None:
                import datetime as dt

                def arrow_expr(pc, lo=dt.date(2019, 6, 1), hi=dt.date(2019, 12, 31)):
                    return (pc.field("StudyDate") >= lo) & (pc.field("StudyDate") <= hi)

            def gantry_arrow(text=text):
                return dataset.count_rows(filter=to_arrow(parse_query(text)))

            def plain_arrow(expr=arrow_expr):
                return dataset.count_rows(filter=expr(pc))

            g_s, g_n = best(args.repeat, gantry_arrow)
            b_s, b_n = best(args.repeat, plain_arrow)
            assert g_n == b_n, (text, g_n, b_n)
            rows_out.append((f"Arrow   {text} [{g_n:,} rows]", g_s, b_s))

        # Session.query's path: the pure-Python predicate over header rows
        text, sql, _ = QUERIES[0]
        sample = min(args.instances, 20_000)
        header_rows = [header_row(ds) for ds in datasets(sample)]
        predicate = to_predicate(parse_query(text))
        g_s, g_n = best(args.repeat, lambda: sum(1 for r in header_rows if predicate(r)))
        sample_table = __import__("gantry_parquet.batches", fromlist=["x"]).rows_to_table(
            header_rows)
        con.register("sample", sample_table)
        b_s, b_n = best(args.repeat, lambda: con.execute(
            f"SELECT count(*) FROM sample WHERE {sql}").fetchall()[0][0])
        assert g_n == b_n, (g_n, b_n)
        rows_out.append((f"Python predicate over {sample:,} rows (vs DuckDB in memory)",
                         g_s, b_s))

    width = max(len(r[0]) for r in rows_out)
    print(f"\n{'step'.ljust(width)}  {'gantry s':>9}  {'baseline s':>10}  {'ratio':>6}")
    for name, g, b in rows_out:
        print(f"{name.ljust(width)}  {g:9.3f}  {b:10.3f}  {g / b:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
