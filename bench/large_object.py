"""Peak memory of ``gantry deidentify`` and of a staged ``gantry export`` on one large file.

``python bench/large_object.py [--size MB]`` writes one instance with about ``--size`` MB of
native pixel data (default 64; the issue's case is 210), runs each command in its own process
(one worker, SQLite store) and prints the process's peak resident memory against the file's
size. The pixel data is kept by the profile, so a bounded pass holds about one copy of the
file at most: peak below the file size plus a fixed amount.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

_PEAK = ("import resource, runpy, sys; sys.argv = ['gantry'] + sys.argv[1:]\n"
         "try:\n    runpy.run_module('gantry', run_name='__main__')\n"
         "finally:\n"
         "    sys.stderr.write('peak_kb=%d\\n' % resource.getrusage("
         "resource.RUSAGE_SELF).ru_maxrss)\n")


def peak_of(*args: str) -> int:
    """Peak RSS in bytes of ``gantry ARGS`` run in a fresh process (workers included)."""
    run = subprocess.run([sys.executable, "-c", _PEAK, *args], capture_output=True, text=True)
    if run.returncode not in (0, 3):
        raise SystemExit(f"gantry {' '.join(args)} failed: {run.stderr[-500:]}")
    own = max(int(line.split("=")[1]) for line in run.stderr.splitlines()
              if line.startswith("peak_kb="))
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, 0) * 1024 if own else children * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="pixel data in MB (default 64)")
    size_mb = parser.parse_args(argv).size
    from gantry.testing.hostile import big_pixels

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        path = big_pixels(root / "in" / "big.dcm", size_mb)
        size = path.stat().st_size
        baseline = peak_of("--version")
        rows = [("gantry --version (baseline)", baseline)]
        rows.append(("deidentify", peak_of("deidentify", str(root / "in"), str(root / "out1"),
                                           "--db", f"sqlite:///{root / 'one.db'}",
                                           "--workers", "1")))
        db = f"sqlite:///{root / 'two.db'}"
        peak_of("ingest", str(root / "in"), "--db", db)
        rows.append(("export (staged)", peak_of("export", str(root / "out2"), "--db", db,
                                                "--workers", "1")))
        print(f"file: {size / 1e6:.1f} MB")
        print(f"{'command':<30} {'peak MB':>9} {'x file':>7} {'- baseline, x file':>19}")
        for name, peak in rows:
            print(f"{name:<30} {peak / 1e6:>9.1f} {peak / size:>7.2f} "
                  f"{(peak - baseline) / size:>19.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
