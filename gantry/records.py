"""Result records produced while a run works, exchanged through hooks and stores.

``SourceItem``, ``Change``, ``Finding``, ``ExportRecord``, ``Rejection``, ``AuditEvent``,
``PatientKey``, ``Pseudonym``. Result records never hold original identifying values except
``PatientKey``, which only lives in memory and in the working store. (The records components
register with live in :mod:`gantry.components`.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class SeriesOutcome:
    """What a :class:`~gantry.components.SeriesSink` made of one series.

    ``records``: the export records of the files written, keyed by the *original* SOP
    Instance UID (``context.instance.sop_instance_uid``) of each instance they were made from
    (one file may be listed under many instances). ``skipped``: the instances left out, each
    with the reason (a refused series: one reason, the same for all its instances).
    ``failed``: the instances the sink could not deliver after all, each with the error
    (they count as failed, as if ``write`` had raised).
    """

    records: dict[str, list[ExportRecord]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceItem:
    """A candidate input found by an ingestor: an opaque source string and its size and mtime."""

    source: str
    size: int = -1
    mtime: float = 0.0
    display: str = ""
    #: why the ingestor offers this input without being able to read it (an unreadable
    #: folder, a looped or dangling link, a device): the session records it with this reason
    #: and never opens it
    refused: str = ""
    #: what the refusal counts as: ``rejected`` (an input lost: exit code 3) or ``skipped``
    #: (not an input: a FIFO, device, socket or a link to a folder)
    refused_as: str = "rejected"

    @property
    def label(self) -> str:
        """The name to show a user for this input."""
        return self.display or self.source


@dataclass(frozen=True)
class Change:
    """One change a redactor made. Never holds an original value."""

    action: str
    tag: str = ""
    keyword: str = ""
    path: str = ""
    detail: str = ""
    component: str = ""

    def to_dict(self) -> dict[str, str]:
        """A plain dict for JSON and the audit log."""
        keys = ("action", "tag", "keyword", "path", "detail", "component")
        return {k: getattr(self, k) for k in keys}


Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Finding:
    """Something an auditor noticed. ``code`` is stable (``phi-in-text``, ``burned-in-text``...).

    ``message`` must not repeat the identifying value found; ``box`` is ``(frame, x, y, w, h)``
    for pixel findings.
    """

    code: str
    message: str
    severity: Severity = "warning"
    tag: str = ""
    keyword: str = ""
    path: str = ""
    component: str = ""
    box: tuple[int, int, int, int, int] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict for JSON and the audit log."""
        return {
            "code": self.code, "message": self.message, "severity": self.severity,
            "tag": self.tag, "keyword": self.keyword, "path": self.path,
            "component": self.component, "box": list(self.box) if self.box else None,
            "extra": self.extra,
        }


#: Header values an export record may carry of the file it describes (``fields``).
EXPORT_FIELDS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                 "SOPClassUID", "Modality", "StudyDate", "SeriesDate", "SeriesNumber",
                 "SeriesDescription", "InstanceNumber", "Rows", "Columns", "NumberOfFrames",
                 "PatientIdentityRemoved", "TransferSyntaxUID")


@dataclass(frozen=True)
class ExportRecord:
    """One output written: which instance (by its *new* UID), where, how big, its sha256, and
    the file's modification time as written (``mtime_ns``; 0 when the sink does not know it).
    A file whose size and modification time still match was not rewritten since.

    ``fields``: the file's :data:`EXPORT_FIELDS` as ``(keyword, text)`` pairs, text being
    ``str(ds.get(keyword))`` of the file read back (absent and empty values left out;
    ``TransferSyntaxUID`` from its file meta, always present). Empty when the sink did not
    record them; when not empty, it lists every one the file has. (The DICOM folder sink
    records what the pass that encoded the file hands it in
    ``context.notes["output_fields"]``.)"""

    sop_instance_uid: str
    new_sop_instance_uid: str
    destination: str
    path: str
    size: int
    sha256: str
    format: str = "dicom"
    mtime_ns: int = 0
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Rejection:
    """An input that was skipped, with the reason."""

    source: str
    reason: str
    stage: str = "ingest"


@dataclass(frozen=True)
class AuditEvent:
    """One line of the audit trail. ``subject`` is a pseudonymous UID or a keyed hash."""

    kind: str
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)
    run_id: str = ""
    time: float = 0.0


#: What a reviewer decided about an instance: ``approve`` releases it, ``withhold`` keeps it out
#: of every export until a later ``approve``.
DECISION_ACTIONS = ("approve", "withhold")


@dataclass(frozen=True)
class Decision:
    """A reviewer's decision about one instance, recorded in the store with who and when.

    ``sop_instance_uid`` is the original UID (the store's key, never written out); the latest
    decision of an instance is the one in force. ``reason`` is free text from the reviewer and
    must not repeat identifying values. ``scope`` says how it was taken (``instance``,
    ``series`` or ``query``), ``decision_id`` groups the decisions taken at once.
    """

    sop_instance_uid: str
    action: str
    reason: str = ""
    who: str = ""
    time: float = 0.0
    scope: str = "instance"
    decision_id: str = ""

    def __post_init__(self) -> None:
        if self.action not in DECISION_ACTIONS:
            raise ValueError(f"decision action {self.action!r} is not one of "
                             f"{', '.join(DECISION_ACTIONS)}")


@dataclass(frozen=True)
class PatientKey:
    """The original identity of a patient, as read from a header. Sensitive: never written out."""

    patient_id: str
    patient_name: str = ""
    issuer: str = ""
    birth_date: str = ""


@dataclass(frozen=True)
class Pseudonym:
    """The replacement identity of a patient."""

    patient_id: str
    patient_name: str


def flatten(results: Iterable[Iterable[Any] | None]) -> Iterator[Any]:
    """Flatten the per-plugin lists a registration hook returns (``None`` results skipped)."""
    for result in results:
        if result is None:
            continue
        yield from result


__all__ = [
    "AuditEvent", "Change", "ExportRecord", "Finding", "PatientKey", "Pseudonym", "Rejection",
    "SeriesOutcome", "SourceItem", "flatten",
]

