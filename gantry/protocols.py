"""The store protocol: what a working store backend satisfies (the component protocols are in
:mod:`gantry.components`).

The kernel depends only on this shape; ``gantry.testing.store_contract`` holds the test suite
every :class:`Store` must pass (the built-in memory store and ``gantry-sqlite`` both run it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np
    from pydicom import Dataset

    from gantry.model import Instance, Patient, Series, Study
    from gantry.records import AuditEvent, Change, Decision, ExportRecord, Finding, Rejection


AddOutcome = Literal["added", "duplicate", "conflict"]


@dataclass(frozen=True)
class PixelMeta:
    """What a pixel-sidecar entry holds, enough to rebuild Pixel Data without the database."""

    dtype: str
    shape: tuple[int, ...]
    frames: int
    photometric: str
    compression: str = "none"
    sha256: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoreCounts:
    """How many records a store holds."""

    patients: int
    studies: int
    series: int
    instances: int
    rejected: int
    conflicts: int


@runtime_checkable
class Store(Protocol):
    """The persist stage: the working index of a session.

    Writes may be buffered; :meth:`checkpoint` makes everything before it durable and
    :meth:`close` implies a checkpoint. Iterators stream: none loads the whole graph.
    """

    url: str

    def add_instance(self, instance: Instance, header: Dataset) -> AddOutcome:
        """Index one instance and its header (no pixels). Same UID and same content → duplicate;
        same UID and different content (``header`` hash or source size) → conflict (recorded,
        the first one kept). A backend whose record has ``prepare`` gets ``prepared=`` (that
        function's result for the header, computed in a worker) and ``header=None``."""

    def add_rejected(self, rejection: Rejection) -> None:
        """Record an input that was skipped, with the reason."""

    def is_source_done(self, source: str, size: int, mtime: float) -> bool:
        """Whether this exact input (same size and mtime) was already ingested or rejected."""

    def get_instance(self, sop_instance_uid: str) -> Instance | None:
        """The instance with this SOP Instance UID, or ``None``."""

    def get_header(self, sop_instance_uid: str) -> Dataset | None:
        """The stored header of an instance rebuilt as a pydicom Dataset (private tags and
        sequences included, VRs preserved), or ``None``."""

    def iter_instances(self, *, series_instance_uid: str | None = None,
                       sop_instance_uids: Iterable[str] | None = None,
                       after: str | None = None, reverse: bool = False) -> Iterator[Instance]:
        """Stream instances, optionally of one series or of the given UIDs, in a stable order
        (``reverse``: that order backwards). ``after`` (a SOP Instance UID) starts right after
        that instance in the order streamed — keyset paging; nothing when it is not stored."""

    def iter_patients(self) -> Iterator[Patient]:
        """Stream patients."""

    def iter_studies(self, patient_id: str | None = None) -> Iterator[Study]:
        """Stream studies, optionally of one patient."""

    def iter_series(self, study_instance_uid: str | None = None) -> Iterator[Series]:
        """Stream series, optionally of one study."""

    def iter_rejected(self) -> Iterator[Rejection]:
        """Stream rejected inputs."""

    def iter_conflicts(self) -> Iterator[tuple[str, str, str]]:
        """Stream ``(sop_instance_uid, kept_source, conflicting_source)``."""

    def counts(self) -> StoreCounts:
        """Record counts."""

    def add_findings(self, sop_instance_uid: str, stage: str, findings: Sequence[Finding]) -> None:
        """Replace the findings of one instance for one stage (``audit``, ``verify``...)."""

    def iter_findings(self, sop_instance_uid: str | None = None
                      ) -> Iterator[tuple[str, str, Finding]]:
        """Stream ``(sop_instance_uid, stage, finding)``."""

    def add_changes(self, sop_instance_uid: str, changes: Sequence[Change]) -> None:
        """Replace the recorded redaction changes of one instance."""

    def iter_changes(self, sop_instance_uid: str | None = None) -> Iterator[tuple[str, Change]]:
        """Stream ``(sop_instance_uid, change)``."""

    def set_status(self, sop_instance_uid: str, status: str) -> None:
        """Set an instance's status: ``ingested``, ``audited``, ``redacted``, ``exported``,
        ``failed``."""

    def get_status(self, sop_instance_uid: str) -> str | None:
        """An instance's status."""

    def record_export(self, record: ExportRecord) -> None:
        """Record one output written (for resume and manifests)."""

    def exported_uids(self, destination: str) -> set[str]:
        """Original SOP Instance UIDs already exported to ``destination``."""

    def iter_exports(self, destination: str | None = None) -> Iterator[ExportRecord]:
        """Stream export records."""

    def add_decisions(self, decisions: Sequence[Decision]) -> None:
        """Record reviewers' decisions (appended, in order: the history is kept)."""

    def iter_decisions(self, sop_instance_uid: str | None = None) -> Iterator[Decision]:
        """Stream decisions in the order recorded, optionally of one instance (the last one
        of an instance is the one in force)."""

    def log_event(self, event: AuditEvent) -> None:
        """Append to the audit log (must not block the caller for long)."""

    def iter_events(self, kind: str | None = None) -> Iterator[AuditEvent]:
        """Stream the audit log in order, optionally only the events of one ``kind``."""

    def put_pixels(self, key: str, array: np.ndarray, meta: PixelMeta) -> None:
        """Keep modified pixel data under ``key`` (replacing an older entry)."""

    def get_pixels(self, key: str) -> tuple[np.ndarray, PixelMeta] | None:
        """Modified pixel data kept under ``key``, verified, or ``None``."""

    def checkpoint(self) -> None:
        """Make every write so far durable."""

    def close(self) -> None:
        """Checkpoint and release resources."""
