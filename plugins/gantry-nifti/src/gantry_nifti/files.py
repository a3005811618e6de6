"""Where a ``file`` destination is, and writing a file in it whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path


def local_root(to: str) -> Path:
    """The folder a ``file`` destination names."""
    return Path(to[len("file://"):] if to.startswith("file://") else to).resolve()


def write_atomic(root: Path, rel: str, data: bytes) -> int:
    """Write ``root/rel`` whole or not at all (a temporary file renamed); its mtime (ns)."""
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        from gantry.api import ExportError

        raise ExportError(f"{rel}: output path escapes the export folder")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".gantry-{path.name}.{os.getpid()}.part")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path.stat().st_mtime_ns
