"""Storage Commitment Push Model (PS3.4 Annex J) as the SCU: ask, then wait for the report.

After its C-STOREs, the exporter sends one N-ACTION (action type 1) naming every instance
sent on the unit, under a new Transaction UID; the peer answers at once, then confirms later
by an N-EVENT-REPORT that lists each instance as committed (Referenced SOP Sequence) or failed
(Failed SOP Sequence, with a Failure Reason). The report comes on the same association, or
on a new one the peer opens to our AE title (Orthanc does: at the host and port it has for
us), for which :func:`report_listener` runs a small SCP on ``commitment_port`` while we wait.

Several worker processes may export to one peer at once, and only one of them can listen on
the port: a lock file serialises the ask-and-wait step per port (it lasts as long as the peer
takes to answer). A report for a transaction this process does not wait for is answered
Success and ignored: its instances already failed when their wait ran out.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gantry_pacs.net import PeerError, server_tls, status_of

if TYPE_CHECKING:
    from gantry_pacs.settings import PacsSettings
    from gantry_pacs.url import Peer

#: the Storage Commitment Push Model SOP class and its well-known SOP instance
PUSH_MODEL = "1.2.840.10008.1.20.1"
PUSH_MODEL_INSTANCE = "1.2.840.10008.1.20.1.1"
#: Failure Reason (0008,1197) values, PS3.3 C.14.1.1
FAILURE_REASONS = {0x0110: "processing failure", 0x0112: "no such object instance",
                   0x0213: "resource limitation", 0x0122: "referenced SOP class not supported",
                   0x0119: "class/instance conflict", 0x0131: "duplicate transaction UID"}


@dataclass
class Outcome:
    """What the report said: the committed SOP instances and the failed ones with why."""

    committed: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)


class Reports:
    """Reports received (on any association), by Transaction UID, for whoever waits."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._got: dict[str, Outcome] = {}
        self.wanted: set[str] = set()

    def handler(self, event: Any) -> tuple[int, None]:
        """``EVT_N_EVENT_REPORT``: keep the report of a transaction we wait for."""
        info = event.event_information
        uid = str(getattr(info, "TransactionUID", "") or "")
        outcome = Outcome()
        for item in getattr(info, "ReferencedSOPSequence", None) or ():
            outcome.committed.add(str(item.get("ReferencedSOPInstanceUID", "")))
        for item in getattr(info, "FailedSOPSequence", None) or ():
            code = item.get("FailureReason")
            reason = (f"0x{int(code):04X} ({FAILURE_REASONS.get(int(code), 'failure')})"
                      if code is not None else "no failure reason given")
            outcome.failed[str(item.get("ReferencedSOPInstanceUID", ""))] = reason
        with self._cond:
            if uid in self.wanted:
                self._got[uid] = outcome
                self._cond.notify_all()
        return 0x0000, None

    def expect(self, uid: str) -> None:
        """Keep the report of transaction ``uid`` when it comes."""
        with self._cond:
            self.wanted.add(uid)

    def wait(self, uid: str, timeout: float) -> Outcome | None:
        """The report of transaction ``uid``, or ``None`` after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while uid not in self._got:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
            self.wanted.discard(uid)
            return self._got.pop(uid)


@contextlib.contextmanager
def report_listener(settings: PacsSettings, peer: Peer, reports: Reports,
                    lock_dir: str) -> Iterator[None]:
    """While inside: our AE listens on ``commitment_port`` (when set) for reports the peer
    sends on a new association; one process at a time per port (a lock file in
    ``lock_dir``)."""
    port = settings.commitment_port
    if port is None:
        yield
        return
    import socketserver

    from pynetdicom import evt
    from pynetdicom.transport import ThreadedAssociationServer

    from gantry_pacs.net import make_ae

    path = os.path.join(lock_dir, f"commitment-{port}.lock")
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ae = make_ae(settings)
        ae.add_supported_context(PUSH_MODEL, scu_role=True, scp_role=True)
        try:
            server = ae.make_server(
                (settings.bind_host, port), server_class=ThreadedAssociationServer,
                evt_handlers=[(evt.EVT_N_EVENT_REPORT, reports.handler)],
                ssl_context=server_tls(settings) if peer.tls else None)
        except OSError as exc:
            raise PeerError(f"{peer}: cannot listen for its storage commitment report on "
                            f"{settings.bind_host}:{port} (plugins.pacs.commitment_port): "
                            f"{exc.strerror or exc}") from None
        # our own loop, polling often: stopping it after each unit must not cost the
        # half second pynetdicom's own serve_forever would
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02},
                                  name=f"gantry-commitment-{port}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            socketserver.BaseServer.shutdown(server)
            server.server_close()
            thread.join(5)


def request(assoc: Any, peer: Peer, instances: Sequence[tuple[str, str]], reports: Reports,
            transaction_uid: str) -> None:
    """Send the N-ACTION asking ``peer`` to commit ``instances`` ((SOP class, SOP instance)
    pairs) under ``transaction_uid``; :class:`PeerError` when it does not answer Success."""
    from pydicom import Dataset

    ds = Dataset()
    ds.TransactionUID = transaction_uid
    items = []
    for sop_class, sop_uid in instances:
        item = Dataset()
        item.ReferencedSOPClassUID = sop_class
        item.ReferencedSOPInstanceUID = sop_uid
        items.append(item)
    ds.ReferencedSOPSequence = items
    reports.expect(transaction_uid)
    status, _reply = assoc.send_n_action(ds, 1, PUSH_MODEL, PUSH_MODEL_INSTANCE)
    code = status_of(status)
    if code is None:
        raise PeerError(f"{peer}: storage commitment request (N-ACTION) got no answer (the "
                        "association was aborted or timed out)")
    if code != 0:
        raise PeerError(f"{peer}: storage commitment request (N-ACTION) refused with status "
                        f"0x{code:04X}")


def supports(assoc: Any) -> bool:
    """Whether the peer accepted the Storage Commitment Push Model on ``assoc``."""
    return any(cx.abstract_syntax == PUSH_MODEL for cx in assoc.accepted_contexts)
