"""The ``dimse`` exporter: C-STORE each de-identified instance to a peer.

One association per unit of work (a series), opened on the first instance. Its presentation
contexts are negotiated from the instances' own SOP classes and transfer syntaxes: for each
SOP class, one context per transfer syntax seen, plus a fallback offering explicit and
implicit VR little endian. An instance goes in its own syntax when the peer accepts it (the
bytes as encoded, never decoded); otherwise it is converted to what the peer accepted,
decompressing only then. A new SOP class or syntax met later re-negotiates.

An instance is recorded as exported only when the peer answered Success, or one of the
warnings PS3.4 B.2.3 names for C-STORE (0xB000 coercion of data elements, 0xB006 elements
discarded, 0xB007 data set does not match SOP class) while ``accept_warnings`` is on. A
connection that fails or drops is retried (``retries``); a refusal status is not (the peer
said no) and fails that instance with the status. A peer that cannot be reached after the
retries fails the rest of the unit at once, each instance with the same one-line error.

Storage Commitment (``commitment``; see :mod:`gantry_pacs.commit`): when it asks (``required``,
or ``if-supported`` with a ``commitment_port``), every association also proposes the Push
Model; when the peer accepts it, instances it stored
are held (``write`` returns ``None``) and, after the unit's last instance,
:meth:`DimseSink.finish_series` asks the peer to commit them all and waits for its report:
only those it committed are recorded as exported, the others fail with the peer's reason
(or the timeout). ``required`` fails, before sending, every instance to a peer that does not
accept the Push Model.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gantry.api import DicomFolderSink, ExportError, ExportRecord, SeriesOutcome
from gantry_pacs import commit
from gantry_pacs.net import UNCOMPRESSED, PeerError, associate, make_ae, release, status_of
from gantry_pacs.settings import load_settings, spool_root
from gantry_pacs.url import UrlError, parse_url

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import ExportTarget, InstanceContext, Run
    from gantry_pacs.settings import PacsSettings

#: C-STORE warning statuses that still mean "stored" (PS3.4 B.2.3)
WARNINGS = {0xB000: "coercion of data elements", 0xB006: "elements discarded",
            0xB007: "data set does not match SOP class"}
#: C-STORE failures worth a word (PS3.4 B.2.3, Annex C)
FAILURES = {0xA700: "out of resources", 0xA900: "data set does not match SOP class",
            0xC000: "cannot understand", 0x0122: "SOP class not supported",
            0x0117: "invalid SOP instance", 0x0124: "not authorised"}
_MAX_CONTEXTS = 128
#: peers (``AET@host:port``) that let a storage commitment wait run out in this process,
#: with the error: later units to them fail at once instead of each waiting again
_SILENT: dict[str, str] = {}


@dataclass(frozen=True)
class CommittedRecord(ExportRecord):
    """The export record of an instance the peer committed (Storage Commitment), with the
    Transaction UID under which it did (the plugin's ``gantry_exported`` audits it)."""

    transaction_uid: str = ""


class DimseSink(DicomFolderSink):
    """C-STORE SCU to the peer of a ``dimse://AET@host:port`` destination."""

    #: reads only the key elements of the dataset (for the record's name); the bytes sent
    #: are the encoded file
    takes_byte_pass_stub = True

    def __init__(self, target: ExportTarget, run: Run | None = None) -> None:
        try:
            self.peer = parse_url(target.to, with_query=False).peer
        except UrlError as exc:
            raise ExportError(str(exc)) from None
        self.destination = target.to
        self.settings = load_settings(run)
        self._assoc: Any = None
        self._syntaxes: dict[str, set[str]] = {}  # SOP class -> transfer syntaxes seen
        self._dead = ""  # the error once the peer proved unreachable
        self._tmp = ""
        self._reports = commit.Reports()
        #: stored, waiting for commitment: (SOP class, SOP instance, the record)
        self._pending: list[tuple[str, str, ExportRecord]] = []

    # -- association ---------------------------------------------------------------------
    def _contexts(self) -> list[tuple[str, list[str]]]:
        out: list[tuple[str, list[str]]] = []
        for sop_class, syntaxes in sorted(self._syntaxes.items()):
            for ts in sorted(syntaxes):
                out.append((sop_class, [ts]))
            out.append((sop_class, [UNCOMPRESSED[0], UNCOMPRESSED[1]]))
        if not asks_commitment(self.settings):
            return out[:_MAX_CONTEXTS]
        return [*out[:_MAX_CONTEXTS - 1], (commit.PUSH_MODEL, list(UNCOMPRESSED[:2]))]

    def _connect(self) -> Any:
        from pynetdicom import evt

        ae = make_ae(self.settings)
        for sop_class, syntaxes in self._contexts():
            ae.add_requested_context(sop_class, syntaxes)
        return associate(ae, self.peer, self.settings,
                         handlers=[(evt.EVT_N_EVENT_REPORT, self._reports.handler)])

    def _association(self, sop_class: str, ts: str) -> Any:
        known = self._syntaxes.setdefault(sop_class, set())
        if ts not in known:
            known.add(ts)
            if self._assoc is not None:  # a new class or syntax: negotiate again
                release(self._assoc)
                self._assoc = None
        if self._assoc is None or not self._assoc.is_established:
            self._assoc = None
            self._assoc = self._connect()
        return self._assoc

    # -- writing -------------------------------------------------------------------------
    def write(self, relpath: str, data: bytes, dataset: Dataset,
              context: InstanceContext) -> ExportRecord | None:
        """C-STORE ``data``; the export record when the peer stored it (``None`` when it is
        to commit it: see :meth:`finish_series`), else :class:`ExportError` with the peer,
        the instance and the status."""
        if self._dead:
            raise ExportError(self._dead)
        meta = _file_meta(data)
        sop_class, sop_uid, ts = meta
        attempts = self.settings.retries + 1
        wait = self.settings.retry_wait
        for attempt in range(attempts):
            try:
                assoc = self._association(sop_class, ts)
            except PeerError as exc:
                if attempt + 1 >= attempts:
                    self._dead = str(exc)
                    raise ExportError(self._dead) from None
                _sleep(wait * (2 ** attempt))
                continue
            committing = self._committing(assoc)
            code = self._send(assoc, data, sop_class, sop_uid, ts)
            if code is None:  # dropped or timed out: a new association, the same instance
                release(assoc)
                self._assoc = None
                if attempt + 1 >= attempts:  # the rest of the unit is not tried
                    self._dead = (f"{self.peer}: not sent: the peer stopped answering (no "
                                  f"answer to the C-STORE of {sop_uid})")
                    raise ExportError(f"{self.peer}: C-STORE of {sop_uid}: no answer (the "
                                      f"association was aborted or timed out, {attempts} "
                                      "attempt(s))")
                _sleep(wait * (2 ** attempt))
                continue
            if code == 0 or (code in WARNINGS and self.settings.accept_warnings):
                record = self._record(relpath, data, dataset, context, 0)
                if not committing:
                    return record
                self._pending.append((sop_class, sop_uid, record))
                return None  # recorded once the peer committed it (finish_series)
            what = WARNINGS.get(code) or FAILURES.get(code) or \
                ("refused" if code >> 12 in (0xA, 0xC) else "failed")
            raise ExportError(f"{self.peer}: C-STORE of {sop_uid} not stored: status "
                              f"0x{code:04X} ({what})")
        raise AssertionError("unreachable")

    def _committing(self, assoc: Any) -> bool:
        """Whether what is stored on ``assoc`` waits for commitment; :class:`ExportError`
        before sending when the settings require commitment and the peer cannot, or when
        the peer let an earlier wait run out."""
        mode = self.settings.commitment
        if not asks_commitment(self.settings):
            return False
        if not commit.supports(assoc):
            if mode == "required":
                raise ExportError(f"{self.peer}: does not support Storage Commitment (it "
                                  "refused the Push Model) and plugins.pacs.commitment is "
                                  "'required': nothing sent")
            return False
        silent = _SILENT.get(str(self.peer))
        if silent:
            raise ExportError(f"{silent} (an earlier unit's wait; nothing sent)")
        return True

    def finish_series(self) -> SeriesOutcome:
        """Ask the peer to commit what this unit stored and wait for its report
        (``commitment_timeout``): the committed instances get their records, the others
        fail with the peer's Failure Reason, or why no report came."""
        pending, self._pending = self._pending, []
        if not pending:
            return SeriesOutcome()
        from pydicom.uid import generate_uid

        transaction = generate_uid()
        timeout = self.settings.commitment_timeout
        try:
            with commit.report_listener(self.settings, self.peer, self._reports,
                                        spool_root(self.settings)):
                assoc = self._assoc
                if assoc is None or not assoc.is_established or not commit.supports(assoc):
                    assoc = self._assoc = self._connect()
                commit.request(assoc, self.peer, [(c, u) for c, u, _ in pending],
                               self._reports, transaction)
                outcome = self._reports.wait(transaction, timeout)
        except PeerError as exc:
            why = f"not committed: {exc}"
            return SeriesOutcome(failed={rec.sop_instance_uid: why for *_, rec in pending})
        if outcome is None:
            how = (f"or on a new association to {self.settings.calling_aet} at port "
                   f"{self.settings.commitment_port}" if self.settings.commitment_port else
                   "(a peer that reports on a new association needs plugins.pacs."
                   "commitment_port, a port it knows for "
                   f"{self.settings.calling_aet})")
            why = (f"{self.peer}: not committed: no storage commitment report within "
                   f"{timeout:g} s on the association that asked {how}")
            _SILENT[str(self.peer)] = why
            return SeriesOutcome(failed={rec.sop_instance_uid: why for *_, rec in pending})
        _SILENT.pop(str(self.peer), None)
        result = SeriesOutcome()
        for _sop_class, sop_uid, record in pending:
            if sop_uid in outcome.failed:
                result.failed[record.sop_instance_uid] = (
                    f"{self.peer}: storage commitment of {sop_uid} failed: "
                    f"{outcome.failed[sop_uid]}")
            elif sop_uid in outcome.committed:
                result.records[record.sop_instance_uid] = [CommittedRecord(
                    **{f: getattr(record, f) for f in record.__dataclass_fields__},
                    transaction_uid=transaction)]
            else:
                result.failed[record.sop_instance_uid] = (
                    f"{self.peer}: storage commitment of {sop_uid}: not in the peer's "
                    f"report (transaction {transaction})")
        return result

    def _send(self, assoc: Any, data: bytes, sop_class: str, sop_uid: str,
              ts: str) -> int | None:
        """Send in the instance's own syntax when accepted, else converted; the status."""
        accepted = [cx for cx in assoc.accepted_contexts if cx.abstract_syntax == sop_class]
        if not accepted:
            raise ExportError(f"{self.peer}: does not accept SOP class {sop_class} "
                              f"(C-STORE of {sop_uid}: no presentation context)")
        if any(cx.transfer_syntax[0] == ts for cx in accepted):
            return status_of(assoc.send_c_store(self._as_file(data)))
        target = str(accepted[0].transfer_syntax[0])
        return status_of(assoc.send_c_store(_convert(data, target, self.peer, sop_uid)))

    def _as_file(self, data: bytes) -> str:
        """``data`` in a private temporary file: pynetdicom then sends the encoded bytes as
        they are (chunked from the file), without decoding the data set."""
        from pynetdicom import _config

        _config.STORE_SEND_CHUNKED_DATASET = True  # affects only sends given a file path
        if not self._tmp:
            self._tmp = tempfile.mkdtemp(prefix="gantry-pacs-")
        path = os.path.join(self._tmp, "instance.dcm")
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def close(self) -> None:
        """Release the association and remove the temporary file."""
        if self._assoc is not None:
            release(self._assoc)
            self._assoc = None
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = ""


def asks_commitment(settings: PacsSettings) -> bool:
    """Whether exports ask for Storage Commitment: ``required``, or ``if-supported`` with a
    ``commitment_port`` to hear the report on (without one, most peers' reports, sent on a
    new association, would have nowhere to go)."""
    return settings.commitment == "required" or (
        settings.commitment == "if-supported" and settings.commitment_port is not None)


def finish_export(target: ExportTarget, run: Run) -> list[str]:
    """The export report's line when ``if-supported`` did not ask (no ``commitment_port``)."""
    settings = load_settings(run)
    if settings.commitment == "if-supported" and settings.commitment_port is None:
        return [f"{target.to}: storage commitment not asked (commitment: if-supported needs "
                "plugins.pacs.commitment_port, the port the peer sends its report to): "
                "exported means the peer's C-STORE response said stored"]
    return []


def _sleep(seconds: float) -> None:
    import time

    time.sleep(seconds)


def _file_meta(data: bytes) -> tuple[str, str, str]:
    """``(SOP class, SOP instance, transfer syntax)`` from a Part 10 file's meta."""
    from pydicom import dcmread

    meta = dcmread(io.BytesIO(data), stop_before_pixels=True,
                   specific_tags=["SOPClassUID"]).file_meta
    return (str(meta.get("MediaStorageSOPClassUID", "")),
            str(meta.get("MediaStorageSOPInstanceUID", "")),
            str(meta.get("TransferSyntaxUID", "")))


def _convert(data: bytes, ts: str, peer: Any, sop_uid: str) -> Dataset:
    """The instance re-encoded in ``ts`` (an uncompressed syntax the peer accepted),
    decompressed first when it is compressed."""
    from pydicom import dcmread
    from pydicom.uid import UID

    ds = dcmread(io.BytesIO(data))
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        try:
            ds.decompress()
        except Exception as exc:
            raise ExportError(f"{peer}: C-STORE of {sop_uid}: the peer accepts no compressed "
                              f"syntax and the pixels cannot be decompressed: {exc}") from None
    uid = UID(ts)
    buffer = io.BytesIO()  # written in the new syntax, read back: values re-encoded whole
    ds.file_meta.TransferSyntaxUID = uid
    ds.save_as(buffer, implicit_vr=uid.is_implicit_VR, little_endian=uid.is_little_endian,
               enforce_file_format=True)
    return dcmread(io.BytesIO(buffer.getvalue()))
