"""Where tools' outputs live between runs, and what the harness prepares before timing.

Two effects of the machine, not of any tool, used to leak into the figures:

* **Deleting outputs.** Creating a file within minutes of ``rm -r`` of a few thousand others
  nearby cost 0.3-0.8 ms of system CPU instead of 15-60 us on our machines (ext4 without a
  journal, which skips inodes freed in the last minutes when it allocates one: the likely
  cause). The harness used to delete each output just before the next run, so every tool paid
  it, by an amount that depended on the order of runs. Outputs are now moved aside (a rename),
  their files emptied, and deleted when the harness ends.
* **Bytecode.** With ``PYTHONDONTWRITEBYTECODE`` set, an editable install (gantry's own) never
  caches its modules' bytecode and compiles them from source on every start (~0.1 s), while
  peers installed from wheels have theirs compiled at install time.
"""

from __future__ import annotations

import compileall
import importlib.util
import itertools
import os
import shutil
from importlib.metadata import entry_points
from pathlib import Path


class SetAside:
    """Outputs moved out of the way and emptied, deleted together by :meth:`clear`.

    An output set aside is renamed and each of its files truncated to nothing: the disk space
    and the page cache it held are freed at once (keeping them filled the page cache, and the
    next runs paid for reclaiming it), while its inodes stay allocated until :meth:`clear`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._count = itertools.count()

    def remove(self, path: Path) -> str:
        """Take ``path`` out of the way: ``"set aside"`` (renamed and emptied), ``"deleted"``
        (it could not be renamed here, e.g. another file system) or ``"absent"``."""
        if not path.exists() and not path.is_symlink():
            return "absent"
        if path.is_dir() and not path.is_symlink():
            self.root.mkdir(parents=True, exist_ok=True)
            target = self.root / f"{next(self._count):05d}-{path.name}"
            try:
                path.rename(target)
            except OSError:
                pass
            else:
                _empty(target)
                return "set aside"
        _delete(path)
        return "deleted"

    def clear(self) -> None:
        """Delete everything set aside."""
        if self.root.exists():
            _delete(self.root)


def _empty(root: Path) -> None:
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                try:
                    os.truncate(path, 0)
                except OSError:
                    pass


def _delete(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def gantry_source_dirs() -> list[Path]:
    """The package folders of gantry and of every installed plugin (``gantry`` entry points)."""
    names = {"gantry"} | {ep.module.split(".")[0] for ep in entry_points(group="gantry")}
    found: list[Path] = []
    for name in sorted(names):
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        for location in spec.submodule_search_locations or ():
            if Path(location).is_dir():
                found.append(Path(location))
    return found


def compile_bytecode(dirs: list[Path]) -> bool:
    """Write up-to-date bytecode for every module under ``dirs`` (what ``pip install`` of a
    wheel does); True when every file compiled."""
    return all(compileall.compile_dir(str(d), quiet=1) for d in dirs)
