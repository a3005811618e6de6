"""Time per member of ``gantry deidentify`` on one zip archive of many members.

``python bench/zip_members.py [--size 1000 --size 20000 ...]`` writes, for each size, a zip
of that many small instances, de-identifies it in-process (one worker, the memory store) and
prints the seconds per member beside the same files as a folder. Reopening the archive per
member made this quadratic (1,000 members 3.3 s, 4,000 36.9 s); it is opened once per
process now. Defaults are small.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path


def run(src: Path, out: Path) -> float:
    """Seconds to de-identify ``src``."""
    from gantry.session import Session

    started = time.perf_counter()
    with Session("memory://", workers=1, secret=bytes(range(32))) as session:
        session.deidentify(src, out)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append",
                        help="members in the archive (repeat; default 500 and 2000)")
    sizes = parser.parse_args(argv).size or [500, 2000]
    from gantry.testing.hostile import valid_file, zip_of

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        print(f"{'members':>8} {'zip s':>8} {'ms/member':>10} {'folder s':>9} {'ms/file':>8}")
        for n in sizes:
            files = [(f"m{i:06d}.dcm", valid_file(patient=i % 7, instance=i)) for i in range(n)]
            (root / f"z{n}").mkdir()
            (root / f"z{n}" / "all.zip").write_bytes(zip_of(files))
            folder = root / f"f{n}"
            folder.mkdir()
            for name, data in files:
                (folder / name).write_bytes(data)
            zipped = run(root / f"z{n}", root / f"zo{n}")
            plain = run(folder, root / f"fo{n}")
            print(f"{n:>8} {zipped:>8.2f} {zipped / n * 1e3:>10.2f} {plain:>9.2f} "
                  f"{plain / n * 1e3:>8.2f}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
