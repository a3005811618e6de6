"""Working stores: where a one-shot ``gantry deidentify SRC DEST`` keeps its index.

A run without ``--db`` keeps its store under ``$GANTRY_HOME/runs/`` (default
``$XDG_STATE_HOME/gantry/runs``, i.e. ``~/.local/state/gantry/runs``), named after a hash of
DEST so that the same command resumes. **The working store holds the original headers (PHI)**:
it is created owner-only (files 0600, folders 0700), listed by ``gantry runs list``, removed by
``gantry runs rm`` and stripped of original values by ``gantry purge``.

Beside each store, ``<key>.run.json`` records what the store is for (DEST, SRC, the profile,
the last run's time, counts and exit code), so ``gantry runs`` can list stores without opening
them, and read commands can resolve a destination to its store (``gantry status DEST``,
``--db DEST``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry.errors import GantryError

if TYPE_CHECKING:
    from gantry.components import StoreBackend
    from gantry.plugins import GantryHooks

META_SUFFIX = ".run.json"


class UsageProblem(GantryError):
    """The command line names something that cannot be used (exit code 2)."""


def gantry_home() -> Path:
    """Where Gantry keeps its state: ``$GANTRY_HOME``, else ``$XDG_STATE_HOME/gantry``, else
    ``~/.local/state/gantry``."""
    base = os.environ.get("GANTRY_HOME") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "gantry")
    return Path(base)


def runs_dir() -> Path:
    """The folder of the working stores (``gantry_home() / "runs"``)."""
    return gantry_home() / "runs"


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create ``path`` and each missing parent owner-only (0700); return it.

    ``Path.mkdir(parents=True, mode=...)`` gives the mode to the last folder only: the parents
    it makes get the umask's (often world-readable) mode."""
    folder = Path(path)
    missing: list[Path] = []
    probe = folder
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for level in reversed(missing):
        try:
            level.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(level, 0o700)  # mkdir's mode is masked by the umask
    return folder


def destination_key(dest: str) -> str:
    """The key of a destination: a hash of its absolute path (a URL: as written)."""
    from gantry.sources import is_url

    where = dest.rstrip("/") if is_url(dest) else str(Path(dest.removeprefix("file://"))
                                                      .resolve())
    return hashlib.sha256(where.encode()).hexdigest()[:16]


def destination_label(dest: str) -> str:
    """A destination as recorded: a URL as written, a path made absolute."""
    from gantry.sources import is_url

    return dest.rstrip("/") if is_url(dest) else str(Path(dest.removeprefix("file://"))
                                                     .resolve())


def file_backend(hooks: GantryHooks) -> StoreBackend | None:
    """The first installed store backend that keeps a store in one local file (it declares a
    ``file_suffix``), or ``None`` (then one-shot runs use ``memory://``)."""
    for rec in hooks.components("store").values():
        if getattr(rec, "file_suffix", None):
            return rec  # type: ignore[return-value]
    return None


def working_store_for(dest: str, hooks: GantryHooks) -> str:
    """The working store URL of a one-shot run to ``dest`` (created 0700 folder first)."""
    backend = file_backend(hooks)
    if backend is None:
        return "memory://"
    folder = private_dir(runs_dir())
    scheme = backend.schemes[0]
    return f"{scheme}:///{folder / destination_key(dest)}{backend.file_suffix}"


def default_db_for(dest: str) -> str:
    """The working store URL of a one-shot run to ``dest``, with the installed plugins (for a
    plugin's command that writes to DEST as ``gantry deidentify`` does)."""
    from gantry.plugins import build_plugin_manager

    return working_store_for(dest, build_plugin_manager())


def store_files(url: str) -> list[Path]:
    """The files of a working store under :func:`runs_dir` (database, journals, sidecars,
    the run record): every file named after its key."""
    path = _local_path(url)
    if path is None or not path.parent.is_dir():
        return []
    return sorted(p for p in path.parent.glob(f"{path.stem}*") if p.is_file())


def _local_path(url: str) -> Path | None:
    _, sep, rest = url.partition(":///")
    if not sep or not rest:
        return None
    return Path(os.path.expanduser(rest.split("?", 1)[0])).absolute()


def drop_store(url: str) -> int:
    """Delete a working store and its sidecars (see :func:`store_files`); return bytes freed."""
    freed = 0
    for stale in store_files(url):
        try:
            freed += stale.stat().st_size
            stale.unlink()
        except FileNotFoundError:
            continue
    return freed


# --------------------------------------------------------------------------- run records
@dataclass
class RunRecord:
    """What a working store is for, kept as ``<key>.run.json`` beside it."""

    key: str
    store: str
    destination: str
    source: str = ""
    profile: str = ""
    created: float = 0.0
    last_run: float = 0.0
    exit_code: int | None = None
    counts: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for ``--json``)."""
        return asdict(self)


def record_path(url: str) -> Path | None:
    """Where the run record of a working store lives (``None``: not a file store)."""
    path = _local_path(url)
    return path.with_name(path.stem + META_SUFFIX) if path is not None else None


def read_record(path: Path) -> RunRecord | None:
    """A run record, or ``None`` when missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RunRecord(**{k: v for k, v in data.items() if k in RunRecord.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def write_record(record: RunRecord) -> None:
    """Write a run record atomically, owner-only."""
    path = record_path(record.store)
    if path is None:
        return
    private_dir(path.parent)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(record.to_dict(), fh, indent=1)
    os.replace(tmp, path)


def note_run(url: str, *, dest: str, source: str, profile: str,
             counts: dict[str, Any] | None = None, exit_code: int | None = None) -> RunRecord:
    """Create or update the run record of the working store ``url``."""
    key = Path(_local_path(url) or url).stem
    path = record_path(url)
    record = read_record(path) if path is not None else None
    now = time.time()
    if record is None:
        record = RunRecord(key=key, store=url, destination=destination_label(dest), created=now)
    record.source = destination_label(source) if source else record.source
    record.profile = profile
    record.last_run = now
    if counts is not None:
        record.counts = counts
    if exit_code is not None:
        record.exit_code = exit_code
    write_record(record)
    return record


def iter_records(hooks: GantryHooks | None = None) -> Iterator[RunRecord]:
    """Every working store under :func:`runs_dir`, newest run first. With ``hooks``, a store
    without a record (made before records existed) is listed too, from its file (a file
    whose name is ``<key><suffix>`` of an installed file backend)."""
    folder = runs_dir()
    if not folder.is_dir():
        return iter(())
    found: dict[str, RunRecord] = {}
    for path in folder.glob(f"*{META_SUFFIX}"):
        record = read_record(path)
        if record is not None:
            found[record.key] = record
    suffixes = {getattr(rec, "file_suffix", None): rec.schemes[0]  # type: ignore[attr-defined]
                for rec in (hooks.components("store").values() if hooks else ())}
    suffixes.pop(None, None)
    for path in folder.iterdir():
        scheme = suffixes.get(path.suffix)
        if scheme is None or path.stem in found or len(path.stem) != 16 or not path.is_file():
            continue
        found[path.stem] = RunRecord(key=path.stem, store=f"{scheme}:///{path}",
                                     destination="", last_run=path.stat().st_mtime)
    return iter(sorted(found.values(), key=lambda r: r.last_run, reverse=True))


def find_record(name: str, hooks: GantryHooks | None = None) -> RunRecord | None:
    """The working store named by ``name``: its key (or a unique prefix of it), or its
    destination."""
    records = list(iter_records(hooks))
    for record in records:
        if record.key == name:
            return record
    label = destination_label(name) if name else ""
    for record in records:
        if record.destination and record.destination == label:
            return record
    matches = [r for r in records if len(name) >= 4 and r.key.startswith(name)]
    return matches[0] if len(matches) == 1 else None


def store_size(url: str) -> int:
    """Bytes on disk of a working store and its sidecars."""
    return sum(p.stat().st_size for p in store_files(url) if p.exists())


# --------------------------------------------------------------------------- resolving --db
def resolve_store(db: str | None, hooks: GantryHooks, *, dest: str | None = None,
                  must_exist: bool = True) -> str:
    """The store URL a command should open.

    ``db`` may be a store URL (``sqlite:///cohort.db``) or a destination that a one-shot run
    wrote (its working store); without ``db``, ``dest`` names that destination. With
    ``must_exist`` (every command that only reads), a store that does not exist is an error:
    it is never created. A plain file name (``cohort.db``) gets the URL it probably meant.
    """
    from gantry.sources import is_url

    if db is None and dest is None:
        raise UsageProblem("name a store: --db URL (e.g. sqlite:///cohort.db) or the "
                           "destination of a one-shot run")
    if db is not None and (is_url(db) or "://" in db):
        url = db
        if must_exist:
            _check_exists(url, hooks)
        return url
    name = db if db is not None else dest
    assert name is not None
    record = find_record(name, hooks)
    if record is not None:
        return record.store
    if db is not None:
        backend = _backend_for_suffix(name, hooks)
        if backend is not None:
            raise UsageProblem(f"--db {name}: a store is named by URL: did you mean "
                               f"{backend.schemes[0]}:///{name}?")
        raise UsageProblem(f"--db {name}: not a store URL (e.g. sqlite:///cohort.db) and no "
                           "working store for this destination (gantry runs list)")
    raise UsageProblem(f"{name}: no working store for this destination (gantry runs list; "
                       "or give --db URL)")


def _backend_for_suffix(name: str, hooks: GantryHooks) -> StoreBackend | None:
    for rec in hooks.components("store").values():
        suffix = getattr(rec, "file_suffix", None)
        if suffix and name.endswith(suffix):
            return rec  # type: ignore[return-value]
    backend = file_backend(hooks)
    if backend is not None and Path(name).is_file():
        return backend
    return None


def _check_exists(url: str, hooks: GantryHooks) -> None:
    backend = hooks.store_backend_for(url)
    exists = getattr(backend, "exists", None)
    if exists is not None and not exists(url):
        raise UsageProblem(f"{url}: no such store (read commands never create one)")


__all__ = [
    "RunRecord", "UsageProblem", "default_db_for", "destination_key", "drop_store",
    "file_backend",
    "find_record", "gantry_home", "iter_records", "note_run", "private_dir", "resolve_store",
    "runs_dir", "store_files", "store_size", "working_store_for",
]
