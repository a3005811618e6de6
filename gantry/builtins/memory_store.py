"""The built-in in-memory store (``memory://``): the kernel's default persist stage.

Everything lives in dictionaries guarded by one lock, so a session may use it from several
threads. Nothing survives the process: use ``gantry-sqlite`` (``sqlite:///cohort.db``) to resume
a run or to keep an audit trail. Like every store it passes ``gantry.testing.store_contract``.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from gantry.components import StoreBackend
from gantry.hookspecs import hookimpl
from gantry.protocols import AddOutcome, PixelMeta, StoreCounts

if TYPE_CHECKING:
    import numpy as np
    from pydicom import Dataset

    from gantry.model import Instance, Patient, Series, Study
    from gantry.records import AuditEvent, Change, Decision, ExportRecord, Finding, Rejection

#: Elements never kept in a stored header: the store indexes headers, not pixels.
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


def header_digest(ds: Dataset) -> str:
    """A sha256 over every element (tag, VR, value) of a header, sequences included.

    Pixel data is left out, so the same header read with or without pixels hashes the same.
    """
    h = hashlib.sha256()
    _digest_into(h, ds)
    return h.hexdigest()


def _digest_into(h: Any, ds: Dataset) -> None:
    for elem in ds:
        if elem.keyword in PIXEL_KEYWORDS:
            continue
        h.update(f"{elem.tag:08X}{elem.VR}".encode())
        if elem.VR == "SQ":
            h.update(f"[{len(elem.value)}".encode())
            for item in elem.value:
                h.update(b"{")
                _digest_into(h, item)
                h.update(b"}")
            continue
        value = elem.value
        if isinstance(value, bytes):
            h.update(value)
        else:
            h.update(repr(_plain(value)).encode("utf-8", "surrogatepass"))
        h.update(b"\x00")


def _plain(value: Any) -> Any:
    from gantry.dicom.values import plain_value

    return plain_value(value)


def source_stat(source: str) -> tuple[int, float | None]:
    """``(size, mtime)`` of a local file source, or ``(-1, None)`` when it is not one."""
    try:
        st = os.stat(source)
    except (OSError, ValueError, TypeError):
        return -1, None
    return st.st_size, st.st_mtime


_PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})


def strip_pixels(header: Dataset) -> Dataset:
    """A deep copy of ``header`` without pixel data elements."""
    from pydicom import Dataset as _Dataset

    out = _Dataset()
    for tag, elem in header._dict.items():  # as held: a value still raw is not decoded
        if int(tag) in _PIXEL_TAGS:  # (one that cannot be is the reader's to report)
            continue
        out[tag] = copy.deepcopy(elem)
    if hasattr(header, "_character_set"):
        out.set_original_encoding(header.is_implicit_VR, header.is_little_endian,
                                  header._character_set)
    if hasattr(header, "file_meta"):
        out.file_meta = copy.deepcopy(header.file_meta)
    return out


class MemoryStore:
    """A :class:`gantry.protocols.Store` kept in process memory (thread-safe, not persistent)."""

    def __init__(self, url: str = "memory://") -> None:
        self.url = url
        self._lock = threading.RLock()
        self._instances: dict[str, Instance] = {}
        self._headers: dict[str, Dataset] = {}
        self._digests: dict[str, tuple[str, int]] = {}
        self._status: dict[str, str] = {}
        self._patients: dict[str, Patient] = {}
        self._studies: dict[str, Study] = {}
        self._series: dict[str, Series] = {}
        self._rejected: list[Rejection] = []
        self._conflicts: list[tuple[str, str, str]] = []
        self._sources: dict[str, tuple[int, float | None]] = {}
        self._findings: dict[tuple[str, str], list[Finding]] = {}
        self._changes: dict[str, list[Change]] = {}
        self._exports: dict[tuple[str, str], ExportRecord] = {}
        self._events: list[AuditEvent] = []
        self._decisions: list[Decision] = []
        self._pixels: dict[str, tuple[bytes, str, tuple[int, ...], PixelMeta]] = {}
        self._closed = False

    # -- ingest ------------------------------------------------------------------------------
    def add_instance(self, instance: Instance, header: Dataset) -> AddOutcome:
        """Index one instance and its header; see :meth:`gantry.protocols.Store.add_instance`."""
        from gantry.model import Patient, Series, Study, optional_int

        digest = instance.digest or header_digest(header)
        size, mtime = instance_stat(instance)
        with self._lock:
            self._check_open()
            uid = instance.sop_instance_uid
            self._sources[instance.source] = (size, mtime)
            known = self._digests.get(uid)
            if known is not None:
                kept = self._instances[uid]
                if known == (digest, instance.size):
                    return "duplicate"
                self._conflicts.append((uid, kept.source, instance.source))
                return "conflict"
            stored = _copy_instance(instance)
            self._instances[uid] = stored
            self._headers[uid] = strip_pixels(header)
            self._digests[uid] = (digest, instance.size)
            self._status.setdefault(uid, "ingested")
            pid = instance.patient_id
            if pid not in self._patients:
                self._patients[pid] = Patient(
                    patient_id=pid, patient_name=instance.patient_name or _s(header, "PatientName"),
                    issuer=_s(header, "IssuerOfPatientID"),
                    birth_date=_s(header, "PatientBirthDate"))
            if instance.study_instance_uid not in self._studies:
                self._studies[instance.study_instance_uid] = Study(
                    study_instance_uid=instance.study_instance_uid, patient_id=pid,
                    study_date=_s(header, "StudyDate"),
                    study_description=_s(header, "StudyDescription"),
                    accession_number=_s(header, "AccessionNumber"))
                self._patients[pid].study_count += 1
            if instance.series_instance_uid not in self._series:
                number = header.get("SeriesNumber")
                self._series[instance.series_instance_uid] = Series(
                    series_instance_uid=instance.series_instance_uid,
                    study_instance_uid=instance.study_instance_uid,
                    modality=_s(header, "Modality"),
                    series_description=_s(header, "SeriesDescription"),
                    series_number=optional_int(number))
                self._studies[instance.study_instance_uid].series_count += 1
            self._series[instance.series_instance_uid].instance_count += 1
            return "added"

    def add_rejected(self, rejection: Rejection) -> None:
        """Record an input that was skipped, with the reason."""
        size, mtime = source_stat(rejection.source)
        with self._lock:
            self._check_open()
            self._rejected.append(rejection)
            self._sources[rejection.source] = (size, mtime)

    def is_source_done(self, source: str, size: int, mtime: float) -> bool:
        """Whether this exact input (same size and mtime) was already ingested or rejected."""
        with self._lock:
            known = self._sources.get(source)
        return same_source(known, size, mtime)

    # -- reads -------------------------------------------------------------------------------
    def get_instance(self, sop_instance_uid: str) -> Instance | None:
        """The instance with this SOP Instance UID (a copy), or ``None``."""
        with self._lock:
            found = self._instances.get(sop_instance_uid)
            return _copy_instance(found) if found is not None else None

    def get_header(self, sop_instance_uid: str) -> Dataset | None:
        """A copy of the stored header, or ``None``."""
        with self._lock:
            found = self._headers.get(sop_instance_uid)
            return copy.deepcopy(found) if found is not None else None

    def iter_instances(self, *, series_instance_uid: str | None = None,
                       sop_instance_uids: Iterable[str] | None = None,
                       after: str | None = None, reverse: bool = False) -> Iterator[Instance]:
        """Instances in ingest order (``reverse``: backwards), optionally of one series or of
        the given UIDs, optionally from right after the instance ``after``."""
        wanted = set(sop_instance_uids) if sop_instance_uids is not None else None
        with self._lock:
            if after is not None and after not in self._instances:
                return
            items = list(self._instances.values())
        if reverse:
            items.reverse()
        if after is not None:
            items = items[[i.sop_instance_uid for i in items].index(after) + 1:]
        for inst in items:
            if series_instance_uid is not None and inst.series_instance_uid != series_instance_uid:
                continue
            if wanted is not None and inst.sop_instance_uid not in wanted:
                continue
            yield _copy_instance(inst)

    def iter_patients(self) -> Iterator[Patient]:
        """Patients in ingest order."""
        with self._lock:
            items = [dataclasses.replace(p) for p in self._patients.values()]
        yield from items

    def iter_studies(self, patient_id: str | None = None) -> Iterator[Study]:
        """Studies in ingest order, optionally of one patient."""
        with self._lock:
            items = [dataclasses.replace(s) for s in self._studies.values()
                     if patient_id is None or s.patient_id == patient_id]
        yield from items

    def iter_series(self, study_instance_uid: str | None = None) -> Iterator[Series]:
        """Series in ingest order, optionally of one study."""
        with self._lock:
            items = [dataclasses.replace(s) for s in self._series.values()
                     if study_instance_uid is None or s.study_instance_uid == study_instance_uid]
        yield from items

    def iter_rejected(self) -> Iterator[Rejection]:
        """Rejected inputs in the order they were recorded."""
        with self._lock:
            items = list(self._rejected)
        yield from items

    def iter_conflicts(self) -> Iterator[tuple[str, str, str]]:
        """``(sop_instance_uid, kept_source, conflicting_source)`` in the order recorded."""
        with self._lock:
            items = list(self._conflicts)
        yield from items

    def counts(self) -> StoreCounts:
        """Record counts."""
        with self._lock:
            return StoreCounts(patients=len(self._patients), studies=len(self._studies),
                               series=len(self._series), instances=len(self._instances),
                               rejected=len(self._rejected), conflicts=len(self._conflicts))

    # -- findings and changes --------------------------------------------------------------------
    def add_findings(self, sop_instance_uid: str, stage: str, findings: Sequence[Finding]) -> None:
        """Replace the findings of one instance for one stage."""
        with self._lock:
            self._check_open()
            self._findings.pop((sop_instance_uid, stage), None)
            self._findings[(sop_instance_uid, stage)] = list(findings)

    def iter_findings(self, sop_instance_uid: str | None = None
                      ) -> Iterator[tuple[str, str, Finding]]:
        """``(sop_instance_uid, stage, finding)`` in the order recorded."""
        with self._lock:
            items = [(uid, stage, f) for (uid, stage), found in self._findings.items()
                     if sop_instance_uid is None or uid == sop_instance_uid for f in found]
        yield from items

    def add_changes(self, sop_instance_uid: str, changes: Sequence[Change]) -> None:
        """Replace the recorded redaction changes of one instance."""
        with self._lock:
            self._check_open()
            self._changes.pop(sop_instance_uid, None)
            self._changes[sop_instance_uid] = list(changes)

    def iter_changes(self, sop_instance_uid: str | None = None) -> Iterator[tuple[str, Change]]:
        """``(sop_instance_uid, change)`` in the order recorded."""
        with self._lock:
            items = [(uid, c) for uid, found in self._changes.items()
                     if sop_instance_uid is None or uid == sop_instance_uid for c in found]
        yield from items

    def set_status(self, sop_instance_uid: str, status: str) -> None:
        """Set an instance's status."""
        with self._lock:
            self._check_open()
            self._status[sop_instance_uid] = status

    def get_status(self, sop_instance_uid: str) -> str | None:
        """An instance's status, or ``None``."""
        with self._lock:
            return self._status.get(sop_instance_uid)

    # -- exports -----------------------------------------------------------------------------
    def record_export(self, record: ExportRecord) -> None:
        """Record one output written; a second record for the same instance and destination
        replaces the first."""
        with self._lock:
            self._check_open()
            key = (record.sop_instance_uid, record.destination)
            self._exports.pop(key, None)
            self._exports[key] = record

    def exported_uids(self, destination: str) -> set[str]:
        """Original SOP Instance UIDs already exported to ``destination``."""
        with self._lock:
            return {uid for uid, dest in self._exports if dest == destination}

    def iter_exports(self, destination: str | None = None) -> Iterator[ExportRecord]:
        """Export records in the order written, optionally of one destination."""
        with self._lock:
            items = [r for r in self._exports.values()
                     if destination is None or r.destination == destination]
        yield from items

    # -- decisions -----------------------------------------------------------------------------
    def add_decisions(self, decisions: Sequence[Decision]) -> None:
        """Append reviewers' decisions (a decision without a time gets the current one)."""
        import time

        now = time.time()
        stamped = [d if d.time else dataclasses.replace(d, time=now) for d in decisions]
        with self._lock:
            self._check_open()
            self._decisions.extend(stamped)

    def iter_decisions(self, sop_instance_uid: str | None = None) -> Iterator[Decision]:
        """Decisions in the order recorded, optionally of one instance."""
        with self._lock:
            items = [d for d in self._decisions
                     if sop_instance_uid is None or d.sop_instance_uid == sop_instance_uid]
        yield from items

    # -- audit log -----------------------------------------------------------------------------
    def log_event(self, event: AuditEvent) -> None:
        """Append to the audit log (a list append under the lock)."""
        if not event.time:
            import time

            event = dataclasses.replace(event, time=time.time())
        with self._lock:
            self._check_open()
            self._events.append(event)

    def iter_events(self, kind: str | None = None) -> Iterator[AuditEvent]:
        """The audit log in order (optionally the events of one ``kind``)."""
        with self._lock:
            items = [e for e in self._events if kind is None or e.kind == kind]
        yield from items

    # -- pixels --------------------------------------------------------------------------------
    def put_pixels(self, key: str, array: np.ndarray, meta: PixelMeta) -> None:
        """Keep a copy of modified pixel data under ``key`` (replacing an older entry)."""
        import numpy as np

        arr = np.ascontiguousarray(array)
        data = arr.tobytes()
        stored = dataclasses.replace(meta, dtype=arr.dtype.str, shape=tuple(arr.shape),
                                     sha256=hashlib.sha256(data).hexdigest(),
                                     extra=dict(meta.extra))
        with self._lock:
            self._check_open()
            self._pixels[key] = (data, arr.dtype.str, tuple(arr.shape), stored)

    def get_pixels(self, key: str) -> tuple[np.ndarray, PixelMeta] | None:
        """The pixel data kept under ``key`` (a fresh array), checked against its sha256."""
        import numpy as np

        from gantry.errors import StoreError

        with self._lock:
            found = self._pixels.get(key)
        if found is None:
            return None
        data, dtype, shape, meta = found
        if hashlib.sha256(data).hexdigest() != meta.sha256:
            raise StoreError(f"{self.url}: pixel entry {key!r} is corrupt (sha256 mismatch)")
        array = np.frombuffer(data, dtype=np.dtype(dtype)).reshape(shape).copy()
        return array, meta

    # -- lifecycle -------------------------------------------------------------------------------
    def checkpoint(self) -> None:
        """Nothing to make durable in memory."""

    def close(self) -> None:
        """Mark the store closed; later writes raise :class:`gantry.errors.StoreError`."""
        with self._lock:
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            from gantry.errors import StoreError

            raise StoreError(f"{self.url}: store is closed")

    def __enter__(self) -> MemoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def instance_stat(instance: Instance) -> tuple[int, float | None]:
    """``(size, mtime)`` of an instance's source: its own ``mtime`` when the ingestor set one,
    else the file system's (``None`` for sources that are not local files)."""
    mtime = getattr(instance, "mtime", None)
    if mtime is not None:
        return instance.size, float(mtime)
    size, mtime = source_stat(instance.source)
    return (instance.size if instance.size >= 0 else size), mtime


def same_source(known: tuple[int, float | None] | None, size: int, mtime: float) -> bool:
    """Whether a recorded ``(size, mtime)`` matches an input (an unknown mtime matches any)."""
    if known is None:
        return False
    known_size, known_mtime = known
    if known_size >= 0 and size >= 0 and known_size != size:
        return False
    if known_mtime is None or not mtime:
        return True
    return abs(known_mtime - mtime) < 1e-6


def _copy_instance(inst: Instance) -> Instance:
    return dataclasses.replace(inst, attrs=copy.deepcopy(inst.attrs), _dataset=None,
                               _opener=None)


def _s(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value)


@hookimpl
def gantry_stores() -> Iterator[StoreBackend]:
    """Register the in-memory store for ``memory://`` URLs."""
    yield StoreBackend("memory", schemes=("memory",), open=MemoryStore,
                       description="in-memory working store (not persistent)")
