"""Time per sequence item of ``gantry deidentify`` on one file with a long sequence.

``python bench/long_sequences.py [--size 1000 --size 10000 ...]`` writes, for each size, a
file whose ReferencedImageSequence has that many items (each a UID the identifier set
collects and every value is matched against), de-identifies it in-process (one worker, the
memory store) and prints the seconds per item. Linear work shows a flat column; the UID
matching was quadratic before (one ``str.find`` per UID per value). Defaults are small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def run(items: int, root: Path) -> float:
    """Seconds to de-identify one file of ``items`` sequence items."""
    from gantry.session import Session
    from gantry.testing.hostile import long_sequence

    src = root / f"in-{items}"
    src.mkdir()
    (src / "long.dcm").write_bytes(long_sequence(items))
    started = time.perf_counter()
    with Session("memory://", workers=1, secret=bytes(range(32))) as session:
        ingest, export = session.deidentify(src, root / f"out-{items}")
    seconds = time.perf_counter() - started
    if export.done != 1:
        raise SystemExit(f"{items} items: not exported ({ingest.errors or export.errors})")
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append",
                        help="items in the sequence (repeat; default 1000 and 4000)")
    sizes = parser.parse_args(argv).size or [1000, 4000]
    with tempfile.TemporaryDirectory() as tmp:
        run(10, Path(tmp))  # warm-up: imports, compiled patterns
        print(f"{'items':>8} {'seconds':>9} {'us/item':>9}")
        for items in sizes:
            seconds = run(items, Path(tmp))
            print(f"{items:>8} {seconds:>9.2f} {seconds / items * 1e6:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
