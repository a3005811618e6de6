"""gantry-pacs against dcmtk, in one run on the same instances (loopback, free ports).

    .venv/bin/python bench/pacs.py                    # 200 instances (a quick look)
    .venv/bin/python bench/pacs.py --instances 2000   # the issue's figure

* **listener**: ``storescu`` sends N instances to ``gantry listen DEST`` (received,
  de-identified and written to DEST; timed until the last output file exists) and, as the
  floor, to dcmtk's ``storescp`` writing them raw. Ratio: floor time / gantry time (1.0 =
  as fast as the floor; the issue's target is >= 0.5).
* **retrieval**: the same N instances in an Orthanc started here; ``gantry ingest
  dimse://...`` (C-FIND, C-GET into the spool, headers indexed in SQLite) against dcmtk's
  ``getscu`` (C-GET, files written) and ``movescu`` into ``storescp`` (C-MOVE). Ratio: dcmtk
  time / gantry time (target >= 0.8).

Each tool runs ``--repeat`` times (best kept), on instances of ``--rows`` x ``--rows`` 16-bit
pixels made by ``gantry.testing.factory``. Needs Orthanc and dcmtk (``make system-deps``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "plugins" / "gantry-pacs" / "tests"))

from pacs_peers import (  # noqa: E402
    CALLER,
    SECRET_HEX,
    free_port,
    start_orthanc,
    start_process,
    stop_process,
    wait_port,
)

GANTRY = str(Path(sys.executable).parent / "gantry")


def corpus(folder: Path, n: int, rows: int) -> list[Path]:
    """``n`` instances of one patient: studies of 100, series of 50."""
    from gantry.testing.factory import make_instance

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    template = make_instance(patient=1, rows=rows, cols=rows)
    for i in range(n):
        study, series = i // 100, i // 50
        ds = template
        ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.999.77.{study}"
        ds.SeriesInstanceUID = f"1.2.826.0.1.3680043.10.999.77.{study}.{series}"
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.999.77.{study}.{series}.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i
        path = folder / f"i{i:06d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def count_files(folder: Path, suffix: str = "") -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file() and p.name.endswith(suffix)) \
        if folder.exists() else 0


def wait_files(folder: Path, n: int, suffix: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while count_files(folder, suffix) < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{folder}: {count_files(folder, suffix)} of {n} after "
                               f"{timeout} s")
        time.sleep(0.05)


def storescu(port: int, src: Path, aet: str) -> None:
    subprocess.run(["storescu", "-aet", "BENCH", "-aec", aet, "+sd", "+r", "127.0.0.1",
                    str(port), str(src)], check=True, capture_output=True)


def bench_floor_listener(work: Path, src: Path, n: int) -> float:
    port = free_port()
    out = work / "storescp-out"
    out.mkdir()
    proc = start_process(["storescp", "--aetitle", "STORESCP", "--output-directory", str(out),
                          str(port)], port)
    try:
        started = time.perf_counter()
        storescu(port, src, "STORESCP")
        wait_files(out, n, "", 120)
        return time.perf_counter() - started
    finally:
        stop_process(proc)


def bench_gantry_listener(work: Path, src: Path, n: int, workers: int) -> float:
    port = free_port()
    out = work / "listen-out"
    env = {**os.environ, "GANTRY_SECRET": SECRET_HEX, "GANTRY_PACS_SPOOL": str(work / "spool"),
           "GANTRY_PACS_BIND_HOST": "127.0.0.1"}
    log = (work / "listen.log").open("w")
    proc = subprocess.Popen([GANTRY, "listen", str(out), "--port", str(port), "--db",
                             f"sqlite:///{work / 'listen.db'}", "-j", str(workers)],
                            stdout=subprocess.DEVNULL, stderr=log, env=env)
    try:
        wait_port(port, timeout=60, proc=proc)
        started = time.perf_counter()
        storescu(port, src, "GANTRY")
        wait_files(out, n, ".dcm", 600)
        return time.perf_counter() - started
    finally:
        stop_process(proc, timeout=60)


def bench_retrieval(work: Path, paths: list[Path], repeat: int, workers: int
                    ) -> dict[str, float]:
    scp_port = free_port()
    orthanc = start_orthanc(work / "orthanc",
                            extra_modalities={"storescp": ["STORESCP", "127.0.0.1", scp_port]})
    times: dict[str, float] = {}
    try:
        storescu(orthanc.port, paths[0].parent, "ORTHANC")
        query = ["-k", "QueryRetrieveLevel=PATIENT", "-k", "PatientID=MRN0017Q07919"]
        for attempt in range(repeat):
            out = work / f"getscu-{attempt}"
            out.mkdir()
            started = time.perf_counter()
            subprocess.run(["getscu", "-P", "-aet", CALLER, "-aec", "ORTHANC", "-od", str(out),
                            "127.0.0.1", str(orthanc.port), *query], check=True,
                           capture_output=True)
            times["getscu"] = min(times.get("getscu", 1e9), time.perf_counter() - started)
            assert count_files(out) == len(paths), count_files(out)

            out = work / f"movescu-{attempt}"
            out.mkdir()
            scp = start_process(["storescp", "--aetitle", "STORESCP", "--output-directory",
                                 str(out), str(scp_port)], scp_port)
            try:
                started = time.perf_counter()
                subprocess.run(["movescu", "-P", "-aet", CALLER, "-aec", "ORTHANC", "-aem",
                                "STORESCP", "127.0.0.1", str(orthanc.port), *query],
                               check=True, capture_output=True)
                wait_files(out, len(paths), "", 120)
                times["movescu"] = min(times.get("movescu", 1e9),
                                       time.perf_counter() - started)
            finally:
                stop_process(scp)

            env = {**os.environ, "GANTRY_SECRET": SECRET_HEX, "GANTRY_PACS_CALLING_AET": CALLER,
                   "GANTRY_PACS_SPOOL": str(work / f"spool-{attempt}")}
            started = time.perf_counter()
            subprocess.run([GANTRY, "-q", "ingest", orthanc.url(), "--db",
                            f"sqlite:///{work / f'ingest-{attempt}.db'}"],
                           check=True, capture_output=True, env=env)
            times["gantry"] = min(times.get("gantry", 1e9), time.perf_counter() - started)
            assert count_files(work / f"spool-{attempt}", ".dcm") == len(paths)
    finally:
        stop_process(orthanc.proc)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--rows", type=int, default=128, help="pixel rows and columns")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="gantry worker processes")
    parser.add_argument("--dir", default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    for tool in ("storescp", "storescu", "getscu", "movescu"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} not found (apt-get install dcmtk)")
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="gantry-bench-pacs-"))
    try:
        src = base / "corpus"
        paths = corpus(src, args.instances, args.rows)
        mb = sum(p.stat().st_size for p in paths) / 1e6
        print(f"{args.instances} instances, {mb:.1f} MB, {args.rows}x{args.rows} pixels",
              flush=True)
        floor = gantry = 1e9
        for attempt in range(args.repeat):
            work = base / f"listen-{attempt}"
            work.mkdir()
            floor = min(floor, bench_floor_listener(work, src, args.instances))
            gantry = min(gantry, bench_gantry_listener(work, src, args.instances,
                                                       args.workers))
        print(f"listener   storescp (raw floor) {floor:7.2f} s   gantry listen "
              f"{gantry:7.2f} s   ratio {floor / gantry:.2f}  (target >= 0.5)")
        times = bench_retrieval(base / "retrieve", paths, args.repeat, args.workers)
        for tool in ("getscu", "movescu"):
            print(f"retrieval  {tool:<8} {times[tool]:7.2f} s   gantry ingest (C-GET) "
                  f"{times['gantry']:7.2f} s   ratio {times[tool] / times['gantry']:.2f}  "
                  "(target >= 0.8)")
    finally:
        if not args.dir:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
