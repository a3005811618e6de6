"""Shared by the drivers: every file under SRC paired with its mirror path under DST."""

from __future__ import annotations

import os
import sys


def pairs(src: str, dst: str):
    """Yield ``(input, output)`` paths, creating output folders as needed."""
    for folder, _dirs, files in os.walk(src):
        rel = os.path.relpath(folder, src)
        target = os.path.join(dst, rel)
        os.makedirs(target, exist_ok=True)
        for name in sorted(files):
            yield os.path.join(folder, name), os.path.join(target, name)


def on_every_core(work) -> None:
    """Run ``work(jobs)`` over ``SRC DST [PROCESSES]``'s pairs dealt round-robin to N forked
    processes (default every core); exit non-zero when any process failed."""
    if len(sys.argv) not in (3, 4):
        sys.exit(f"usage: {sys.argv[0]} SRC DST [PROCESSES]")
    src, dst = sys.argv[1], sys.argv[2]
    n = int(sys.argv[3]) if len(sys.argv) == 4 else (os.cpu_count() or 1)
    jobs = list(pairs(src, dst))
    children = []
    for k in range(1, n):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                work(jobs[k::n])
            except BaseException as exc:  # report, then leave without the parent's cleanup
                print(f"process {k}: {exc!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        children.append(pid)
    work(jobs[0::n])
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    if failed:
        sys.exit(f"{len(failed)} of {n} processes failed")


def args() -> tuple[str, str]:
    """``SRC DST`` from the command line."""
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} SRC DST")
    return sys.argv[1], sys.argv[2]
