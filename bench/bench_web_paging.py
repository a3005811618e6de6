"""Paging in ``gantry web`` over one large series: a page against a scan of the series.

Fills a SQLite store (or, with ``--store memory``, the built-in memory store) with ``--size``
instances of one series (headers only, written straight to
the store), then, through the console (no HTTP), times the first page of the series (which
builds its list of keys), a middle page and the last page, against the baseline of the same
run: one ``iter_instances(series_instance_uid=...)`` scan of the whole series. Ratios below 1
mean a page costs less than reading the series once::

    .venv/bin/python bench/bench_web_paging.py [--size 2000]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def fill(url: str, size: int, root: Path) -> None:
    """``size`` instances of one series, added to the store directly."""
    from gantry import Session

    with Session(url, workers=1) as session:
        _fill_store(session, size, root)


def _fill_store(session: object, size: int, root: Path) -> None:
    from gantry.testing.factory import make_instance
    from gantry.testing.store_contract import instance_from_header

    store = session.store  # type: ignore[attr-defined]
    for n in range(size):
        ds = make_instance(patient=0, series=0, instance=n)
        store.add_instance(instance_from_header(ds, str(root / f"i{n}")), ds)


def measure(size: int, store: str = "sqlite") -> dict[str, float]:
    """Seconds of the baseline scan and of three pages, and their ratios."""
    from gantry import Session

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "gantry-web"
                           / "src"))
    from gantry_web.console import PAGE_SIZE, Console

    os.environ.setdefault("GANTRY_SECRET", bytes(range(32)).hex())
    with tempfile.TemporaryDirectory(prefix="gantry-web-paging-") as tmp:
        root = Path(tmp)
        os.environ["GANTRY_HOME"] = str(root / "home")
        url = f"sqlite:///{root / 'big.db'}" if store == "sqlite" else "memory://"
        session = Session(url, workers=1)
        if store == "sqlite":
            fill(url, size, root)
        else:  # the memory store lives in this session: fill it there
            _fill_store(session, size, root)
        with session:
            console = Console(session)
            series_uid = next(session.store.iter_series()).series_instance_uid
            handle = console.handles.of("series", series_uid)
            started = time.perf_counter()
            scanned = sum(1 for _ in session.store.iter_instances(
                series_instance_uid=series_uid))
            baseline = time.perf_counter() - started
            assert scanned == size
            pages = max(1, -(-size // PAGE_SIZE))
            out = {"instances": float(size), "baseline_scan_s": baseline}
            for label, page in (("first", 1), ("middle", pages // 2 or 1), ("last", pages)):
                started = time.perf_counter()
                _, listing = console.instances(handle, page)
                out[f"{label}_page_s"] = time.perf_counter() - started
                assert listing.page == page and listing.rows
            for label in ("first", "middle", "last"):
                out[f"{label}_page_ratio"] = out[f"{label}_page_s"] / baseline
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    args = parser.parse_args(argv)
    for key, value in measure(args.size, args.store).items():
        print(f"{key}: {value:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
