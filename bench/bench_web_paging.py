"""Paging in ``gantry web`` over one large series: a console page against the store's own read.

Fills a SQLite store (or, with ``--store memory``, the built-in memory store) with ``--size``
instances of one series (headers only, added through the store API in one buffered batch —
no file is de-identified), then, through the console (no HTTP), times the first page of the
series, a middle page (the page after the key a "next" link of the previous page carries) and
the last page, each against the baseline of the same run: the store read of the same page
straight from the store (``iter_instances(series_instance_uid=..., after=key)``, 50 rows, what
``gantry sql`` would answer with ``... WHERE series_instance_uid=? AND id>? LIMIT 50``), and
against one scan of the whole series. Each figure is the median of ``--repeat`` runs, taken
alternately::

    .venv/bin/python bench/bench_web_paging.py --size 100000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import islice
from pathlib import Path
from typing import Any


def fill(store: Any, size: int, root: Path) -> None:
    """``size`` instances of one series, added to the store directly (one template header,
    new UIDs and numbers per instance)."""
    from gantry.testing.factory import make_instance
    from gantry.testing.store_contract import instance_from_header

    template = make_instance(patient=0, series=0, instance=0)
    prefix = str(template.SOPInstanceUID).rsplit(".", 1)[0]
    for n in range(size):
        ds = template.copy()
        ds.SOPInstanceUID = f"{prefix}.{n + 1}"
        ds.InstanceNumber = n + 1
        store.add_instance(instance_from_header(ds, str(root / f"i{n}")), ds)
    store.checkpoint()


def _median(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(size: int, store: str = "sqlite", repeat: int = 5) -> dict[str, float]:
    """Seconds of each page through the console and straight from the store, their ratios,
    and each page's ratio to one scan of the series."""
    from gantry import Session

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "plugins" / "gantry-web"
                           / "src"))
    from gantry_web.console import PAGE_SIZE, Console

    os.environ.setdefault("GANTRY_SECRET", bytes(range(32)).hex())
    with tempfile.TemporaryDirectory(prefix="gantry-web-paging-") as tmp:
        root = Path(tmp)
        os.environ["GANTRY_HOME"] = str(root / "home")
        url = f"sqlite:///{root / 'big.db'}" if store == "sqlite" else "memory://"
        started = time.perf_counter()
        with Session(url, workers=1) as session:
            fill(session.store, size, root)
            fill_s = time.perf_counter() - started
            console = Console(session)
            series_uid = next(session.store.iter_series()).series_instance_uid
            handle = console.handles.of("series", series_uid)
            order = [i.sop_instance_uid for i in session.store.iter_instances(
                series_instance_uid=series_uid)]
            assert len(order) == size
            pages = max(1, -(-size // PAGE_SIZE))
            middle = max(1, pages // 2)
            out: dict[str, float] = {"instances": float(size), "fill_s": fill_s}

            def scan() -> None:
                sum(1 for _ in session.store.iter_instances(series_instance_uid=series_uid))

            out["scan_s"] = _median(scan, max(1, repeat // 2))
            cases: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {}
            key = {"series_instance_uid": series_uid}
            cases["first"] = (
                lambda: console.instances(handle),
                lambda: list(islice(session.store.iter_instances(**key), PAGE_SIZE)))
            after = order[(middle - 1) * PAGE_SIZE - 1] if middle > 1 else None
            after_handle = console.handles.of("instance", after) if after else None
            cases["middle"] = (
                lambda: console.instances(handle, middle, after=after_handle),
                lambda: list(islice(session.store.iter_instances(**key, after=after),
                                    PAGE_SIZE)))
            count = size - (pages - 1) * PAGE_SIZE
            cases["last"] = (
                lambda: console.instances(handle, last=True),
                lambda: list(islice(session.store.iter_instances(**key, reverse=True),
                                    count))[::-1])
            for label, (page_fn, store_fn) in cases.items():
                _, listing = page_fn()
                assert listing.rows and len(listing.rows) == len(store_fn())
                console_s, store_s = [], []
                for _ in range(repeat):  # alternately, so both see the same machine load
                    console_s.append(_median(page_fn, 1))
                    store_s.append(_median(store_fn, 1))
                out[f"{label}_page_s"] = statistics.median(console_s)
                out[f"{label}_store_read_s"] = statistics.median(store_s)
                out[f"{label}_page_over_store_read"] = (out[f"{label}_page_s"]
                                                        / out[f"{label}_store_read_s"])
                out[f"{label}_page_over_scan"] = out[f"{label}_page_s"] / out["scan_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--store", choices=("sqlite", "memory"), default="sqlite")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    for key, value in measure(args.size, args.store, args.repeat).items():
        print(f"{key}: {value:.4g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
