"""``gantry listen``: a storage SCP that de-identifies what it receives.

Threads: pynetdicom serves each association on its own thread; their C-STORE handler checks
the data set (its header must parse, and name the SOP instance the command announced),
writes it whole into the spool's ``inbox`` (see :mod:`gantry_pacs.spool`) and only then answers
Success; nothing else is kept in memory, so an association holds one instance (the one in
transfer) at a time. The main thread owns the session: it moves what arrived into a numbered
batch folder and runs ``session.deidentify(batch, DEST)`` (or ``session.ingest`` without a
DEST) on it, and writes the audit events the association threads queue.

``group: instance`` (the default) makes a batch of whatever has arrived whenever the main
thread is free (so instances are de-identified and exported as they complete); ``group:
study`` keeps each study in the inbox until no instance of it arrived for
``study_stable_seconds``, then processes the whole study in one batch (an exporter that needs
whole studies, or a site that wants a study out together).

A batch is done when its marker file ``<batch>.done`` exists; on start, batches without one
and files left in the inbox are processed first, and ``.part`` files (a crash in the middle of
a write) are removed: a restart loses nothing that was acknowledged. SIGTERM or Ctrl-C stops
accepting associations, lets those in flight finish for ``shutdown_grace`` seconds (then
aborts them: their unacknowledged instance is the sender's to send again), processes
everything acknowledged, and exits.
"""

from __future__ import annotations

import io
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gantry_pacs.scp import make_storage_ae, peer_of
from gantry_pacs.spool import encoded_instance, remove_partials, write_instance
from gantry_pacs.url import is_uid

if TYPE_CHECKING:
    from gantry.api import Session
    from gantry_pacs.settings import PacsSettings

Say = Callable[[str], None]


@dataclass
class AssocStats:
    """What one association did."""

    peer: str
    started: float
    received: int = 0
    refused: int = 0


@dataclass
class ListenerReport:
    """Totals over the listener's life."""

    associations: int = 0
    refused_associations: int = 0
    received: int = 0
    refused: int = 0
    batches: int = 0
    exported: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Listener:
    """A de-identifying storage SCP bound to one session and one destination."""

    def __init__(self, session: Session, settings: PacsSettings, *, aet: str, host: str,
                 port: int, dest: str | None, fmt: str = "dicom", tls: bool = False,
                 say: Say | None = None) -> None:
        self.session = session
        self.settings = settings
        self.aet = aet
        self.host = host
        self.port = port
        self.dest = dest
        self.fmt = fmt
        self.tls = tls
        self.say = say or (lambda line: print(line, file=sys.stderr, flush=True))
        from gantry_pacs.settings import spool_root

        self.root = os.path.join(spool_root(settings), "listen", aet)
        self.inbox = os.path.join(self.root, "inbox")
        self.batches = os.path.join(self.root, "batches")
        os.makedirs(self.inbox, mode=0o700, exist_ok=True)
        os.makedirs(self.batches, mode=0o700, exist_ok=True)
        self.report = ListenerReport()
        self._events: queue.Queue[tuple[str, str, dict[str, Any]]] = queue.Queue()
        self._arrived = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._assocs: dict[int, AssocStats] = {}
        self._last_seen: dict[str, float] = {}  # study folder -> last arrival (group: study)
        self._server: Any = None
        self._failed_batches: dict[str, float] = {}  # batch -> when to try again

    # -- receiving (association threads) -------------------------------------------------
    def _allowed_host(self, address: str) -> bool:
        return not self.settings.allowed_hosts or address in self.settings.allowed_hosts

    def _refuse_host(self, address: str) -> None:
        """A connection from an address not in ``allowed_hosts`` (closed unanswered)."""
        self._queue_event("association-refused", {"host": address,
                                                 "reason": "host not allowed"})
        self.say(f"gantry listen: refused a connection from {address}: host not in "
                 "allowed_hosts")
        with self._lock:
            self.report.refused_associations += 1

    def _on_established(self, event: Any) -> None:
        stats = AssocStats(peer_of(event), time.time())
        with self._lock:
            self._assocs[id(event.assoc)] = stats
            self.report.associations += 1
        self._queue_event("association-accepted", {"peer": stats.peer})

    def _on_rejected(self, event: Any) -> None:
        who = peer_of(event)
        with self._lock:
            self.report.refused_associations += 1
        self._queue_event("association-refused", {"peer": who,
                                                 "reason": "calling AE title not allowed"})
        self.say(f"gantry listen: refused an association from {who}: calling AE title not in "
                 "allowed_aets")

    def _on_closed(self, kind: str) -> Callable[[Any], None]:
        def handle(event: Any) -> None:
            with self._lock:
                stats = self._assocs.pop(id(event.assoc), None)
            if stats is None:
                return
            self._queue_event(f"association-{kind}", {
                "peer": stats.peer, "received": stats.received, "refused": stats.refused,
                "seconds": round(time.time() - stats.started, 3)})
            if kind == "aborted":
                self.say(f"gantry listen: {stats.peer}: association aborted after "
                         f"{stats.received} instance(s) (what was acknowledged is kept)")
        return handle

    def _on_store(self, event: Any) -> int:
        stats = self._assocs.get(id(event.assoc))
        who = stats.peer if stats else peer_of(event)
        sop = str(event.request.AffectedSOPInstanceUID or "")
        try:
            data = encoded_instance(event)
            study = _check(data, sop)
        except ValueError as exc:
            with self._lock:
                self.report.refused += 1
                if stats:
                    stats.refused += 1
            self._queue_event("store-refused", {"peer": who, "reason": str(exc)})
            self.say(f"gantry listen: {who}: C-STORE refused (0xC000): {exc}")
            return 0xC000
        folder = self.inbox if self.settings.group == "instance" else \
            os.path.join(self.inbox, study)
        try:
            write_instance(folder, f"{sop}.dcm", data, fsync=self.settings.fsync)
        except OSError as exc:
            self.say(f"gantry listen: {who}: cannot write {sop} to the spool: {exc}")
            return 0xA700
        with self._lock:
            self.report.received += 1
            if stats:
                stats.received += 1
            if self.settings.group == "study":
                self._last_seen[folder] = time.monotonic()
        self._arrived.set()
        return 0x0000

    def _queue_event(self, kind: str, detail: dict[str, Any]) -> None:
        self._events.put((kind, f"{self.aet}", detail))

    # -- the main thread -----------------------------------------------------------------
    def start(self) -> None:
        """Recover what an earlier run left, then listen."""
        from pynetdicom import evt

        from gantry_pacs.net import PeerError, server_tls

        removed = remove_partials(self.root)
        if removed:
            self.say(f"gantry listen: removed {removed} partial file(s) of an interrupted run")
        ae = make_storage_ae(self.settings, self.aet)
        if self.settings.allowed_aets:
            ae.require_calling_aet = list(self.settings.allowed_aets)
        handlers = [(evt.EVT_C_STORE, self._on_store),
                    (evt.EVT_ESTABLISHED, self._on_established),
                    (evt.EVT_REJECTED, self._on_rejected),
                    (evt.EVT_RELEASED, self._on_closed("released")),
                    (evt.EVT_ABORTED, self._on_closed("aborted"))]
        context = server_tls(self.settings) if self.tls else None
        try:
            self._server = _serve(ae, (self.host, self.port), context, handlers,
                                  self._allowed_host, self._refuse_host)
        except OSError as exc:
            raise PeerError(f"gantry listen: cannot listen on {self.host}:{self.port}: "
                            f"{exc}") from None
        self._queue_event("listener-started", {"port": self.port, "tls": self.tls})

    def serve(self) -> ListenerReport:
        """Process batches until stopped (SIGTERM, SIGINT or :meth:`stop`), then finish."""
        self._recover()
        try:
            while not self._stop.is_set():
                self._arrived.wait(timeout=0.5)
                self._arrived.clear()
                self._flush_events()
                self._process_ready(final=False)
                self._retry_failed()
        finally:
            self._shutdown()
        return self.report

    def stop(self, *_: Any) -> None:
        """Ask the listener to stop (safe from a signal handler or another thread)."""
        self._stop.set()
        self._arrived.set()

    def install_signal_handlers(self) -> None:
        """SIGTERM and SIGINT stop the listener cleanly."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)

    def _shutdown(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            deadline = time.monotonic() + self.settings.shutdown_grace
            server.shutdown()  # no new associations; those in flight go on
            while server.active_associations and time.monotonic() < deadline:
                time.sleep(0.1)
            for assoc in list(server.active_associations):
                assoc.abort()
            server.server_close()
        self._flush_events()
        self._process_ready(final=True)
        self._queue_event("listener-stopped", {
            "received": self.report.received, "refused": self.report.refused,
            "exported": self.report.exported, "failed": self.report.failed})
        self._flush_events()

    def _flush_events(self) -> None:
        from gantry.api import AuditEvent

        while True:
            try:
                kind, subject, detail = self._events.get_nowait()
            except queue.Empty:
                return
            self.session.store.log_event(AuditEvent(
                kind=f"pacs-{kind}", subject=subject, detail=detail,
                run_id=self.session.run.run_id, time=time.time()))

    def _recover(self) -> None:
        """Batches an earlier run did not finish, processed before anything new."""
        pending = sorted(name for name in os.listdir(self.batches)
                         if os.path.isdir(os.path.join(self.batches, name))
                         and not os.path.exists(os.path.join(self.batches, f"{name}.done")))
        for name in pending:
            self.say(f"gantry listen: resuming batch {name} of an earlier run")
            self._run_batch(os.path.join(self.batches, name))

    def _process_ready(self, *, final: bool) -> None:
        """Batches of what arrived: loose files (``group: instance``, or left by such a run)
        at once; study folders when stable (or all of them at shutdown, or when the group is
        ``instance`` now: left by an earlier ``group: study`` run)."""
        while True:
            files = _inbox_files(self.inbox, self.settings.batch_size)
            if not files:
                break
            self._run_batch(self._make_batch(files))
        final = final or self.settings.group == "instance"
        now = time.monotonic()
        for name in sorted(os.listdir(self.inbox)):
            folder = os.path.join(self.inbox, name)
            if not os.path.isdir(folder):
                continue
            with self._lock:
                last = self._last_seen.get(folder)
            if not final and last is not None and \
                    now - last < self.settings.study_stable_seconds:
                continue
            files = _inbox_files(folder, None)
            if files:
                self._run_batch(self._make_batch(files))
            with self._lock:
                if self._last_seen.get(folder) == last:
                    self._last_seen.pop(folder, None)
                    try:
                        os.rmdir(folder)
                    except OSError:
                        pass  # something new arrived meanwhile: its own batch later

    def _make_batch(self, files: list[str]) -> str:
        taken = [int(n) for n in os.listdir(self.batches) if n.isdigit()]
        batch = os.path.join(self.batches, f"{max(taken, default=0) + 1:08d}")
        os.makedirs(batch, mode=0o700)
        for path in files:
            os.replace(path, os.path.join(batch, os.path.basename(path)))
        return batch

    def _run_batch(self, batch: str) -> None:
        """De-identify and export (or only ingest) one batch; mark it done when nothing
        failed, else try again later."""
        name = os.path.basename(batch)
        try:
            if self.dest is None:
                summaries = [self.session.ingest(batch)]
            else:
                summaries = self.session.deidentify(batch, self.dest, format=self.fmt)
        except Exception as exc:  # an unusable destination: keep the batch, say why
            self.report.errors.append(f"batch {name}: {exc}")
            self.say(f"gantry listen: batch {name}: {exc} (kept; tried again later)")
            self._failed_batches[batch] = time.monotonic() + self.settings.retry_failed_every
            return
        self.report.batches += 1
        export = summaries[-1]
        failed = sum(s.failed + s.rejected for s in summaries)
        if self.dest is not None:
            self.report.exported += export.done
        self.report.failed += failed
        for line in (e for s in summaries for e in s.errors[:20]):
            self.say(f"gantry listen: batch {name}: {line}")
        done = summaries[0].done + summaries[0].duplicates
        self.say(f"gantry listen: batch {name}: {done} ingested"
                 + (f", {export.done} exported to {self.dest}" if self.dest else "")
                 + (f", {failed} failed" if failed else ""))
        if failed and any(s.failed for s in summaries[1:]):
            self._failed_batches[batch] = time.monotonic() + self.settings.retry_failed_every
            return
        self._failed_batches.pop(batch, None)
        with open(f"{batch}.done", "w") as fh:
            fh.write("done\n")

    def _retry_failed(self) -> None:
        now = time.monotonic()
        for batch, when in sorted(self._failed_batches.items()):
            if when <= now and not self._stop.is_set():
                self._run_batch(batch)


def _serve(ae: Any, address: tuple[str, int], context: Any, handlers: list[Any],
           allowed: Callable[[str], bool], refused: Callable[[str], None]) -> Any:
    """Serve ``ae`` on ``address`` from a thread; connections from addresses ``allowed``
    refuses are closed before a byte is read (and reported to ``refused``)."""
    import socketserver

    from pynetdicom.transport import ThreadedAssociationServer

    class Server(ThreadedAssociationServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            if allowed(client_address[0]):
                return True
            refused(client_address[0])
            return False

        def shutdown(self) -> None:
            socketserver.BaseServer.shutdown(self)
            self.server_close()

    server = ae.make_server(address, ssl_context=context, evt_handlers=handlers,
                            server_class=Server)
    thread = threading.Thread(target=server.serve_forever, name="gantry-listen", daemon=True)
    thread.start()
    return server


def _inbox_files(folder: str, limit: int | None) -> list[str]:
    out = []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except FileNotFoundError:
        return out
    for entry in entries:
        if entry.is_file() and not entry.name.startswith("."):
            out.append(entry.path)
            if limit is not None and len(out) >= limit:
                break
    return out


def _check(data: bytes, sop: str) -> str:
    """The Study Instance UID of a received instance; :class:`ValueError` when its header
    does not parse or does not name the announced SOP instance."""
    from pydicom import dcmread

    if not is_uid(sop):
        raise ValueError(f"the command's SOP Instance UID {sop!r} is not a UID")
    try:
        ds = dcmread(io.BytesIO(data), stop_before_pixels=True)
        found = str(ds.get("SOPInstanceUID", "") or "")
        study = str(ds.get("StudyInstanceUID", "") or "")
    except Exception as exc:
        raise ValueError(f"{sop}: the data set does not parse ({type(exc).__name__}: "
                         f"{exc})") from None
    if found != sop:
        raise ValueError(f"{sop}: the data set names another SOP instance ({found or 'none'})")
    if not is_uid(study):
        raise ValueError(f"{sop}: the data set has no valid Study Instance UID")
    return study

