"""The crash-safe half of compaction the store needs at open: finishing or undoing a swap.

A compaction records the new offsets of the live pixel entries (``pixel_relocations``,
``meta.compact_state = 'swapping'``) before it renames ``<sidecar>.compact`` over the sidecar,
and applies them after. :func:`recover` finds which side of the rename a crash stopped on.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

#: runs a function in one write transaction on the store's connection
Transaction = Callable[[Callable[[sqlite3.Connection], None]], None]


def compact_path(sidecar: Path) -> Path:
    """Where a compaction writes the new sidecar before swapping it in."""
    return sidecar.with_name(sidecar.name + ".compact")


def meta(conn: sqlite3.Connection, key: str) -> str | None:
    """One value of the store's ``meta`` table, or ``None``."""
    row = conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
    return row[0] if row else None


def apply_relocations(c: sqlite3.Connection) -> None:
    """Point every relocated pixel entry at its new offset (inside a write transaction)."""
    c.execute("UPDATE pixels SET offset = (SELECT r.offset FROM pixel_relocations r "
              "WHERE r.key = pixels.key) WHERE key IN (SELECT key FROM pixel_relocations)")
    c.execute("DELETE FROM pixel_relocations")


def recover(conn: sqlite3.Connection, sidecar: Path, transaction: Transaction) -> str:
    """Finish or undo a compaction a crash interrupted; returns what was done
    (``""``, ``"discarded"`` or ``"applied"``)."""
    tmp = compact_path(sidecar)
    state = meta(conn, "compact_state")
    if state is None:
        if tmp.exists():
            tmp.unlink()
            return "discarded"
        return ""
    outcome = ""

    def fix(c: sqlite3.Connection) -> None:
        nonlocal outcome
        if meta(c, "compact_state") is None:
            return
        if tmp.exists():  # the swap never happened: the old file and old offsets stand
            c.execute("DELETE FROM pixel_relocations")
            outcome = "discarded"
        else:
            apply_relocations(c)
            outcome = "applied"
        c.execute("DELETE FROM meta WHERE key='compact_state'")

    transaction(fix)
    if outcome == "discarded" and tmp.exists():
        tmp.unlink()
    return outcome
