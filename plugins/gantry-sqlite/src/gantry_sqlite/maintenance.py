"""Store maintenance: pixel-sidecar compaction (crash-safe) and purging original values.

Compaction copies the live entries into ``<sidecar>.compact``, records their new offsets in the
database (``pixel_relocations``, ``meta.compact_state = 'swapping'``), swaps the file in with an
atomic rename, then applies the new offsets. Whatever step a crash interrupts, the next open
(:func:`gantry_sqlite.relocation.recover`) finds a consistent pair: before the rename the old
file and old offsets are kept; after it the recorded offsets are applied.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gantry_sqlite import pixels as px
from gantry_sqlite.relocation import apply_relocations, compact_path

if TYPE_CHECKING:
    from gantry_sqlite.pixels import Sidecar
    from gantry_sqlite.store import SqliteStore


@dataclass(frozen=True)
class CompactReport:
    """What a compaction did."""

    entries: int
    bytes_before: int
    bytes_after: int

    @property
    def reclaimed(self) -> int:
        """Bytes given back to the file system."""
        return self.bytes_before - self.bytes_after


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed."""

    instances: int
    elements: int
    pixel_entries: int
    rejected_sources: int
    remaining_instances: int
    compact: CompactReport | None


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _swap(tmp: Path, target: Path) -> None:
    os.replace(tmp, target)
    _fsync_dir(target.parent)


def compact(store: SqliteStore) -> CompactReport:
    """Rewrite the live sidecar entries into a new file and swap it in atomically.

    Needs the store to itself: raises :class:`StoreError` when another session holds it open.
    Every entry copied is verified; a corrupt one stops the compaction (nothing changes).
    """
    with store.exclusive("compacting", subject=store.pixels_path) as sidecar:
        return _compact_locked(store, sidecar)


def _compact_locked(store: SqliteStore, sidecar: Sidecar) -> CompactReport:
    conn = store.connection
    target = store.pixels_path
    tmp = compact_path(target)
    before = sidecar.size()
    relocations: list[tuple[str, int]] = []
    rows = conn.execute("SELECT key, offset, length FROM pixels ORDER BY offset").fetchall()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        offset = os.write(fd, px.file_header())
        for key, old, length in rows:
            blob = sidecar.read_raw(old, length)
            px.decode_entry(blob, f"{target} (offset {old})", key)  # verify before copying
            os.write(fd, blob)
            relocations.append((key, offset))
            offset += len(blob)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)

    def stage(c: sqlite3.Connection) -> None:
        c.execute("DELETE FROM pixel_relocations")
        c.executemany("INSERT INTO pixel_relocations(key, offset) VALUES (?, ?)", relocations)
        c.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('compact_state', 'swapping')")

    store.transaction(stage)
    _swap(tmp, target)

    def finish(c: sqlite3.Connection) -> None:
        apply_relocations(c)
        c.execute("DELETE FROM meta WHERE key='compact_state'")

    store.transaction(finish)
    sidecar.reopen()
    sidecar.try_exclusive()
    return CompactReport(entries=len(relocations), bytes_before=before, bytes_after=offset)


def purge(store: SqliteStore, destination: str | None = None) -> PurgeReport:
    """Remove original values of every instance exported (to ``destination``, or anywhere).

    Deleted: the instance rows with their header elements, ingest-progress rows and conflict
    rows, their pixel entries, patients/studies/series left without instances, and the source
    paths of rejected inputs. Kept, re-keyed to the exported (pseudonymous) SOP Instance UID:
    findings, changes, export records and reviewers' decisions; the audit log is kept as is.
    Deleted pages are zeroed (``secure_delete``), the database vacuumed and the sidecar
    compacted, so the original values leave the files, not just the tables.
    """
    with store.exclusive("purging") as sidecar:
        report = _purge_locked(store, sidecar, destination)
    from gantry.api import AuditEvent

    store.log_event(AuditEvent("purged", "store", {
        "instances": report.instances, "remaining_instances": report.remaining_instances,
        "destination": destination or "*"}, time=time.time()))
    store.checkpoint()
    return report


def _purge_locked(store: SqliteStore, sidecar: Sidecar, destination: str | None
                  ) -> PurgeReport:
    conn = store.connection
    counts: dict[str, int] = {}
    conn.execute("PRAGMA secure_delete=ON")

    def op(c: sqlite3.Connection) -> None:
        c.execute("DROP TABLE IF EXISTS temp.purge_ids")
        dest_sql, params = ("AND e.destination = ?", (destination,)) if destination else ("", ())
        c.execute("CREATE TEMP TABLE purge_ids AS SELECT i.id AS id, i.sop_instance_uid AS uid, "
                  "(SELECT e.new_sop_instance_uid FROM exports e WHERE e.sop_instance_uid = "
                  f"i.sop_instance_uid {dest_sql} ORDER BY e.id LIMIT 1) AS new_uid "
                  "FROM instances i WHERE EXISTS (SELECT 1 FROM exports e WHERE "
                  f"e.sop_instance_uid = i.sop_instance_uid {dest_sql})", params * 2)
        c.execute("CREATE INDEX temp.purge_uid ON purge_ids(uid)")
        counts["instances"] = c.execute("SELECT COUNT(*) FROM purge_ids").fetchone()[0]
        counts["elements"] = c.execute(
            "SELECT COALESCE(SUM(json_array_length(value_ids)), 0) FROM instance_headers "
            "WHERE instance_id IN (SELECT id FROM purge_ids)").fetchone()[0]
        for table in ("findings", "instance_changes", "exports", "decisions"):
            c.execute(f"UPDATE {table} SET sop_instance_uid = (SELECT p.new_uid FROM purge_ids p"
                      f" WHERE p.uid = {table}.sop_instance_uid) WHERE sop_instance_uid IN "
                      "(SELECT uid FROM purge_ids)")
        counts["pixels"] = c.execute("DELETE FROM pixels WHERE key IN (SELECT uid FROM "
                                     "purge_ids)").rowcount
        c.execute("DELETE FROM instance_headers WHERE instance_id IN (SELECT id FROM purge_ids)")
        c.execute("DELETE FROM element_values WHERE id NOT IN (SELECT j.value FROM "
                  "instance_headers h, json_each(h.value_ids) j)")  # rows no header uses
        c.execute("DELETE FROM sources WHERE sop_instance_uid IN (SELECT uid FROM purge_ids)")
        c.execute("DELETE FROM conflicts WHERE sop_instance_uid IN (SELECT uid FROM purge_ids)")
        c.execute("DELETE FROM instances WHERE id IN (SELECT id FROM purge_ids)")
        c.execute("DELETE FROM series WHERE series_instance_uid NOT IN "
                  "(SELECT series_instance_uid FROM instances)")
        c.execute("DELETE FROM studies WHERE study_instance_uid NOT IN "
                  "(SELECT study_instance_uid FROM instances)")
        c.execute("DELETE FROM patients WHERE patient_id NOT IN (SELECT patient_id FROM "
                  "instances)")
        counts["rejected"] = c.execute("UPDATE rejected SET source = '(purged)' WHERE source <> "
                                       "'(purged)'").rowcount
        c.execute("DELETE FROM sources WHERE outcome = 'rejected'")
        counts["remaining"] = c.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
        c.execute("DROP TABLE temp.purge_ids")

    try:
        store.transaction(op)
        store.forget_value_ids()  # element_values ids may be deleted, hence reused
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.execute("PRAGMA secure_delete=OFF")
    compacted = _compact_locked(store, sidecar) if counts["pixels"] else None
    return PurgeReport(instances=counts["instances"], elements=counts["elements"],
                       pixel_entries=counts["pixels"], rejected_sources=counts["rejected"],
                       remaining_instances=counts["remaining"], compact=compacted)
