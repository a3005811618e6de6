"""gantry-nifti against dcm2niix: the same synthetic MR study converted by both in one run.

    .venv/bin/python bench/nifti.py                                   # 5 series, 240 slices
    .venv/bin/python bench/nifti.py --series 20 --slices 5000 --rows 128

*gantry*: ``gantry deidentify SRC OUT --format nifti`` on a fresh SQLite working store
(de-identification included: ingest, the Annex E redaction, the export gate, volume assembly,
gzip); *dcm2niix*: the PyPI wheel's
binary, ``dcm2niix -z y -b y`` (gzip and sidecars too, no de-identification; ``-z y`` is
pigz when one is on PATH, else dcm2niix's internal zlib, both at its default level 6). Both
read the same files after a warm-up read. The compressor each uses is printed (gantry's: ISA-L
at level 3 with the ``fast`` extra installed, else zlib-ng at level 6). Printed: wall time,
CPU time (user + system of the whole process tree, workers included), slices/s, peak RSS of
the whole process tree (sampled every 20 ms), the size of the largest series and of the
study, and the speed
ratio gantry / dcm2niix by wall and by CPU time (the target is >= 0.5; on a machine shared
with other work the CPU ratio is the steadier one). Every output volume of gantry is checked
against dcm2niix's (same sform and voxels), unless ``--no-check``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.measure import run


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: pip install 'gantry-nifti[test]'")
    return found


def _check(gantry_out: Path, dcm2niix_out: Path) -> int:
    """Compare every volume gantry wrote with dcm2niix's of the same series number."""
    import nibabel as nib
    import numpy as np

    ours = {p.name.split("_", 1)[0]: p for p in gantry_out.rglob("*.nii.gz")}
    checked = 0
    for number, path in sorted(ours.items()):
        theirs = dcm2niix_out / f"{number}.nii.gz"
        if not theirs.exists():
            raise SystemExit(f"series {number}: dcm2niix wrote no {theirs.name}")
        a, b = nib.load(path), nib.load(theirs)
        if not np.allclose(a.get_sform(), b.get_sform(), atol=1e-4) or \
                not np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)):
            raise SystemExit(f"series {number}: gantry and dcm2niix differ")
        checked += 1
    return checked


def _gantry_gzip() -> str:
    """The compressor gantry-nifti writes ``.nii.gz`` with here."""
    from gantry_nifti.nifti import GZIP_LEVEL, ISAL_LEVEL

    try:
        import isal  # noqa: F401
    except ImportError:
        return f"zlib-ng, level {GZIP_LEVEL}"
    return f"ISA-L, level {ISAL_LEVEL}"


def _measured(argv: list[str], log_path: Path, timeout: float) -> tuple[Any, float]:
    """:func:`run` ``argv``, and the CPU seconds (user + system) of its process tree: what
    this process's waited-for children used meanwhile (a tool waits for its own workers)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    measured = run(argv, log_path=log_path, timeout=timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return measured, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main(argv: list[str] | None = None) -> int:
    """Build the study, run both, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=5)
    parser.add_argument("--slices", type=int, default=240, help="slices in the whole study")
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--no-check", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    from gantry_nifti.synthetic import mr_study

    work = Path(tempfile.mkdtemp(prefix="gantry-bench-nifti-"))
    try:
        src = work / "src"
        per_series = max(1, args.slices // args.series)
        paths = mr_study(src, series=args.series, slices=per_series, rows=args.rows,
                         cols=args.rows)
        sizes: dict[str, int] = {}
        for path in paths:
            sizes[path.parent.name] = sizes.get(path.parent.name, 0) + path.stat().st_size
            path.read_bytes()  # warm the page cache for both tools
        print(f"study: {args.series} series, {len(paths)} slices of {args.rows}x{args.rows}, "
              f"{sum(sizes.values()) / 1e6:.1f} MB; largest series "
              f"{max(sizes.values()) / 1e6:.1f} MB")
        print(f"gzip: gantry {_gantry_gzip()}; dcm2niix "
              f"{'pigz' if shutil.which('pigz') else 'internal zlib'}, level 6")
        secret = work / "secret.key"
        secret.write_text(os.urandom(32).hex())
        secret.chmod(0o600)  # gantry refuses a secret others can read
        gantry_out, ref_out = work / "gantry", work / "dcm2niix"
        ref_out.mkdir()
        gantry, gantry_cpu = _measured(
            [_tool("gantry"), "deidentify", str(src), str(gantry_out), "--format", "nifti",
             "--db", f"sqlite:///{work / 'work.db'}", "--secret-file", str(secret),
             "--workers", str(args.workers)], work / "gantry.log", args.timeout)
        ref, ref_cpu = _measured([_tool("dcm2niix"), "-z", "y", "-b", "y", "-f", "%s", "-o",
                                  str(ref_out), str(src)], work / "dcm2niix.log", args.timeout)
        for name, m in (("gantry", gantry), ("dcm2niix", ref)):
            if m.returncode != 0:
                print(f"{name} failed ({m.returncode}):\n{m.output_tail}")
                return 1
        print(f"{'tool':10} {'seconds':>8} {'CPU s':>7} {'slices/s':>9} {'peak RSS MB':>12}")
        for name, m, cpu in (("gantry", gantry, gantry_cpu), ("dcm2niix", ref, ref_cpu)):
            print(f"{name:10} {m.seconds:8.2f} {cpu:7.2f} {len(paths) / m.seconds:9.0f} "
                  f"{m.peak_rss / 1e6:12.0f}")
        print(f"speed ratio gantry/dcm2niix: {ref.seconds / gantry.seconds:.2f} by wall time, "
              f"{ref_cpu / max(gantry_cpu, 1e-9):.2f} by CPU time "
              f"(target >= 0.5; gantry includes de-identification)")
        if not args.no_check:
            print(f"checked: {_check(gantry_out, ref_out)} volumes equal to dcm2niix's")
        return 0
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
