"""Typed records exchanged through hooks.

Two families live here:

* **component records** yielded by the registration hooks (``Ingestor``, ``Auditor``,
  ``Redactor``, ``StoreBackend``, ``Exporter``, ``Executor``, ``ConfigKey``).
  Each has a lower-kebab ``name``; the plugin manager stamps ``plugin`` with the name of the
  plugin that yielded it and refuses two records of one kind with one name.
* **result records** (``Change``, ``Finding``, ``ExportRecord``, ``Rejection``, ``AuditEvent``,
  ``PatientKey``, ``Pseudonym``) produced while a run works. Result records never hold original
  identifying values except ``PatientKey``, which only lives in memory and in the working store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pydantic import BaseModel

    from gantry.context import Run
    from gantry.protocols import AuditorImpl, ExecutorImpl, InstanceSink, RedactorImpl, Store

_NAME = re.compile(r"^[a-z0-9][a-z0-9.\-/]*$")


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(f"{kind} name {name!r} must be lower-kebab-case (a-z, 0-9, '-', '.', '/')")


@dataclass(frozen=True)
class Component:
    """Base of every component record: a validated name, a description, the providing plugin."""

    name: str
    description: str = field(default="", kw_only=True)
    plugin: str = field(default="", kw_only=True, compare=False)

    def __post_init__(self) -> None:
        _check_name(type(self).__name__, self.name)


@dataclass(frozen=True)
class Ingestor(Component):
    """Finds instances behind a URI and opens their bytes.

    ``schemes`` lists the URI schemes handled (``"file"`` covers plain paths). ``discover(uri,
    run)`` yields :class:`SourceItem` (one per candidate file, not yet parsed); ``open(source)``
    returns a binary file object for a ``SourceItem.source`` string. ``count(uri)``, optional:
    about how many items ``discover`` yields, found more cheaply (from names, not contents),
    or ``None``; it only gives the progress bar its total and ETA, so an estimate will do.
    """

    schemes: tuple[str, ...] = field(default=(), kw_only=True)
    discover: Callable[[str, Run], Iterable[SourceItem]] = field(kw_only=True)
    open: Callable[[str], Any] = field(kw_only=True)
    count: Callable[[str], int | None] | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Auditor(Component):
    """Produces findings for one instance. ``factory(run)`` returns an :class:`AuditorImpl`."""

    factory: Callable[[Run], AuditorImpl] = field(kw_only=True)
    needs_pixels: bool = field(default=False, kw_only=True)


@dataclass(frozen=True)
class Redactor(Component):
    """Changes one instance in place. ``factory(run)`` returns a :class:`RedactorImpl`."""

    factory: Callable[[Run], RedactorImpl] = field(kw_only=True)


@dataclass(frozen=True)
class StoreBackend(Component):
    """Opens a :class:`Store` for a URL whose scheme is in ``schemes`` (e.g. ``sqlite``)."""

    schemes: tuple[str, ...] = field(kw_only=True)
    open: Callable[[str], Store] = field(kw_only=True)
    #: optional: run in the ingest *workers* on each header; its picklable result reaches
    #: ``Store.add_instance(instance, header, prepared=...)`` in the parent, so a backend can
    #: move its per-header work (flattening into rows, hashing) off the single writer. The
    #: header itself then stays in the worker: ``add_instance`` gets ``header=None`` (a
    #: parsed header costs as much to send between processes as to read)
    prepare: Callable[[Any], Any] | None = field(default=None, kw_only=True)
    #: optional: ``prepare`` of a :class:`~gantry.rawheader.RawHeader` (the same result as
    #: ``prepare(header.dataset())``), offered instead when the one-shot pass read the file
    #: without building a dataset
    prepare_raw: Callable[[Any], Any] | None = field(default=None, kw_only=True)


@dataclass(frozen=True)
class Exporter(Component):
    """Writes redacted instances to a destination. ``name`` is the format (``dicom``, ``parquet``).

    ``factory(target, run)`` returns an :class:`InstanceSink`. ``schemes`` lists the destination
    URL schemes it can write to (``"file"`` for plain paths); a destination of any other scheme
    is refused before anything is written. ``format``, when set, is the format written under
    another name: a second exporter of a format, for other destinations (``dicom-fsspec``
    writes ``dicom`` to ``s3://``); ``--format dicom`` picks, among the exporters of that
    format, the one whose schemes cover the destination.
    """

    factory: Callable[[ExportTarget, Run], InstanceSink] = field(kw_only=True)
    schemes: tuple[str, ...] = field(default=("file",), kw_only=True)
    format: str = field(default="", kw_only=True)
    #: ``"worker"``: one sink per unit of work inside the worker processes, receiving the encoded
    #: bytes; ``"parent"``: one sink in the main process receiving each redacted header (no pixel
    #: data, ``data=b""``), for table-like formats that write one file.
    runs_in: Literal["worker", "parent"] = field(default="worker", kw_only=True)


@dataclass(frozen=True)
class Executor(Component):
    """Runs units of work. ``factory(options)`` returns an :class:`ExecutorImpl`."""

    factory: Callable[[dict[str, Any]], ExecutorImpl] = field(kw_only=True)


@dataclass(frozen=True)
class ConfigKey(Component):
    """A typed settings section a plugin reads from the profile's ``plugins:`` mapping.

    ``name`` is the section name under ``plugins:``; ``model`` a pydantic model validating it.
    """

    model: type[BaseModel] = field(kw_only=True)


@dataclass(frozen=True)
class ExportTarget:
    """One export destination: where to, in which format, with which options."""

    to: str
    format: str = "dicom"
    options: dict[str, Any] = field(default_factory=dict)
    query: str | None = None


@dataclass(frozen=True)
class SourceItem:
    """A candidate input found by an ingestor: an opaque source string and its size and mtime."""

    source: str
    size: int = -1
    mtime: float = 0.0
    display: str = ""

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
    "AuditEvent", "Auditor", "Change", "Component", "ConfigKey", "ExportRecord",
    "ExportTarget", "Executor", "Exporter", "Finding", "Ingestor", "PatientKey", "Pseudonym",
    "Redactor", "Rejection", "SourceItem", "StoreBackend", "flatten",
]

