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


def args() -> tuple[str, str]:
    """``SRC DST`` from the command line."""
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} SRC DST")
    return sys.argv[1], sys.argv[2]
