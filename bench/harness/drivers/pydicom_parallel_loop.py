"""The floor on every core: the pydicom read+write loop, its files dealt round-robin to N
processes forked after pydicom is imported (no de-identification).

This is what "the floor x cores" measures on the machine at hand, start-up and all: the same
loop as ``pydicom_loop.py``, paying one import, with every core busy. ``N`` is the third
argument (default: every core).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from _walk import pairs
from pydicom_loop import copy_all  # (imports pydicom: every process forked below has it)


def main() -> None:
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
                copy_all(jobs[k::n])
            except BaseException as exc:  # report, then leave without the parent's cleanup
                print(f"process {k}: {exc!r}", file=sys.stderr)
                code = 1
            os._exit(code)
        children.append(pid)
    copy_all(jobs[0::n])
    failed = [pid for pid in children if os.waitpid(pid, 0)[1] != 0]
    if failed:
        sys.exit(f"{len(failed)} of {n} processes failed")


if __name__ == "__main__":
    main()
