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
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from typing import TYPE_CHECKING, Any

from gantry.api import DicomFolderSink, ExportError
from gantry_pacs.net import UNCOMPRESSED, PeerError, associate, make_ae, release, status_of
from gantry_pacs.settings import load_settings
from gantry_pacs.url import UrlError, parse_url

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.api import ExportRecord, ExportTarget, InstanceContext, Run

#: C-STORE warning statuses that still mean "stored" (PS3.4 B.2.3)
WARNINGS = {0xB000: "coercion of data elements", 0xB006: "elements discarded",
            0xB007: "data set does not match SOP class"}
#: C-STORE failures worth a word (PS3.4 B.2.3, Annex C)
FAILURES = {0xA700: "out of resources", 0xA900: "data set does not match SOP class",
            0xC000: "cannot understand", 0x0122: "SOP class not supported",
            0x0117: "invalid SOP instance", 0x0124: "not authorised"}
_MAX_CONTEXTS = 128


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

    # -- association ---------------------------------------------------------------------
    def _contexts(self) -> list[tuple[str, list[str]]]:
        out: list[tuple[str, list[str]]] = []
        for sop_class, syntaxes in sorted(self._syntaxes.items()):
            for ts in sorted(syntaxes):
                out.append((sop_class, [ts]))
            out.append((sop_class, [UNCOMPRESSED[0], UNCOMPRESSED[1]]))
        return out[:_MAX_CONTEXTS]

    def _connect(self) -> Any:
        ae = make_ae(self.settings)
        for sop_class, syntaxes in self._contexts():
            ae.add_requested_context(sop_class, syntaxes)
        return associate(ae, self.peer, self.settings)

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
              context: InstanceContext) -> ExportRecord:
        """C-STORE ``data``; the export record when the peer stored it, else
        :class:`ExportError` with the peer, the instance and the status."""
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
                return self._record(relpath, data, dataset, context, 0)
            what = WARNINGS.get(code) or FAILURES.get(code) or \
                ("refused" if code >> 12 in (0xA, 0xC) else "failed")
            raise ExportError(f"{self.peer}: C-STORE of {sop_uid} not stored: status "
                              f"0x{code:04X} ({what})")
        raise AssertionError("unreachable")

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
