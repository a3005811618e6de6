"""``SqliteStore``: the persist stage on one SQLite file plus a pixel sidecar.

* **Writes are batched**: each write call queues a small operation; a batch is applied in one
  short ``BEGIN IMMEDIATE`` transaction when it reaches ``batch_size`` operations or
  ``max_delay`` seconds, before any read, and at :meth:`SqliteStore.checkpoint`. An instance,
  its header rows and its ingest-progress row always land in the same transaction, so a run
  killed at any point resumes without duplicates or holes.
* **Reads stream** in pages keyed by row id; no call loads the whole graph.
* **Concurrency**: WAL mode, a busy timeout and a retry loop around every write transaction, so
  several processes can record results at once; within a process one lock guards the
  connection, so a store may be shared by threads. Audit events go through a queue to one
  writer thread (:mod:`gantry_sqlite.auditlog`).
* **Sensitive**: the database indexes original headers. It is created owner-only (0600).
"""

from __future__ import annotations

import json
import operator
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry.api import (
    AddOutcome,
    PixelMeta,
    StoreCounts,
    StoreError,
    instance_stat,
    same_source,
    source_stat,
)
from gantry_sqlite import pixels as px
from gantry_sqlite.auditlog import AuditWriter
from gantry_sqlite.headers import header_rows, rows_to_dataset
from gantry_sqlite.relocation import recover
from gantry_sqlite.rows import (
    INSERT_INSTANCE,
    INSTANCE_COLS,
    db_source,
    hierarchy_rows,
    instance_from_row,
    instance_row,
    py_source,
    tag_row,
    upsert_source,
)
from gantry_sqlite.schema import migrate

if TYPE_CHECKING:
    import numpy as np
    from pydicom import Dataset

    from gantry.api import (
        AuditEvent,
        Change,
        Decision,
        ExportRecord,
        Finding,
        Instance,
        Patient,
        Rejection,
        Series,
        Study,
    )
    from gantry_sqlite.headers import Row

PAGE = 500
_CHUNK = 500
#: Distinct header rows whose ``element_values`` id the store remembers (beyond it the memory
#: is cleared: a row seen again is then stored once more, which costs space, never answers).
VALUE_CACHE = 50_000
Op = Callable[[sqlite3.Connection], None]
_TAG = operator.itemgetter(1)  # the tag of a header row
_CHANGE_KEY = operator.attrgetter("action", "tag", "keyword", "path", "detail", "component")


def path_from_url(url: str) -> Path:
    """The database path of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL
    (the SQLAlchemy convention; ``~`` is expanded)."""
    if not url.startswith("sqlite:///"):
        raise StoreError(f"{url}: not a SQLite store URL (expected sqlite:///path/to/file.db)")
    rest = url[len("sqlite:///"):].split("?", 1)[0]
    if not rest or rest == ":memory:":
        raise StoreError(f"{url}: the SQLite store needs a file path (sqlite:///cohort.db)")
    return Path(os.path.expanduser(rest)).absolute()


def url_for_path(path: str | os.PathLike[str]) -> str:
    """The canonical store URL of a database path (absolute: ``sqlite:////...``)."""
    return f"sqlite:///{Path(path).absolute()}"


def sidecar_path(db_path: Path) -> Path:
    """``cohort.db`` → ``cohort_pixels.bin`` (same folder)."""
    return db_path.with_name(f"{db_path.stem}_pixels.bin")


@dataclass
class SqlResult:
    """Rows of a read-only query: ``columns`` and an iterator of tuples."""

    columns: list[str]
    rows: Iterator[tuple[Any, ...]]

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return self.rows


def _rollback(conn: sqlite3.Connection) -> None:
    """Roll back the open transaction, if SQLite has not already."""
    if conn.in_transaction:
        try:
            conn.execute("ROLLBACK")
        except sqlite3.OperationalError:
            pass


class SqliteStore:
    """A :class:`gantry.protocols.Store` in a SQLite file (``sqlite:///cohort.db``)."""

    def __init__(self, url: str, *, batch_size: int = 500, max_delay: float = 1.0,
                 busy_timeout: float = 60.0) -> None:
        self.path = path_from_url(url)
        self.url = url_for_path(self.path)
        self.pixels_path = sidecar_path(self.path)
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.busy_timeout = busy_timeout
        self._closed = False
        self._run_depth = 0
        self._open()

    # -- connection management ---------------------------------------------------------------
    def _open(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._pending: list[Op] = []
        self._pending_since = 0.0
        self._pending_uids: dict[str, tuple[str, int, str]] = {}
        self._pending_sources: dict[str, tuple[int, float | None]] = {}
        self._pending_pixels = False
        #: patient, study and series keys inserted in the current write transaction
        self._tx_keys: tuple[set[str], set[str], set[str]] = (set(), set(), set())
        #: header row -> its ``element_values`` id as text; the rows inserted
        #: by the current transaction are also in ``_tx_values``, dropped if it rolls back
        self._value_ids: dict[tuple[Any, ...], str] = {}
        self._tx_values: dict[tuple[Any, ...], str] = {}
        self._tx_new_values: list[tuple[Any, ...]] = []
        self._tx_headers: list[tuple[int, str]] = []
        self._tx_next_value = 0
        #: a change (action, tag, keyword, path, detail, component) -> its change_values id
        self._change_ids: dict[tuple[str, ...], str] = {}
        self._tx_changes: dict[tuple[str, ...], str] = {}
        #: a list of changes (by the ids of its objects) -> its value_ids text; each entry holds
        #: its list
        self._change_lists: dict[tuple[int, ...], tuple[list[Change], str]] = {}
        #: the next ``instance_changes`` id in the current write transaction (0: not read yet)
        self._tx_next_change = 0
        #: the ``extra`` JSON of findings met recently, by object (results share the findings
        #: that repeat from instance to instance); each entry keeps its finding alive
        self._extra_json: dict[int, tuple[Finding, str]] = {}
        _create_private_file(self.path)
        self._conn = self._connect()
        try:
            self._conn.execute("SELECT json_array_length('[]')")
        except sqlite3.OperationalError:
            self._conn.close()
            raise StoreError(f"{self.path}: this SQLite ({sqlite3.sqlite_version}) lacks the "
                             "JSON functions the store's views use") from None
        migrate(self._conn, str(self.path))
        self._known_tags = {r[0] for r in self._conn.execute("SELECT tag FROM tags")}
        recover(self._conn, self.pixels_path, self.transaction)
        try:
            self._sidecar = px.Sidecar(self.pixels_path)
        except OSError as exc:
            self._conn.close()
            raise StoreError(f"{self.pixels_path}: cannot open the pixel sidecar: "
                             f"{exc.strerror or exc}") from None
        self._audit = AuditWriter(lambda: self._connect(cache_mib=2), self._write_tx,
                                  str(self.path))

    def _connect(self, cache_mib: int = 64) -> sqlite3.Connection:
        """A connection in WAL mode with a busy timeout; ``cache_mib`` of page cache (the
        working set of lookups at 100,000 instances fits in the default)."""
        # switching a new database to WAL takes an exclusive lock and SQLite answers "locked"
        # at once, without its busy handler, while another process creates or migrates the
        # same store: wait for it as a write would
        deadline = time.monotonic() + 2 * self.busy_timeout
        delay = 0.01
        while True:
            conn = None
            try:
                conn = sqlite3.connect(self.path, timeout=self.busy_timeout,
                                       isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                conn.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
                conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
                return conn
            except sqlite3.OperationalError as exc:
                if conn is not None:
                    conn.close()
                if _busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                raise StoreError(f"{self.path}: cannot open as a SQLite store: {exc}") from None
            except sqlite3.DatabaseError as exc:
                if conn is not None:
                    conn.close()
                raise StoreError(f"{self.path}: cannot open as a SQLite store: {exc}") from None

    def _check(self) -> None:
        if self._closed:
            raise StoreError(f"{self.path}: store is closed")
        if os.getpid() != self._pid:  # forked: the parent's connection must not be shared
            self._open()

    def _write_tx(self, conn: sqlite3.Connection, fn: Op) -> None:
        """Run ``fn`` in one ``BEGIN IMMEDIATE`` transaction, retrying while the database is
        busy (another process writing) up to twice the busy timeout."""
        deadline = time.monotonic() + 2 * self.busy_timeout
        delay = 0.01
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if _busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                raise StoreError(f"{self.path}: cannot start a write: {exc}") from None
            try:
                fn(conn)
                conn.execute("COMMIT")
                return
            except sqlite3.OperationalError as exc:
                _rollback(conn)  # (SQLite rolled back itself on a full disk)
                if _busy(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.5)
                    continue
                raise StoreError(f"{self.path}: write failed: {exc}; what was committed "
                                 "before is kept: run the same command again to resume"
                                 ) from None
            except sqlite3.DatabaseError as exc:
                _rollback(conn)
                raise StoreError(f"{self.path}: write failed: {exc}") from None
            except BaseException:
                _rollback(conn)
                raise

    def _queue(self, op: Op) -> None:
        """Queue one write, applying the batch queued so far first when it is full or old.

        The batch is applied *before* the new write is queued, so the audit event a caller
        logs right after a write is queued before that write commits (see :meth:`_flush`).
        """
        if self._pending and (len(self._pending) >= self.batch_size
                              or time.monotonic() - self._pending_since >= self.max_delay):
            self._flush()
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(op)

    def _flush(self) -> None:
        """Apply queued writes in one transaction.

        Audit events queued so far are committed first, and the sidecar is fsync'd first when
        pixel entries are referenced: after a crash no committed result lacks its audit event
        or its pixel bytes (an event may repeat when work lost in a crash is redone).
        """
        if not self._pending:
            return
        ops = self._pending
        self._audit.flush()
        if self._pending_pixels:
            self._sidecar.sync()

        def apply(conn: sqlite3.Connection) -> None:
            self._tx_keys = (set(), set(), set())  # per attempt: a retry starts afresh
            self._forget_tx_ids()
            self._tx_next_value = 0
            self._tx_next_change = 0
            for op in ops:
                op(conn)
            if self._tx_new_values:
                conn.executemany("INSERT INTO element_values(id, path, tag, vr, value, number, "
                                 "data, creator) VALUES (?,?,?,?,?,?,?,?)", self._tx_new_values)
            if self._tx_headers:
                conn.executemany("INSERT INTO instance_headers(instance_id, value_ids) "
                                 "VALUES (?, ?)", self._tx_headers)

        try:
            self._write_tx(self._conn, apply)
        except BaseException:
            self._forget_tx_ids()  # rolled back: those ids may never exist
            raise
        finally:  # applied, or failed for good and reported: never replay a failing batch
            self._tx_values, self._tx_new_values, self._tx_headers = {}, [], []
            self._tx_changes = {}
            for memory in (self._value_ids, self._change_ids):
                if len(memory) > VALUE_CACHE:
                    memory.clear()
            self._pending = []
            self._pending_uids.clear()
            self._pending_sources.clear()
            self._pending_pixels = False

    def _forget_tx_ids(self) -> None:
        """Drop the ids the current transaction attempt assigned from the memories."""
        if self._tx_changes:  # remembered lists may name those changes' ids
            self._change_lists.clear()
        for added, memory in ((self._tx_values, self._value_ids),
                              (self._tx_changes, self._change_ids)):
            for key in added:
                memory.pop(key, None)
            added.clear()
        self._tx_new_values, self._tx_headers = [], []

    def _value_ids_text(self, c: sqlite3.Connection, rows: Sequence[Row]) -> str:
        """The ``instance_headers.value_ids`` of ``rows``: each row's ``element_values`` id,
        the row inserted (at the end of the transaction) when not known yet."""
        memory = self._value_ids
        known = memory.get
        ids = list(map(known, rows))  # the common case: every row seen before
        added = self._tx_values
        n = -1
        while True:
            try:
                n = ids.index(None, n + 1)  # a row new to the committed memory (a few)
            except ValueError:
                break
            key = rows[n]
            vid = known(key)  # an earlier row of this header
            if vid is None:
                if not self._tx_next_value:  # the write lock is held: no one else inserts
                    self._tx_next_value = c.execute(
                        "SELECT COALESCE(MAX(id), 0) + 1 FROM element_values").fetchone()[0]
                number = self._tx_next_value
                self._tx_next_value = number + 1
                vid = memory[key] = added[key] = str(number)
                self._tx_new_values.append((number, *key))
            ids[n] = vid
        return "[" + ",".join(ids) + "]"  # type: ignore[arg-type]

    def _change_list_text(self, c: sqlite3.Connection, changes: list[Change]) -> str:
        """:meth:`_change_ids_text` of a list of changes, remembered for the very objects in
        that order: results share the change objects an instance repeats (a series' instances
        have the same list), so a list met again costs one look-up, not one per change."""
        key = tuple(map(id, changes))
        found = self._change_lists.get(key)
        if found is not None:  # (the entry holds its changes: their ids are theirs alone)
            return found[1]
        text = self._change_ids_text(c, list(map(_CHANGE_KEY, changes)))
        if len(self._change_lists) >= 64:
            self._change_lists.clear()
        self._change_lists[key] = (changes, text)
        return text

    def _change_ids_text(self, c: sqlite3.Connection, keys: list[tuple[str, ...]]) -> str:
        """The ``instance_changes.value_ids`` of changes (new ones inserted)."""
        memory = self._change_ids
        ids = [memory.get(key) for key in keys]
        if None in ids:
            for n, key in enumerate(keys):
                vid = memory.get(key)  # (a change repeated in the list is inserted once)
                if vid is None:
                    vid = memory[key] = self._tx_changes[key] = str(c.execute(
                        "INSERT INTO change_values(action, tag, keyword, path, detail, "
                        "component) VALUES (?,?,?,?,?,?)", key).lastrowid)
                ids[n] = vid
        return "[" + ",".join(ids) + "]"  # type: ignore[arg-type]

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._check()
            self._flush()
            yield self._conn

    def _pages(self, sql: str, params: Sequence[Any] = (), *, start: int = -1,
               descending: bool = False) -> Iterator[sqlite3.Row | tuple]:
        """Stream ``sql`` (which selects ``id`` first and has ``id > ?`` — ``id < ?`` when
        ``descending`` — as its last parameter placeholder) page by page from ``start``
        (keyset paging over the rowid), holding the lock only per page."""
        last = start if start >= 0 or not descending else 2 ** 63 - 1
        order = "DESC" if descending else ""
        while True:
            with self._reading() as conn:
                rows = conn.execute(sql + f" ORDER BY id {order} LIMIT {PAGE}",
                                    (*params, last)).fetchall()
            if not rows:
                return
            yield from rows
            if len(rows) < PAGE:
                return
            last = rows[-1][0]

    # -- ingest ------------------------------------------------------------------------------
    def add_instance(self, instance: Instance, header: Dataset,
                     prepared: tuple[Any, ...] | None = None) -> AddOutcome:
        """Index one instance and its header rows; see :class:`gantry.protocols.Store`.

        ``prepared`` is :func:`header_rows` of ``header`` already computed (by an ingest
        worker, through the backend record's ``prepare``), optionally followed by
        :func:`~gantry_sqlite.rows.header_fields` of ``header``."""
        if prepared is None:
            prepared = header_rows(header)
        rows, digest = prepared[0], prepared[1]
        fields = prepared[2] if len(prepared) > 2 else None
        size, mtime = instance_stat(instance)
        uid = instance.sop_instance_uid
        now = time.time()
        with self._lock:
            self._check()
            known = self._pending_uids.get(uid)
            if known is None:
                row = self._conn.execute(
                    "SELECT header_sha256, size, source FROM instances WHERE sop_instance_uid=?",
                    (uid,)).fetchone()
                known = (row[0], row[1], row[2]) if row else None  # (the source as kept)
            source_row = (instance.source, size, mtime, uid, now)
            self._pending_sources[instance.source] = (size, mtime)
            if known is not None:
                if (known[0], known[1]) == (digest, instance.size):
                    self._queue(lambda c: upsert_source(c, *source_row, "duplicate"))
                    return "duplicate"
                conflict = (uid, known[2], db_source(instance.source), digest, instance.size,
                            now)
                self._queue(lambda c: (
                    c.execute("INSERT INTO conflicts(sop_instance_uid, kept_source, "
                              "conflicting_source, header_sha256, size, recorded_at) "
                              "VALUES (?,?,?,?,?,?)", conflict),
                    upsert_source(c, *source_row, "conflict")))
                return "conflict"
            self._pending_uids[uid] = (digest, instance.size, db_source(instance.source))
            new_tags = sorted(set(map(_TAG, rows)).difference(self._known_tags))
            self._known_tags.update(new_tags)
            record = instance_row(instance, header, digest, now)
            patient, study, series = hierarchy_rows(instance, header, fields)

            def op(c: sqlite3.Connection) -> None:
                cur = c.execute(INSERT_INSTANCE, record)
                if cur.rowcount == 1:
                    self._tx_headers.append((cur.lastrowid, self._value_ids_text(c, rows)))
                    # a key inserted (or found) earlier in this transaction: a no-op, skipped
                    patients, studies, series_seen = self._tx_keys
                    if patient[0] not in patients:
                        patients.add(patient[0])
                        c.execute("INSERT OR IGNORE INTO patients(patient_id, patient_name, "
                                  "issuer, birth_date) VALUES (?,?,?,?)", patient)
                    if study[0] not in studies:
                        studies.add(study[0])
                        c.execute("INSERT OR IGNORE INTO studies(study_instance_uid, patient_id,"
                                  " study_date, study_description, accession_number) "
                                  "VALUES (?,?,?,?,?)", study)
                    if series[0] not in series_seen:
                        series_seen.add(series[0])
                        c.execute("INSERT OR IGNORE INTO series(series_instance_uid, "
                                  "study_instance_uid, modality, series_description, "
                                  "series_number) VALUES (?,?,?,?,?)", series)
                    outcome = "added"
                else:  # another process added it since we looked
                    kept = c.execute("SELECT header_sha256, size, source FROM instances WHERE "
                                     "sop_instance_uid=?", (uid,)).fetchone()
                    outcome = "duplicate"
                    if (kept[0], kept[1]) != (digest, instance.size):
                        outcome = "conflict"
                        c.execute("INSERT INTO conflicts(sop_instance_uid, kept_source, "
                                  "conflicting_source, header_sha256, size, recorded_at) "
                                  "VALUES (?,?,?,?,?,?)",
                                  (uid, kept[2], db_source(instance.source), digest,
                                   instance.size, now))
                if new_tags:
                    c.executemany("INSERT OR IGNORE INTO tags(tag, keyword, name) "
                                  "VALUES (?,?,?)", [tag_row(t) for t in new_tags])
                upsert_source(c, *source_row, outcome)

            self._queue(op)
            return "added"

    def add_rejected(self, rejection: Rejection) -> None:
        """Record an input that was skipped, with the reason (and its ingest progress)."""
        size, mtime = source_stat(rejection.source)
        now = time.time()
        row = (db_source(rejection.source), rejection.reason, rejection.stage, now)
        with self._lock:
            self._check()
            self._pending_sources[rejection.source] = (size, mtime)
            self._queue(lambda c: (
                c.execute("INSERT INTO rejected(source, reason, stage, recorded_at) "
                          "VALUES (?,?,?,?)", row),
                upsert_source(c, rejection.source, size, mtime, None, now, "rejected")))

    def is_source_done(self, source: str, size: int, mtime: float) -> bool:
        """Whether this exact input (same size and mtime) was already ingested or rejected."""
        with self._lock:
            self._check()
            known = self._pending_sources.get(source)
            if known is None:
                row = self._conn.execute("SELECT size, mtime FROM sources WHERE source=?",
                                         (db_source(source),)).fetchone()
                known = (row[0], row[1]) if row else None
        return same_source(known, size, mtime)

    # -- reads -------------------------------------------------------------------------------
    def get_instance(self, sop_instance_uid: str) -> Instance | None:
        """The instance with this SOP Instance UID, or ``None``."""
        with self._reading() as conn:
            row = conn.execute(f"SELECT {INSTANCE_COLS} FROM instances WHERE "
                               "sop_instance_uid=?", (sop_instance_uid,)).fetchone()
        return instance_from_row(row) if row else None

    def get_header(self, sop_instance_uid: str) -> Dataset | None:
        """The stored header rebuilt from its element rows, or ``None``."""
        with self._reading() as conn:
            row = conn.execute("SELECT id FROM instances WHERE sop_instance_uid=?",
                               (sop_instance_uid,)).fetchone()
            if row is None:
                return None
            rows = conn.execute("SELECT v.path, v.tag, v.vr, v.value, v.data "
                                "FROM instance_headers h, json_each(h.value_ids) j "
                                "JOIN element_values v ON v.id = j.value "
                                "WHERE h.instance_id=? ORDER BY j.key", (row[0],)).fetchall()
        return rows_to_dataset(rows)

    def iter_instances(self, *, series_instance_uid: str | None = None,
                       sop_instance_uids: Iterable[str] | None = None,
                       after: str | None = None, reverse: bool = False) -> Iterator[Instance]:
        """Stream instances in ingest order (``reverse``: backwards), optionally of one series
        or of the given UIDs, optionally from right after the instance ``after`` (one page
        of an indexed range per read: ``instances_series`` holds the rowid)."""
        start = -1
        if after is not None:
            with self._reading() as conn:
                row = conn.execute("SELECT id FROM instances WHERE sop_instance_uid=?",
                                   (after,)).fetchone()
            if row is None:
                return
            start = row[0]
        if sop_instance_uids is not None:
            yield from self._iter_by_uids(sop_instance_uids, series_instance_uid, start,
                                          reverse)
            return
        where, params = "", []
        if series_instance_uid is not None:
            where, params = "series_instance_uid=? AND ", [series_instance_uid]
        sql = f"SELECT id, {INSTANCE_COLS} FROM instances WHERE {where}id{'<' if reverse else '>'}?"
        for row in self._pages(sql, params, start=start, descending=reverse):
            yield instance_from_row(row[1:])

    def _iter_by_uids(self, uids: Iterable[str], series: str | None, start: int = -1,
                      reverse: bool = False) -> Iterator[Instance]:
        ids: list[int] = []
        chunk: list[str] = []

        def resolve() -> None:
            with self._reading() as conn:
                marks = ",".join("?" * len(chunk))
                ids.extend(r[0] for r in conn.execute(
                    f"SELECT id FROM instances WHERE sop_instance_uid IN ({marks})", chunk))
            chunk.clear()

        for uid in uids:
            chunk.append(uid)
            if len(chunk) >= _CHUNK:
                resolve()
        if chunk:
            resolve()
        ids.sort(reverse=reverse)
        if start >= 0:
            ids = [i for i in ids if (i < start if reverse else i > start)]
        for at in range(0, len(ids), _CHUNK):
            part = ids[at:at + _CHUNK]
            marks = ",".join("?" * len(part))
            extra, params = ("", []) if series is None else (" AND series_instance_uid=?",
                                                             [series])
            with self._reading() as conn:
                rows = conn.execute(f"SELECT {INSTANCE_COLS} FROM instances WHERE id IN "
                                    f"({marks}){extra} ORDER BY id {'DESC' if reverse else ''}",
                                    (*part, *params)).fetchall()
            for row in rows:
                yield instance_from_row(row)

    def iter_patients(self) -> Iterator[Patient]:
        """Stream patients (with their study counts)."""
        from gantry.api import Patient

        sql = ("SELECT id, patient_id, patient_name, issuer, birth_date, (SELECT COUNT(*) FROM "
               "studies s WHERE s.patient_id = p.patient_id) FROM patients p WHERE id>?")
        for r in self._pages(sql):
            yield Patient(patient_id=r[1], patient_name=r[2] or "", issuer=r[3] or "",
                          birth_date=r[4] or "", study_count=r[5])

    def iter_studies(self, patient_id: str | None = None) -> Iterator[Study]:
        """Stream studies (with their series counts), optionally of one patient."""
        from gantry.api import Study

        where, params = ("patient_id=? AND ", [patient_id]) if patient_id is not None else ("", [])
        sql = ("SELECT id, study_instance_uid, patient_id, study_date, study_description, "
               "accession_number, (SELECT COUNT(*) FROM series r WHERE r.study_instance_uid = "
               f"s.study_instance_uid) FROM studies s WHERE {where}id>?")
        for r in self._pages(sql, params):
            yield Study(study_instance_uid=r[1], patient_id=r[2], study_date=r[3] or "",
                        study_description=r[4] or "", accession_number=r[5] or "",
                        series_count=r[6])

    def iter_series(self, study_instance_uid: str | None = None) -> Iterator[Series]:
        """Stream series (with their instance counts), optionally of one study."""
        from gantry.api import Series

        where, params = (("study_instance_uid=? AND ", [study_instance_uid])
                         if study_instance_uid is not None else ("", []))
        sql = ("SELECT id, series_instance_uid, study_instance_uid, modality, "
               "series_description, series_number, (SELECT COUNT(*) FROM instances i WHERE "
               f"i.series_instance_uid = r.series_instance_uid) FROM series r WHERE {where}id>?")
        for r in self._pages(sql, params):
            yield Series(series_instance_uid=r[1], study_instance_uid=r[2],
                         modality=r[3] or "", series_description=r[4] or "",
                         series_number=r[5], instance_count=r[6])

    def iter_rejected(self) -> Iterator[Rejection]:
        """Stream rejected inputs in the order recorded."""
        from gantry.api import Rejection

        for r in self._pages("SELECT id, source, reason, stage FROM rejected WHERE id>?"):
            yield Rejection(source=py_source(r[1]), reason=r[2], stage=r[3])

    def iter_conflicts(self) -> Iterator[tuple[str, str, str]]:
        """Stream ``(sop_instance_uid, kept_source, conflicting_source)``."""
        for r in self._pages("SELECT id, sop_instance_uid, kept_source, conflicting_source "
                             "FROM conflicts WHERE id>?"):
            yield (r[1], py_source(r[2]), py_source(r[3]))

    def counts(self) -> StoreCounts:
        """Record counts."""
        with self._reading() as conn:
            n = [conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("patients", "studies", "series", "instances", "rejected",
                           "conflicts")]
        return StoreCounts(*n)

    # -- findings, changes, status ------------------------------------------------------------
    def add_findings(self, sop_instance_uid: str, stage: str, findings: Sequence[Finding]) -> None:
        """Replace the findings of one instance for one stage."""
        rows = [(sop_instance_uid, stage, f.code, f.message, f.severity, f.tag, f.keyword,
                 f.path, f.component, json.dumps(list(f.box)) if f.box else None,
                 self._extra_text(f)) for f in findings]

        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM findings WHERE sop_instance_uid=? AND stage=?",
                      (sop_instance_uid, stage))
            c.executemany("INSERT INTO findings(sop_instance_uid, stage, code, message, "
                          "severity, tag, keyword, path, component, box, extra) "
                          "VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)

        self._write(op)

    def _extra_text(self, finding: Finding) -> str:
        """The ``extra`` column of a finding: its JSON, remembered for the object."""
        extra = finding.extra
        if type(extra) is dict and not extra:
            return "{}"
        known = self._extra_json.get(id(finding))
        if known is not None and known[0] is finding:
            return known[1]
        text = json.dumps(extra, sort_keys=True, default=str)
        if len(self._extra_json) >= 1024:
            self._extra_json.clear()
        self._extra_json[id(finding)] = (finding, text)
        return text

    def iter_findings(self, sop_instance_uid: str | None = None
                      ) -> Iterator[tuple[str, str, Finding]]:
        """Stream ``(sop_instance_uid, stage, finding)`` in the order recorded."""
        from gantry.api import Finding

        where, params = (("sop_instance_uid=? AND ", [sop_instance_uid])
                         if sop_instance_uid is not None else ("", []))
        sql = ("SELECT id, sop_instance_uid, stage, code, message, severity, tag, keyword, path,"
               f" component, box, extra FROM findings WHERE {where}id>?")
        for r in self._pages(sql, params):
            box = tuple(json.loads(r[10])) if r[10] else None
            yield r[1], r[2], Finding(code=r[3], message=r[4] or "", severity=r[5],
                                      tag=r[6] or "", keyword=r[7] or "", path=r[8] or "",
                                      component=r[9] or "", box=box,
                                      extra=json.loads(r[11]) if r[11] else {})

    def add_changes(self, sop_instance_uid: str, changes: Sequence[Change]) -> None:
        """Replace the recorded redaction changes of one instance."""
        changes = list(changes)

        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM instance_changes WHERE sop_instance_uid=?",
                      (sop_instance_uid,))
            if changes:  # ids continue after the highest one, as a table's row ids would
                first = self._tx_next_change or c.execute(
                    "SELECT COALESCE(MAX(id + count), 1) FROM (SELECT id, count FROM "
                    "instance_changes ORDER BY id DESC LIMIT 1)").fetchone()[0]
                self._tx_next_change = first + len(changes)  # (the write lock is held)
                c.execute("INSERT INTO instance_changes(id, sop_instance_uid, count, value_ids) "
                          "VALUES (?,?,?,?)", (first, sop_instance_uid, len(changes),
                                               self._change_list_text(c, changes)))

        self._write(op)

    def iter_changes(self, sop_instance_uid: str | None = None) -> Iterator[tuple[str, Change]]:
        """Stream ``(sop_instance_uid, change)`` in the order recorded."""
        from gantry.api import Change

        where, params = (("sop_instance_uid=? AND ", [sop_instance_uid])
                         if sop_instance_uid is not None else ("", []))
        sql = f"SELECT id, sop_instance_uid, value_ids FROM instance_changes WHERE {where}id>?"
        known: dict[int, Change] = {}
        for r in self._pages(sql, params):
            ids = json.loads(r[2])
            missing = list({i for i in ids if i not in known})
            for start in range(0, len(missing), _CHUNK):
                part = missing[start:start + _CHUNK]
                with self._reading() as conn:
                    for v in conn.execute(
                            "SELECT id, action, tag, keyword, path, detail, component FROM "
                            f"change_values WHERE id IN ({','.join('?' * len(part))})", part):
                        known[v[0]] = Change(action=v[1], tag=v[2] or "", keyword=v[3] or "",
                                             path=v[4] or "", detail=v[5] or "",
                                             component=v[6] or "")
            for i in ids:
                yield r[1], known[i]

    def set_status(self, sop_instance_uid: str, status: str) -> None:
        """Set an instance's status."""
        self._write(lambda c: c.execute("UPDATE instances SET status=? WHERE sop_instance_uid=?",
                                        (status, sop_instance_uid)))

    def get_status(self, sop_instance_uid: str) -> str | None:
        """An instance's status, or ``None``."""
        with self._reading() as conn:
            row = conn.execute("SELECT status FROM instances WHERE sop_instance_uid=?",
                               (sop_instance_uid,)).fetchone()
        return row[0] if row else None

    def status_counts(self) -> dict[str, int]:
        """Instances per status (``ingested`` when none was set), in one query."""
        with self._reading() as conn:
            rows = conn.execute("SELECT COALESCE(status, 'ingested'), COUNT(*) FROM instances "
                                "GROUP BY 1").fetchall()
        return {str(status): int(n) for status, n in rows}

    def _write(self, op: Op) -> None:
        with self._lock:
            self._check()
            self._queue(op)

    # -- exports -----------------------------------------------------------------------------
    def record_export(self, record: ExportRecord) -> None:
        """Record one output written; a newer record for the same instance and destination
        replaces the older one."""
        row = (record.sop_instance_uid, record.destination, record.new_sop_instance_uid,
               record.path, record.size, record.sha256, record.format, time.time(),
               record.mtime_ns, json.dumps(record.fields) if record.fields else "")
        self._write(lambda c: c.execute(
            "INSERT INTO exports(sop_instance_uid, destination, new_sop_instance_uid, path, size,"
            " sha256, format, recorded_at, mtime_ns, fields) VALUES (?,?,?,?,?,?,?,?,?,?) "
            "ON CONFLICT(sop_instance_uid, destination) DO UPDATE SET "
            "new_sop_instance_uid=excluded.new_sop_instance_uid, path=excluded.path, "
            "size=excluded.size, sha256=excluded.sha256, format=excluded.format, "
            "recorded_at=excluded.recorded_at, mtime_ns=excluded.mtime_ns, "
            "fields=excluded.fields", row))

    def exported_uids(self, destination: str) -> set[str]:
        """Original SOP Instance UIDs already exported to ``destination``."""
        with self._reading() as conn:
            return {r[0] for r in conn.execute(
                "SELECT sop_instance_uid FROM exports WHERE destination=?", (destination,))}

    def iter_exports(self, destination: str | None = None) -> Iterator[ExportRecord]:
        """Stream export records in the order first written."""
        from gantry.api import ExportRecord

        where, params = (("destination=? AND ", [destination]) if destination is not None
                         else ("", []))
        sql = ("SELECT id, sop_instance_uid, new_sop_instance_uid, destination, path, size, "
               f"sha256, format, mtime_ns, fields FROM exports WHERE {where}id>?")
        for r in self._pages(sql, params):
            yield ExportRecord(sop_instance_uid=r[1], new_sop_instance_uid=r[2] or "",
                               destination=r[3], path=r[4] or "", size=r[5], sha256=r[6] or "",
                               format=r[7] or "dicom", mtime_ns=r[8] or 0,
                               fields=_fields(r[9]))

    # -- decisions -----------------------------------------------------------------------------
    def add_decisions(self, decisions: Sequence[Decision]) -> None:
        """Append reviewers' decisions (in one write; the history is kept)."""
        now = time.time()
        rows = [(d.sop_instance_uid, d.action, d.reason, d.who, d.time or now, d.scope,
                 d.decision_id) for d in decisions]
        self._write(lambda c: c.executemany(
            "INSERT INTO decisions(sop_instance_uid, action, reason, who, time, scope, "
            "decision_id) VALUES (?,?,?,?,?,?,?)", rows))

    def iter_decisions(self, sop_instance_uid: str | None = None) -> Iterator[Decision]:
        """Stream decisions in the order recorded, optionally of one instance."""
        from gantry.api import Decision

        where, params = (("sop_instance_uid=? AND ", [sop_instance_uid])
                         if sop_instance_uid is not None else ("", []))
        sql = ("SELECT id, sop_instance_uid, action, reason, who, time, scope, decision_id "
               f"FROM decisions WHERE {where}id>?")
        for r in self._pages(sql, params):
            yield Decision(sop_instance_uid=r[1], action=r[2], reason=r[3] or "", who=r[4] or "",
                           time=r[5] or 0.0, scope=r[6] or "instance", decision_id=r[7] or "")

    # -- audit log -----------------------------------------------------------------------------
    def log_event(self, event: AuditEvent) -> None:
        """Queue one audit event for the writer thread (returns at once)."""
        if not event.time:
            from dataclasses import replace

            event = replace(event, time=time.time())
        with self._lock:
            self._check()
            audit = self._audit
        audit.put(event)

    def iter_events(self, kind: str | None = None) -> Iterator[AuditEvent]:
        """Stream the audit log in order (after flushing queued events), optionally the events
        of one ``kind`` (through ``events_kind``)."""
        from gantry.api import AuditEvent

        with self._lock:
            self._check()
            audit = self._audit
        audit.flush()
        where, params = ("kind=? AND ", [kind]) if kind is not None else ("", [])
        for r in self._pages("SELECT id, time, run_id, kind, subject, detail FROM events "
                             f"WHERE {where}id>?", params):
            yield AuditEvent(kind=r[3], subject=r[4] or "",
                             detail=json.loads(r[5]) if r[5] else {}, run_id=r[2] or "",
                             time=r[1])

    # -- pixels --------------------------------------------------------------------------------
    def put_pixels(self, key: str, array: np.ndarray, meta: PixelMeta) -> None:
        """Append modified pixel data to the sidecar; the row pointing at it is batched."""
        blob, header = px.encode_entry(key, array, meta)
        with self._lock:
            self._check()
            offset = self._sidecar.append(blob)
            self._pending_pixels = True
            row = (key, offset, len(blob), header["dtype"], json.dumps(header["shape"]),
                   header["frames"], header["photometric"], header["compression"],
                   header["sha256"], json.dumps(header["extra"], default=str), time.time())
            self._queue(lambda c: c.execute(
                "INSERT OR REPLACE INTO pixels(key, offset, length, dtype, shape, frames, "
                "photometric, compression, sha256, extra, recorded_at) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?)", row))

    def get_pixels(self, key: str) -> tuple[np.ndarray, PixelMeta] | None:
        """The pixel data kept under ``key``, verified against its sha256, or ``None``."""
        with self._reading() as conn:
            row = conn.execute("SELECT offset, length FROM pixels WHERE key=?",
                               (key,)).fetchone()
            if row is None:
                return None
            return self._sidecar.read(key, row[0], row[1])

    # -- extras --------------------------------------------------------------------------------
    def sql(self, query: str, params: Sequence[Any] | dict[str, Any] = ()) -> SqlResult:
        """Run one read-only SQL statement; rows stream from a separate read-only connection.

        Tables: ``patients``, ``studies``, ``series``, ``instances`` (with key-attribute
        columns), ``elements`` / the ``header`` view (every header element: tag, keyword, VR,
        value), ``findings``, ``changes``, ``exports``, ``rejected``, ``conflicts``,
        ``events``, ``pixels``. Writing statements fail with :class:`StoreError`.
        """
        with self._lock:
            self._check()
            self._flush()
        self._audit.flush()
        uri = f"file:{self.path}?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout,
                               check_same_thread=False)
        conn.execute("PRAGMA query_only=ON")
        try:
            cur = conn.execute(query, params)
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"{self.path}: SQL error: {exc}") from None
        columns = [d[0] for d in cur.description or ()]

        def rows() -> Iterator[tuple[Any, ...]]:
            try:
                while True:
                    batch = cur.fetchmany(PAGE)
                    if not batch:
                        return
                    yield from batch
            finally:
                conn.close()

        return SqlResult(columns, rows())

    # -- maintenance (gantry_sqlite.maintenance) -------------------------------------------------
    @property
    def connection(self) -> sqlite3.Connection:
        """The store's write connection, for maintenance holding :meth:`exclusive`."""
        return self._conn

    def transaction(self, fn: Op) -> None:
        """Run ``fn(connection)`` in one ``BEGIN IMMEDIATE`` transaction on the store's
        connection, retrying while another process writes."""
        with self._lock:
            self._check()
            self._write_tx(self._conn, fn)

    @contextmanager
    def exclusive(self, purpose: str, *, subject: Path | None = None) -> Iterator[px.Sidecar]:
        """Hold the store for this session alone while ``purpose`` (``"compacting"``...) runs:
        queued writes and audit events committed, the sidecar fsync'd and locked exclusively;
        yields the sidecar. Raises :class:`StoreError` (naming ``subject``, by default the
        database) when another session has the store open."""
        with self._lock:
            self._check()
            self._flush()
            self._audit.flush()
            sidecar = self._sidecar
            sidecar.sync()
            if not sidecar.try_exclusive():
                sidecar.release_exclusive()
                raise StoreError(f"{subject or self.path}: the store is open in another session; "
                                 f"close it before {purpose}")
            try:
                yield sidecar
            finally:
                sidecar.release_exclusive()

    def forget_value_ids(self) -> None:
        """Drop the remembered ``element_values`` ids (after maintenance deleted rows, whose
        ids SQLite may hand out again)."""
        self._value_ids.clear()

    # -- lifecycle -------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Commit queued writes and audit events, fsync the sidecar and checkpoint the WAL."""
        with self._lock:
            self._check()
            self._flush()
            self._sidecar.sync()
            audit = self._audit
        audit.flush()
        with self._lock:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path}: checkpoint failed: {exc}") from None

    def close(self) -> None:
        """Checkpoint and release the connection, the writer thread and the sidecar."""
        with self._lock:
            if self._closed:
                return
            if os.getpid() != self._pid:
                self._closed = True
                return
            try:
                self._flush()
            finally:
                self._closed = True
                try:
                    self._audit.close()
                finally:
                    self._sidecar.close()
                    try:
                        self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.DatabaseError:
                        pass
                    self._conn.close()

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the store for one run that writes it (ingest, audit, redact, export): a second
        process that asks meanwhile is refused with a :class:`StoreError` naming the holder,
        instead of both runs counting each other's inputs as duplicates. Re-entrant in this
        process; released when the run ends (or its process dies: an advisory ``flock`` on
        ``<db>.lock``)."""
        import fcntl

        if self._run_depth:
            self._run_depth += 1
            try:
                yield
            finally:
                self._run_depth -= 1
            return
        path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(f"{self.path}: in use by another gantry run (pid {holder}); run "
                             "this again when it has finished") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._run_depth = 1
        try:
            yield
        finally:
            self._run_depth = 0
            os.ftruncate(fd, 0)
            os.close(fd)  # (closing releases the lock)

    def __enter__(self) -> SqliteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({self.url!r})"


def _busy(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _create_private_file(path: Path) -> None:
    """Create the database file owner-only (0600) before SQLite opens it."""
    if path.exists():
        if path.is_dir():
            raise StoreError(f"{path}: is a folder, not a SQLite store file")
        return
    try:
        from gantry.api import private_dir

        if not path.parent.exists():
            private_dir(path.parent)  # the store holds original headers: owner-only
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(f"{path}: cannot create the store: {exc.strerror or exc}") from None
    os.close(fd)


__all__ = ["SqlResult", "SqliteStore", "path_from_url", "sidecar_path", "url_for_path"]


def _fields(text: str | None) -> tuple[tuple[str, str], ...]:
    """An export's recorded key header values (``exports.fields``), back as pairs."""
    if not text:
        return ()
    return tuple((str(keyword), str(value)) for keyword, value in json.loads(text))
