"""Run one command and measure its wall time and the peak RSS of its whole process tree."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

SAMPLE_SECONDS = 0.02


@dataclass(frozen=True)
class Measurement:
    """One run: wall seconds, peak tree RSS in bytes, exit code and the tail of its output."""

    seconds: float
    peak_rss: int
    returncode: int
    output_tail: str


def _tree_rss(proc) -> int:
    import psutil

    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def run(argv: list[str], *, log_path: Path, timeout: float, env: dict[str, str] | None = None,
        cwd: Path | None = None) -> Measurement:
    """Run ``argv``; sample the RSS of the process and all its descendants every 20 ms.

    Output goes to ``log_path`` (so a chatty tool cannot slow itself down on a pipe). A run
    that exceeds ``timeout`` seconds is killed and reported with return code -9.
    """
    import psutil

    peak = 0
    stop = threading.Event()
    full_env = {**os.environ, **(env or {})}
    with open(log_path, "wb") as log:
        start = time.perf_counter()
        popen = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=full_env,
                                 cwd=cwd, start_new_session=True)
        proc = psutil.Process(popen.pid)

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss(proc))
                stop.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            returncode = popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            for child in proc.children(recursive=True):
                try:
                    child.kill()
                except psutil.Error:
                    pass
            popen.kill()
            popen.wait()
            returncode = -9
        seconds = time.perf_counter() - start
        stop.set()
        sampler.join()
    text = log_path.read_bytes()[-4000:].decode("utf-8", "replace")
    return Measurement(seconds, peak, returncode, text)
