"""Profile ``gantry deidentify`` in one process and show where the time goes.

    python -m bench.harness.profile_gantry --corpus meta --instances 2000
    python -m bench.harness.profile_gantry --corpus ct --instances 2000 --save ct.prof

Runs the real command line in-process under cProfile with ``--workers 1`` (the local executor
then runs units inline, so worker-side work is in the same profile), on a corpus built by the
harness. Prints the pipeline phases, the most expensive Gantry functions (cumulative) and the
hottest functions overall (self time). cProfile slows Python code down 2-3x; read the shares,
not the seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import sys
import tempfile
from pathlib import Path

from bench.harness import corpus as corpus_mod
from bench.harness.run import DEFAULT_CACHE

#: (label, function-name suffix as "file.py:function") of the pipeline's phases, when present.
PHASES = (
    ("one-shot pass (ingest + export)", "session.py:deidentify"),
    ("  per file (workers)", "pipeline.py:ingest_and_export"),
    ("    read header + index rows", "pipeline.py:_ingest_item"),
    ("      header (split or dcmread)", "reading.py:read_header"),
    ("      store rows (prepare)", "plugin.py:prepare_header"),
    ("    export (per instance)", "pipeline.py:process_instance"),
    ("      element-memoized pass", "memo.py:process"),
    ("      export gate", "gate.py:find_leaks"),
    ("      sink write", "dicom_export.py:write"),
    ("  record ingest (parent)", "session.py:_record_ingest"),
    ("  record export (parent)", "session.py:_handle_result"),
    ("ingest stage (two-step runs)", "session.py:ingest"),
    ("export stage (two-step runs)", "session.py:export"),
    ("full pipeline fallback: load dataset", "model.py:load"),
    ("reports manifest (parent)", "manifest_hook.py:on_export_finished"),
    ("regex compilation (anywhere)", "__init__.py:_compile"),
    ("pydicom dcmread (anywhere)", "filereader.py:dcmread"),
    ("pydicom dcmwrite (anywhere)", "filewriter.py:dcmwrite"),
)


def _key(entry: tuple[str, int, str]) -> str:
    file, _line, fn = entry
    return f"{os.path.basename(file)}:{fn}"


def report(stats: pstats.Stats, *, top: int = 25, out=sys.stdout) -> None:
    """Print phases, Gantry's most expensive functions and the hottest functions overall."""
    raw = stats.stats  # type: ignore[attr-defined]
    total = max((ct for (_c, _n, _t, ct, _) in raw.values()), default=0.0) or 1.0
    cumulative: dict[str, tuple[float, int]] = {}
    for entry, (_cc, nc, _tt, ct, _callers) in raw.items():
        key = _key(entry)
        old = cumulative.get(key, (0.0, 0))
        cumulative[key] = (max(old[0], ct), old[1] + nc)
    print(f"total profiled: {total:.1f} s (cProfile; read the shares)\n", file=out)
    print(f"{'phase':<34}{'cum s':>9}{'share':>8}{'calls':>10}", file=out)
    for label, suffix in PHASES:
        found = cumulative.get(suffix)
        if found:
            print(f"{label:<34}{found[0]:>9.1f}{100 * found[0] / total:>7.1f}%{found[1]:>10}",
                  file=out)
    rows = []
    for entry, (_cc, nc, tt, ct, _callers) in raw.items():
        file = entry[0]
        rows.append((ct, tt, nc, _key(entry), file))
    print(f"\nGantry functions by cumulative time (top {top})", file=out)
    own = [r for r in rows if "/gantry/" in r[4] or "/plugins/" in r[4]]
    for ct, _tt, nc, key, _file in sorted(own, reverse=True)[:top]:
        print(f"{ct:>9.1f}{100 * ct / total:>7.1f}%{nc:>10}  {key}", file=out)
    print(f"\nhottest functions by self time (top {top})", file=out)
    for _ct, tt, nc, key, file in sorted(rows, key=lambda r: -r[1])[:top]:
        where = "gantry" if ("/gantry/" in file or "/plugins/" in file) else \
            ("pydicom" if "pydicom" in file else ("stdlib/other"))
        print(f"{tt:>9.1f}{100 * tt / total:>7.1f}%{nc:>10}  {key}  [{where}]", file=out)


def main(argv: list[str] | None = None) -> int:
    """Build the corpus, profile one ``gantry deidentify`` run, print the breakdown."""
    p = argparse.ArgumentParser(prog="python -m bench.harness.profile_gantry",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", choices=corpus_mod.KINDS, default="meta")
    p.add_argument("--instances", type=int, default=2000)
    p.add_argument("--rows", type=int, default=512)
    p.add_argument("--profile", default="ps3.15/basic")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    p.add_argument("--save", type=Path, default=None, help="also save the raw cProfile stats")
    p.add_argument("--top", type=int, default=25)
    args = p.parse_args(argv)
    corpus = corpus_mod.build(args.corpus, args.instances, args.rows, args.cache,
                              log=lambda m: print(m, file=sys.stderr))
    from gantry.cli import main as gantry_main

    with tempfile.TemporaryDirectory(prefix="gantry-profile-") as tmp:
        os.environ["GANTRY_HOME"] = str(Path(tmp) / "home")
        os.environ.setdefault("GANTRY_SECRET", bytes(range(32)).hex())
        dest = Path(tmp) / "out"
        argv_gantry = ["deidentify", str(corpus.root), str(dest), "--profile", args.profile,
                       "--workers", "1"]
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            gantry_main(argv_gantry)
        except SystemExit as exc:
            if exc.code not in (0, None):
                print(f"gantry exited with {exc.code}", file=sys.stderr)
        finally:
            profiler.disable()
        written = sum(1 for f in dest.rglob("*") if f.is_file()) if dest.exists() else 0
        shutil.rmtree(dest, ignore_errors=True)
    stats = pstats.Stats(profiler)
    if args.save:
        stats.dump_stats(str(args.save))
    print(f"corpus {corpus.label} ({corpus.nbytes / 1e6:,.0f} MB), {written} files written\n")
    report(stats, top=args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
