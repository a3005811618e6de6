"""Drive a bench run: build corpora, prepare tools, run each (best of N), check, report."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench.harness import corpus as corpus_mod
from bench.harness import report, tools
from bench.harness.measure import run as measure
from bench.harness.verify import check_output
from bench.harness.workspace import SetAside, compile_bytecode, gantry_source_dirs

DEFAULT_CACHE = Path(os.environ.get("GANTRY_BENCH_CACHE", "~/.cache/gantry-bench")).expanduser()


def parser() -> argparse.ArgumentParser:
    """The ``python -m bench`` command line."""
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark `gantry deidentify` against the floors (cp -r, a pydicom "
                    "read+write loop) and the peers, on the same synthetic files in the same "
                    "run; check every output for missing files, unparseable files, changed "
                    "pixels and planted identifiers.")
    p.add_argument("--instances", type=int, default=500,
                   help="instances in the pixel-heavy CT corpus (default 500)")
    p.add_argument("--meta-instances", type=int, default=None,
                   help="instances in the metadata-only corpus (default 4 x --instances)")
    p.add_argument("--rows", type=int, default=512, help="rows = columns of CT images (512)")
    p.add_argument("--corpus", choices=("ct", "meta", "both"), default="both")
    p.add_argument("--repeat", type=int, default=3, help="runs per tool; the best counts (3)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--peers", default=",".join(tools.PEERS),
                   help=f"comma-separated peers, or 'none' (default: {','.join(tools.PEERS)})")
    p.add_argument("--no-floors", action="store_true", help="skip cp -r and the pydicom loops")
    p.add_argument("--no-gantry", action="store_true", help="measure only floors and peers")
    p.add_argument("--no-install", action="store_true",
                   help="use only peers already installed in the cache")
    p.add_argument("--profile", default="ps3.15/basic", help="gantry profile (ps3.15/basic)")
    p.add_argument("--workers", type=int, default=None, help="gantry --workers (default: its own)")
    p.add_argument("--gantry-arg", action="append", default=[], metavar="ARG",
                   help="extra argument for gantry deidentify (repeatable), e.g. "
                        "--gantry-arg=--executor --gantry-arg=dask")
    p.add_argument("--with-dask", action="store_true",
                   help="also run gantry with --executor dask (needs gantry-dask) as 'gantry-dask'")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                   help=f"corpora, peer venvs and outputs (default {DEFAULT_CACHE}; "
                        "env GANTRY_BENCH_CACHE)")
    p.add_argument("--timeout", type=float, default=1800, help="seconds before a run is killed")
    p.add_argument("--keep-output", action="store_true", help="keep tools' outputs after checks")
    p.add_argument("--no-check", action="store_true",
                   help="skip the output checks (for time and memory on large corpora only: "
                        "every result is then reported as unchecked)")
    return p


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _warm(root: Path) -> None:
    """Read every corpus file once so no tool pays for a cold page cache."""
    for path in root.rglob("*"):
        if path.is_file():
            with open(path, "rb") as f:
                while f.read(1 << 20):
                    pass


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; return 0 when gantry ran and passed its checks."""
    args = parser().parse_args(argv)
    if args.repeat < 1:
        parser().error("--repeat must be at least 1")
    peer_names = [] if args.peers.strip() in ("", "none") else \
        [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = [n for n in peer_names if n not in tools.PEERS]
    if unknown:
        parser().error(f"--peers: unknown {', '.join(unknown)} (known: {', '.join(tools.PEERS)})")
    if args.instances < 1 or (args.meta_instances is not None and args.meta_instances < 1):
        parser().error("--instances and --meta-instances must be at least 1")
    cache: Path = args.cache
    cache.mkdir(parents=True, exist_ok=True)
    kinds = ["ct", "meta"] if args.corpus == "both" else [args.corpus]
    sizes = {"ct": args.instances, "meta": args.meta_instances or 4 * args.instances}
    corpora = [corpus_mod.build(k, sizes[k], args.rows, cache, log=_log) for k in kinds]

    lineup: list[tools.Tool] = []
    if not args.no_gantry:
        lineup.append(tools.gantry(args.profile, args.workers, args.gantry_arg,
                                   cache / "work" / "gantry-home"))
        if args.with_dask:
            lineup.append(tools.gantry(args.profile, args.workers,
                                       [*args.gantry_arg, "--executor", "dask"],
                                       cache / "work" / "gantry-dask-home", name="gantry-dask"))
    if not args.no_floors:
        lineup += tools.floors()
    lineup += tools.peers(peer_names, cache, install=not args.no_install, log=_log)
    for tool in lineup:
        if not tool.available:
            _log(f"{tool.name}: unavailable: {tool.error}")

    if not args.no_gantry and not compile_bytecode(gantry_source_dirs()):
        _log("gantry: some modules could not be compiled to bytecode; they compile at each start")
    work = cache / "work"
    aside = SetAside(work / ".set-aside")
    aside.clear()  # a killed run's leftovers
    try:
        results, loads = _measure(args, corpora, lineup, work, aside)
    finally:
        aside.clear()

    print(report.table(results, loads))
    if args.json:
        report.write_json(args.json, report.to_json(results, {
            k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, loads))
        print(f"\nresults written to {args.json}")
    gantry_rows = [r for r in results if r.tool.kind in ("gantry", "variant")]
    return 0 if gantry_rows and all(r.status == "ok" for r in gantry_rows) else 1


def _measure(args: argparse.Namespace, corpora: list, lineup: list[tools.Tool], work: Path,
             aside: SetAside) -> tuple[list[report.Result], dict[str, str]]:
    """Every tool on every corpus, best of ``--repeat``; outputs set aside (see
    :class:`~bench.harness.workspace.SetAside`)."""
    results: list[report.Result] = []
    loads: dict[str, str] = {}
    for corpus in corpora:
        _warm(corpus.root)
        rows = [report.Result(tool, corpus) for tool in lineup]
        results += rows
        for attempt in range(args.repeat):
            for row in rows:
                if not row.tool.available or row.error:
                    continue
                out = work / f"{row.tool.name}-{corpus.label}"
                for stale in (out, *row.tool.scratch):
                    aside.remove(stale)
                out.parent.mkdir(parents=True, exist_ok=True)
                if row.tool.name != "cp":
                    out.mkdir()
                _log(f"[{corpus.label}] {row.tool.name} run {attempt + 1}/{args.repeat} ...")
                assert row.tool.command is not None
                os.sync()  # no tool pays for the write-back of the previous one's output
                m = measure(row.tool.command(corpus.root, out),
                            log_path=work / f"{row.tool.name}-{corpus.label}.log",
                            timeout=args.timeout, env=row.tool.env)
                row.runs.append(m)
                if m.returncode != 0:
                    tail = " ".join(m.output_tail.strip().splitlines()[-3:])[-300:]
                    row.error = (f"exit {m.returncode} after {m.seconds:.1f}s: {tail}"
                                 if m.returncode != -9 else f"timed out after {args.timeout}s")
                    continue
                _log(f"    {m.seconds:.2f}s, peak RSS {m.peak_rss / 1e6:,.0f} MB")
                if not args.no_check and (attempt == args.repeat - 1 or row.check is None):
                    started = time.perf_counter()
                    row.check = check_output(out, expected=corpus.instances, tokens=corpus.tokens,
                                             pixel_digests=corpus.pixel_digests,
                                             jobs=os.cpu_count() or 1)
                    _log(f"    checked in {time.perf_counter() - started:.1f}s: "
                         f"{row.check.verdict()}")
                if attempt == args.repeat - 1 and not args.keep_output:
                    aside.remove(out)
        loads[corpus.label] = report.load_note()

    return results, loads
