"""The audit log writer: one thread, fed by a queue, so logging never blocks the pipeline.

:meth:`AuditWriter.put` only collects: events are handed to the thread :data:`HANDOFF` at a
time (waking it for each event cost the caller more than the event itself). The thread writes
them in batches, each in one short transaction on its own connection; :meth:`AuditWriter.flush`
hands over what was collected and waits until everything put before it is committed (the store
calls it at checkpoints, before reading the log and on close). A write error is kept and raised
by the next :meth:`flush`, so nothing is lost silently.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from gantry.api import StoreError

if TYPE_CHECKING:
    import sqlite3

    from gantry.api import AuditEvent

_STOP = object()
BATCH = 2000
#: Events collected before they are handed to the writer thread.
HANDOFF = 256


class AuditWriter:
    """A daemon thread appending :class:`AuditEvent` rows to the ``events`` table."""

    def __init__(self, connect: Callable[[], sqlite3.Connection],
                 run_write: Callable[[sqlite3.Connection, Callable[[sqlite3.Connection], None]],
                                     None], where: str) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._connect = connect
        self._run_write = run_write
        self._where = where
        self._error: BaseException | None = None
        self._collected: list[AuditEvent] = []
        self._collecting = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="gantry-sqlite-audit",
                                        daemon=True)
        self._thread.start()

    def put(self, event: AuditEvent) -> None:
        """Queue one event (never blocks)."""
        if self._error is not None:
            raise StoreError(f"{self._where}: the audit log writer failed: {self._error}")
        with self._collecting:
            self._collected.append(event)
            if len(self._collected) < HANDOFF:
                return
            events, self._collected = self._collected, []
        self._queue.put(events)

    def _hand_over(self) -> None:
        """Give the thread the events collected so far."""
        with self._collecting:
            events, self._collected = self._collected, []
        if events:
            self._queue.put(events)

    def flush(self) -> None:
        """Wait until every event queued so far is committed."""
        self._hand_over()
        if not self._thread.is_alive():
            self._raise()
            return
        done = threading.Event()
        self._queue.put(done)
        while not done.wait(0.5):
            if not self._thread.is_alive():
                break
        self._raise()

    def close(self) -> None:
        """Flush, then stop the thread."""
        self._hand_over()
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise StoreError(f"{self._where}: the audit log writer failed: {self._error}")

    def _loop(self) -> None:
        conn = self._connect()
        try:
            stop = False
            while not stop:
                batch: list[AuditEvent] = []
                waiters: list[threading.Event] = []
                item = self._queue.get()
                while True:
                    if item is _STOP:
                        stop = True
                    elif isinstance(item, threading.Event):
                        waiters.append(item)
                    else:
                        batch.extend(item)  # type: ignore[arg-type]
                    if stop or len(batch) >= BATCH:
                        break
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                if batch and self._error is None:
                    try:
                        self._write(conn, batch)
                    except BaseException as exc:  # kept and raised on the caller's side
                        self._error = exc
                for w in waiters:
                    w.set()
        finally:
            conn.close()

    def _write(self, conn: sqlite3.Connection, batch: list[AuditEvent]) -> None:
        rows = [(e.time, e.run_id, e.kind, e.subject,
                 json.dumps(e.detail, sort_keys=True, default=str)) for e in batch]

        def write(c: sqlite3.Connection) -> None:
            c.executemany("INSERT INTO events(time, run_id, kind, subject, detail) "
                          "VALUES (?, ?, ?, ?, ?)", rows)

        self._run_write(conn, write)
