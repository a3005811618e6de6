"""gantry-reports' per-export work: the manifests, previous implementation against current.

    .venv/bin/python bench/bench_reports.py                          # 2,000 metadata-only
    .venv/bin/python bench/bench_reports.py --corpus ct --instances 500 --repeat 3

A corpus of the bench harness (``bench.harness.corpus``) is de-identified once into a
temporary folder (manifests switched off), then, on the same exported files and the same
export records:

1. **manifests**: ``write_manifests`` of the previous implementation (every file through
   ``dcmread``: ``gantry_reports/manifest.py`` as of commit ``cfe7b89``, read from git) against
   the current
   ``gantry_reports.manifest.write_manifests``, run alternately ``--repeat`` times; best and
   median wall time of each, and the ratio old / new. The three files must be byte-identical
   on every run (checked; a difference fails the run).
2. **per exported instance**: what the plugin's ``gantry_exported`` hook did for every record
   in the parent (spool it: ``json.dumps(dataclasses.asdict(record))`` to a temporary file)
   against what it does now with a working store (nothing).

This is the part of ``gantry deidentify`` that runs serially in the parent after the workers
finish; ``python -m bench.harness.profile_gantry`` shows its share of a whole run
(``reports manifest (parent)``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: The previous implementation: the manifest writer before the per-file fast path.
REFERENCE = "cfe7b89:plugins/gantry-reports/src/gantry_reports/manifest.py"


def load_reference():
    """The previous ``gantry_reports.manifest`` module, read from git history."""
    import subprocess

    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", REFERENCE], check=True,
                                capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"bench_reports needs the git history ({REFERENCE}): {exc}") from None
    spec = importlib.util.spec_from_loader("gantry_reports_manifest_reference", loader=None)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    exec(compile(source, REFERENCE, "exec"), module.__dict__)
    return module


def export(src: Path, work: Path, workers: int) -> tuple[Path, list]:
    """De-identify ``src`` into ``work/out`` without manifests; the export records."""
    from gantry import Session

    profile = work / "no-manifests.yaml"
    profile.write_text("extends: ps3.15/basic\nplugins:\n  gantry-reports:\n"
                       "    manifests: false\n")
    dest = work / "out"
    with Session(store="memory://", profile=str(profile), secret=bytes(range(32)),
                 workers=workers) as session:
        session.ingest(str(src))
        summary = session.export(str(dest))
        if summary.failed:
            raise SystemExit(f"export failed: {summary.errors[:3]}")
        records = list(session.store.iter_exports(str(dest)))
    return dest, records


def time_manifests(dest: Path, records: list, repeat: int) -> dict[str, list[float]]:
    """Alternate old and new ``write_manifests``; check the bytes every time."""
    from gantry_reports import manifest

    old = load_reference()
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeat):
        outputs = {}
        for name, writer in (("old", old.write_manifests), ("new", manifest.write_manifests)):
            start = time.perf_counter()
            paths = writer(str(dest), records, profile="ps3.15/basic")
            times[name].append(time.perf_counter() - start)
            outputs[name] = [(p.name, p.read_bytes()) for p in paths]
        if outputs["old"] != outputs["new"]:
            different = [n for (n, a), (_, b) in zip(outputs["old"], outputs["new"], strict=True)
                         if a != b]
            raise SystemExit(f"manifests differ from the previous implementation: {different}")
    return times


def time_hook(records: list, repeat: int) -> dict[str, list[float]]:
    """The per-instance ``gantry_exported`` work, before and now (a run with a store)."""
    from types import SimpleNamespace

    from gantry_reports import plugin

    run = SimpleNamespace(run_id="bench", store=object())
    times: dict[str, list[float]] = {"old": [], "new": []}
    for _ in range(repeat):
        start = time.perf_counter()
        with tempfile.TemporaryFile("w+", encoding="utf-8") as fh:
            for record in records:  # what spool.add did for every record
                fh.write(json.dumps(dataclasses.asdict(record)) + "\n")
        times["old"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for record in records:
            plugin.gantry_exported(record=record, run=run)
        times["new"].append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from bench.harness import corpus as corpus_mod
    from bench.harness.run import DEFAULT_CACHE

    p = argparse.ArgumentParser(prog="bench/bench_reports.py",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--corpus", choices=corpus_mod.KINDS, default="meta")
    p.add_argument("--instances", type=int, default=2000)
    p.add_argument("--rows", type=int, default=512, help="CT corpus image size")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = p.parse_args(argv)
    corpus = corpus_mod.build(args.corpus, args.instances, args.rows, args.cache,
                              log=lambda m: print(m, file=sys.stderr))
    with tempfile.TemporaryDirectory(prefix="gantry-bench-reports-") as tmp:
        dest, records = export(corpus.root, Path(tmp), args.workers)
        manifests = time_manifests(dest, records, args.repeat)
        hook = time_hook(records, args.repeat)
    print(f"corpus {corpus.label}: {len(records)} exported files; best / median of "
          f"{args.repeat}; manifests byte-identical on every run\n")
    print(f"{'':<34}{'old s':>9}{'new s':>9}{'old/new':>9}   {'(median old, new)':>18}")
    for label, times in (("manifests (write_manifests)", manifests),
                         ("per-instance hook, all records", hook)):
        best_old, best_new = min(times["old"]), min(times["new"])
        ratio = best_old / best_new if best_new else float("inf")
        print(f"{label:<34}{best_old:>9.3f}{best_new:>9.3f}{ratio:>8.1f}x   "
              f"({statistics.median(times['old']):.3f}, {statistics.median(times['new']):.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
