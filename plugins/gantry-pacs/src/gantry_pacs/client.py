"""Query/retrieve SCU: C-ECHO, C-FIND (study, series, image), C-GET and C-MOVE.

One association serves the C-FINDs of a run (re-opened if it drops); each retrieval opens
its own, with presentation contexts for exactly the SOP classes C-FIND listed (so any number
of storage classes fits in the 128 contexts of an association). Received instances are
written to the spool as they arrive, one whole file each, never held in memory beyond the one
in transfer.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gantry_pacs.net import (
    READABLE_SYNTAXES,
    VERIFICATION,
    PeerError,
    associate,
    make_ae,
    release,
    status_of,
)
from gantry_pacs.spool import encoded_instance, write_instance
from gantry_pacs.url import is_uid

if TYPE_CHECKING:
    from pydicom import Dataset
    from pynetdicom.association import Association

    from gantry_pacs.settings import PacsSettings
    from gantry_pacs.url import DimseUrl, Peer

FIND = "1.2.840.10008.5.1.4.1.2.2.1"  # Study Root Query/Retrieve - FIND
GET = "1.2.840.10008.5.1.4.1.2.2.3"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
#: UIDs per instance-level C-GET/C-MOVE identifier (a list of UIDs matches any of them)
UIDS_PER_REQUEST = 200


@dataclass(frozen=True)
class StudyRef:
    """A study C-FIND found, with its instance count when the peer gave one."""

    study_uid: str
    instances: int | None = None


@dataclass(frozen=True)
class SeriesRef:
    """A series of a study."""

    study_uid: str
    series_uid: str
    instances: int | None = None


@dataclass(frozen=True)
class InstanceRef:
    """An instance of a series."""

    sop_uid: str
    sop_class: str


@dataclass
class Retrieved:
    """What one retrieval brought: ``received`` maps SOP Instance UID to its file; ``error``
    says why the rest did not come (``""`` when everything did)."""

    received: dict[str, str] = field(default_factory=dict)
    error: str = ""


class FindClient:
    """C-FIND on one association, opened with a C-ECHO first."""

    def __init__(self, url: DimseUrl, settings: PacsSettings) -> None:
        self.url = url
        self.peer = url.peer
        self.settings = settings
        self._assoc: Association | None = None

    def __enter__(self) -> FindClient:
        self._connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the association."""
        if self._assoc is not None:
            release(self._assoc)
            self._assoc = None

    def _connect(self) -> None:
        ae = make_ae(self.settings)
        ae.add_requested_context(VERIFICATION)
        ae.add_requested_context(FIND)
        assoc = associate(ae, self.peer, self.settings)
        try:
            code = status_of(assoc.send_c_echo())
        except Exception as exc:
            release(assoc)
            raise PeerError(f"{self.peer}: C-ECHO failed: {exc}") from None
        if code != 0:
            release(assoc)
            raise PeerError(f"{self.peer}: C-ECHO " + ("got no answer" if code is None else
                                                       f"failed with status 0x{code:04X}"))
        self._assoc = assoc

    def find(self, identifier: Dataset) -> list[Dataset]:
        """Every match of ``identifier``; a failure status, or no status at all (the peer
        aborted: Orthanc does this to AE titles it does not know), is a :class:`PeerError`."""
        if self._assoc is None or not self._assoc.is_established:
            self._connect()
        assert self._assoc is not None
        level = str(identifier.QueryRetrieveLevel)
        out: list[Dataset] = []
        for status, ds in self._assoc.send_c_find(identifier, FIND):
            code = status_of(status)
            if code is None:
                self.close()
                raise PeerError(f"{self.peer}: {level}-level C-FIND got no answer: the peer "
                                f"aborted or timed out (is {self.settings.calling_aet} allowed "
                                "to query it?)")
            if code in (0xFF00, 0xFF01):
                if ds is not None:
                    out.append(ds)
            elif code == 0:
                return out
            else:
                raise PeerError(f"{self.peer}: {level}-level C-FIND failed with status "
                                f"0x{code:04X}")
        return out

    def studies(self) -> list[StudyRef]:
        """The studies matching the URL's study keys (and ``ModalitiesInStudy`` for a
        ``Modality`` key), in the peer's order."""
        from pydicom import Dataset

        ident = Dataset()
        ident.QueryRetrieveLevel = "STUDY"
        ident.StudyInstanceUID = ""
        ident.NumberOfStudyRelatedInstances = ""
        for key, value in self.url.study_keys.items():
            setattr(ident, key, value)
        modality = self.url.series_keys.get("Modality")
        if modality and "ModalitiesInStudy" not in self.url.study_keys:
            ident.ModalitiesInStudy = modality
        found = []
        for ds in self.find(ident):
            uid = str(ds.get("StudyInstanceUID", "") or "")
            if is_uid(uid):
                found.append(StudyRef(uid, _count(ds, "NumberOfStudyRelatedInstances")))
        return found

    def series(self, study: StudyRef) -> list[SeriesRef]:
        """The series of ``study`` matching the URL's series keys."""
        from pydicom import Dataset

        ident = Dataset()
        ident.QueryRetrieveLevel = "SERIES"
        ident.StudyInstanceUID = study.study_uid
        ident.SeriesInstanceUID = ""
        ident.Modality = ""
        ident.NumberOfSeriesRelatedInstances = ""
        for key, value in self.url.series_keys.items():
            setattr(ident, key, value)
        found = []
        for ds in self.find(ident):
            uid = str(ds.get("SeriesInstanceUID", "") or "")
            if is_uid(uid):
                found.append(SeriesRef(study.study_uid, uid,
                                       _count(ds, "NumberOfSeriesRelatedInstances")))
        return found

    def instances(self, series: SeriesRef) -> list[InstanceRef]:
        """The instances of ``series`` matching the URL's instance keys."""
        from pydicom import Dataset

        ident = Dataset()
        ident.QueryRetrieveLevel = "IMAGE"
        ident.StudyInstanceUID = series.study_uid
        ident.SeriesInstanceUID = series.series_uid
        ident.SOPInstanceUID = ""
        ident.SOPClassUID = ""
        for key, value in self.url.instance_keys.items():
            setattr(ident, key, value)
        found = []
        for ds in self.find(ident):
            uid = str(ds.get("SOPInstanceUID", "") or "")
            if is_uid(uid):
                found.append(InstanceRef(uid, str(ds.get("SOPClassUID", "") or "")))
        return found


def _count(ds: Dataset, keyword: str) -> int | None:
    try:
        value = ds.get(keyword)
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _store_contexts(ae: Any, sop_classes: list[str], limit: int) -> None:
    """Request a context per (SOP class, transfer syntax) when they fit in ``limit`` (the
    peer then sends each file in its own syntax, never transcoded), else one per class
    offering every syntax."""
    if len(sop_classes) * len(READABLE_SYNTAXES) <= limit:
        for uid in sop_classes:
            for ts in READABLE_SYNTAXES:
                ae.add_requested_context(uid, [ts])
    else:
        for uid in sop_classes[:limit]:
            ae.add_requested_context(uid, list(READABLE_SYNTAXES))


def _receiver(folder: str, received: dict[str, str], expected: set[str] | None,
              fsync: bool) -> Callable[[Any], int]:
    """A C-STORE handler writing each instance to ``folder/<SOPInstanceUID>.dcm``."""

    def handle(event: Any) -> int:
        sop = str(event.request.AffectedSOPInstanceUID or "")
        if not is_uid(sop) or (expected is not None and sop not in expected):
            return 0xC000  # not an instance we asked for (or not a UID to name a file by)
        try:
            received[sop] = write_instance(folder, f"{sop}.dcm", encoded_instance(event),
                                           fsync=fsync)
        except OSError:
            return 0xA700  # out of resources: the spool cannot be written
        return 0x0000

    return handle


def _identifier(series: SeriesRef, uids: list[str] | None) -> Dataset:
    from pydicom import Dataset

    ident = Dataset()
    ident.StudyInstanceUID = series.study_uid
    ident.SeriesInstanceUID = series.series_uid
    if uids is None:
        ident.QueryRetrieveLevel = "SERIES"
    else:
        ident.QueryRetrieveLevel = "IMAGE"
        ident.SOPInstanceUID = uids if len(uids) > 1 else uids[0]
    return ident


def _drain(responses: Iterator[tuple[Any, Any]], what: str, peer: Peer,
           move_aet: str = "") -> str:
    """Follow C-GET/C-MOVE responses to the end; ``""`` on Success, else why not."""
    final: int | None = None
    failed = 0
    for status, _ds in responses:
        code = status_of(status)
        if code is None:
            return f"{peer}: {what}: the association was aborted or timed out mid-transfer"
        final = code
        failed = int(getattr(status, "NumberOfFailedSuboperations", 0) or 0)
        if code not in (0xFF00, 0xFF01):
            break
    if final == 0:
        return ""
    if final is None:
        return f"{peer}: {what}: no response"
    if final == 0xB000:
        return f"{peer}: {what}: the peer failed to send {failed or 'some'} instance(s) " \
               "(status 0xB000)"
    if move_aet and final in (0xA801, 0xC000):
        return (f"{peer}: {what}: failed with status 0x{final:04X} (is the move destination "
                f"{move_aet} known to the peer, with this host and port?)")
    return f"{peer}: {what}: failed with status 0x{final:04X}"


class Getter:
    """C-GET series by series, on one association while the SOP classes it negotiated
    cover the next series (a new one, with the union of the classes, when they do not)."""

    def __init__(self, url: DimseUrl, settings: PacsSettings) -> None:
        self.url = url
        self.settings = settings
        self._assoc: Any = None
        self._classes: set[str] = set()
        self._target: tuple[str, dict[str, str], set[str] | None] = ("", {}, None)

    def close(self) -> None:
        """Release the association."""
        if self._assoc is not None:
            release(self._assoc)
            self._assoc = None

    def _store(self, event: Any) -> int:
        folder, received, expected = self._target
        return _receiver(folder, received, expected, self.settings.fsync)(event)

    def _association(self, classes: list[str]) -> Any:
        from pynetdicom import build_role, evt

        if self._assoc is not None and self._assoc.is_established and \
                set(classes) <= self._classes:
            return self._assoc
        self.close()
        wanted = sorted(set(classes) | self._classes)
        if len(wanted) * len(READABLE_SYNTAXES) > 127:  # keep a context per syntax (never
            wanted = sorted(set(classes))  # transcoded): this series' classes only
        ae = make_ae(self.settings)
        ae.add_requested_context(GET)
        _store_contexts(ae, wanted, 127)
        roles = [build_role(uid, scp_role=True) for uid in wanted]
        self._assoc = associate(ae, self.url.peer, self.settings, ext_neg=roles,
                                handlers=[(evt.EVT_C_STORE, self._store)])
        self._classes = set(wanted)
        return self._assoc

    def fetch(self, series: SeriesRef, wanted: list[InstanceRef] | None,
              folder: str) -> Retrieved:
        """C-GET ``wanted`` instances of ``series`` (all of it when ``None``) into
        ``folder``."""
        out = Retrieved()
        classes = sorted({i.sop_class for i in wanted or () if i.sop_class}) or \
            _all_storage_classes()
        expected = {i.sop_uid for i in wanted} if wanted is not None else None
        try:
            assoc = self._association(classes)
        except PeerError as exc:
            out.error = str(exc)
            return out
        self._target = (folder, out.received, expected)
        try:
            for uids in _chunks(wanted):
                what = f"C-GET of series {series.series_uid}"
                out.error = _drain(assoc.send_c_get(_identifier(series, uids), GET), what,
                                   self.url.peer)
                if out.error:
                    break
        finally:
            self._target = ("", {}, None)
            if out.error:  # whatever went wrong, the next series starts afresh
                self.close()
        return out


def _chunks(wanted: list[InstanceRef] | None) -> Iterator[list[str] | None]:
    if wanted is None:
        yield None
        return
    uids = [i.sop_uid for i in wanted]
    for start in range(0, len(uids), UIDS_PER_REQUEST):
        yield uids[start:start + UIDS_PER_REQUEST]


def _all_storage_classes() -> list[str]:
    """Storage SOP classes to offer when C-FIND did not say which (at most 127)."""
    from pynetdicom.presentation import StoragePresentationContexts

    return [str(cx.abstract_syntax) for cx in StoragePresentationContexts][:120]


class MoveDestination:
    """Our storage SCP for C-MOVE: ``move_aet`` on ``bind_host:move_port``. Instances are
    accepted only when expected (``expect``), and written to the folder given for each."""

    def __init__(self, settings: PacsSettings, tls: bool) -> None:
        self.settings = settings
        self.tls = tls
        self._lock = threading.Lock()
        self._expected: dict[str, str] = {}
        self._received: dict[str, str] = {}
        self._server: Any = None

    def start(self) -> None:
        """Listen (a port in use is a :class:`PeerError` naming it)."""
        from pynetdicom import evt

        from gantry_pacs.net import server_tls
        from gantry_pacs.scp import make_storage_ae

        ae = make_storage_ae(self.settings, self.settings.move_aet)
        context = server_tls(self.settings) if self.tls else None
        try:
            self._server = ae.start_server(
                (self.settings.bind_host, self.settings.move_port), block=False,
                ssl_context=context, evt_handlers=[(evt.EVT_C_STORE, self._handle)])
        except OSError as exc:
            raise PeerError(f"C-MOVE destination {self.settings.move_aet} cannot listen on "
                            f"{self.settings.bind_host}:{self.settings.move_port}: "
                            f"{exc}") from None

    def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def _handle(self, event: Any) -> int:
        sop = str(event.request.AffectedSOPInstanceUID or "")
        with self._lock:
            folder = self._expected.get(sop)
        if folder is None:
            return 0xC000
        try:
            path = write_instance(folder, f"{sop}.dcm", encoded_instance(event),
                                  fsync=self.settings.fsync)
        except OSError:
            return 0xA700
        with self._lock:
            self._received[sop] = path
        return 0x0000

    def move_series(self, url: DimseUrl, series: SeriesRef, wanted: list[InstanceRef],
                    folder: str) -> Retrieved:
        """C-MOVE ``wanted`` instances of ``series`` to ourselves, into ``folder``."""
        out = Retrieved()
        with self._lock:
            for ref in wanted:
                self._expected[ref.sop_uid] = folder
        ae = make_ae(self.settings)
        ae.add_requested_context(MOVE)
        try:
            assoc = associate(ae, url.peer, self.settings)
        except PeerError as exc:
            out.error = str(exc)
            return out
        try:
            for uids in _chunks(wanted):
                what = f"C-MOVE of series {series.series_uid} to {self.settings.move_aet}"
                out.error = _drain(assoc.send_c_move(_identifier(series, uids),
                                                     self.settings.move_aet, MOVE),
                                   what, url.peer, self.settings.move_aet)
                if out.error:
                    break
        finally:
            release(assoc)
            with self._lock:
                for ref in wanted:
                    self._expected.pop(ref.sop_uid, None)
                    path = self._received.pop(ref.sop_uid, None)
                    if path is not None:
                        out.received[ref.sop_uid] = path
        return out


@contextmanager
def retriever(url: DimseUrl, settings: PacsSettings
              ) -> Iterator[Callable[[SeriesRef, list[InstanceRef] | None, str], Retrieved]]:
    """``fetch(series, wanted, folder)`` by C-GET, or by C-MOVE to our own SCP (started for
    the duration) when the URL says ``retrieve=move``."""
    if url.retrieve == "get":
        getter = Getter(url, settings)
        try:
            yield getter.fetch
        finally:
            getter.close()
        return
    destination = MoveDestination(settings, url.peer.tls)
    destination.start()
    try:
        def fetch(series: SeriesRef, wanted: list[InstanceRef] | None,
                  folder: str) -> Retrieved:
            if wanted is None:
                raise PeerError(f"{url.peer}: retrieve=move needs level=image (the "
                                "instances to expect)")
            return destination.move_series(url, series, wanted, folder)

        yield fetch
    finally:
        destination.stop()


def series_folder(peer_dir: str, series: SeriesRef) -> str:
    """Where the instances of ``series`` are kept in the spool."""
    return os.path.join(peer_dir, series.study_uid, series.series_uid)
