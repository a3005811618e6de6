"""What a component is: the records plugins register components with, and the protocols their
implementations follow.

* **component records** yielded by the registration hooks (``Ingestor``, ``Auditor``,
  ``Redactor``, ``StoreBackend``, ``Exporter``, ``Executor``, ``ConfigKey``). Each has a
  lower-kebab ``name``; the plugin manager stamps ``plugin`` with the name of the plugin that
  yielded it and refuses two records of one kind with one name.
* **implementation protocols** (``RedactorImpl``, ``AuditorImpl``, ``InstanceSink``,
  ``ExecutorImpl``): what a record's ``factory`` returns. (A store's is
  :class:`gantry.protocols.Store`.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

if TYPE_CHECKING:
    from pydantic import BaseModel
    from pydicom import Dataset

    from gantry.context import InstanceContext, Run
    from gantry.model import Instance
    from gantry.protocols import Store
    from gantry.records import (
        Change,
        ExportRecord,
        Finding,
        PatientKey,
        SeriesOutcome,
        SourceItem,
    )

T = TypeVar("T")
R = TypeVar("R")

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

    ``discover`` may also yield a :class:`~gantry.records.Rejection` for an input it found but
    could not fetch (a network retrieval that failed for one instance): the session records it
    as a rejected input with its reason, exactly like a file that is not DICOM, and goes on
    with the rest. An ingestor may consult ``run.store`` (``get_instance``,
    ``is_source_done``) to leave out what the store already holds before fetching it (resume).
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
    """Changes one instance in place. ``factory(run)`` returns a :class:`RedactorImpl`.

    ``performs`` names the Annex E options (``clean-pixel-data``...) this redactor carries
    out: a profile switching an option on must name, in ``redact:``, a redactor that performs
    it. ``unconfigured(profile)``, optional, returns why the profile's settings leave it with
    nothing to do (``None`` when configured): such a redactor does not count as performing.
    A redactor that carries out a per-instance option on an instance records it in
    ``context.notes["performed_options"]`` (a set), so its code is written for that instance.

    ``runs_in="series"``: the redactor needs each instance's whole series (a volume). Every
    unit of work of a stage whose stack holds it is then one whole series (``gantry
    deidentify`` ingests first and exports after, as for a series exporter), and before the
    first instance of a unit is redacted the pipeline calls the implementation's optional
    ``begin_series(instances)`` with the unit's :class:`~gantry.model.Instance` records
    (bound to their sources, original headers).
    """

    factory: Callable[[Run], RedactorImpl] = field(kw_only=True)
    performs: tuple[str, ...] = field(default=(), kw_only=True)
    unconfigured: Callable[[Any], str | None] | None = field(default=None, kw_only=True)
    runs_in: Literal["instance", "series"] = field(default="instance", kw_only=True)


@dataclass(frozen=True)
class IndexEntries:
    """How a store backend builds ``prepare_raw``'s result from per-element *entries* the
    kernel finds once per distinct top-level element (its bytes, the transfer syntax and the
    character set) and shares with the byte pass (see :mod:`gantry.dicom.walk`), instead of
    walking the header again. The entry format is the backend's own."""

    #: an object the entries depend on besides the element (the backend's decoding settings),
    #: compared by identity: an entry made under another token is made again; ``None``: take
    #: no entries now (``prepare_raw`` is called instead)
    token: Callable[[], Any]
    #: ``entry(header, span)``: the entry of one top-level element of a
    #: :class:`~gantry.dicom.rawheader.RawHeader` (picklable or not: it stays in the worker)
    entry: Callable[[Any, Any], Any]
    #: ``prepare(header, entries)``: ``prepare_raw(header)``'s very result from the entries of
    #: ``header.spans`` in order; ``None`` when they do not suffice (then ``prepare_raw`` runs)
    prepare: Callable[[Any, list[Any]], Any]


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
    #: optional: ``prepare`` of a :class:`~gantry.dicom.rawheader.RawHeader` (the same result as
    #: ``prepare(header.dataset())``), offered instead when the one-shot pass read the file
    #: without building a dataset
    prepare_raw: Callable[[Any], Any] | None = field(default=None, kw_only=True)
    #: optional, with ``prepare_raw``: build its result from the kernel's per-element entries
    #: (one look-up per element shared with the byte pass; see :class:`IndexEntries`)
    prepare_entries: IndexEntries | None = field(default=None, kw_only=True)
    #: optional: the backend keeps a store in one local file with this name suffix
    #: (``".db"``): a one-shot run's working store may use it, and ``--db cohort.db`` is
    #: answered with the URL it probably meant
    file_suffix: str | None = field(default=None, kw_only=True)
    #: optional: whether a store exists at a URL (read commands refuse to create one)
    exists: Callable[[str], bool] | None = field(default=None, kw_only=True)


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
    #: data, ``data=b""``), for table-like formats that write one file; ``"series"``: like
    #: ``"worker"``, but each unit is one whole series (never split) and the sink is a
    #: :class:`SeriesSink`: ``write`` takes each instance of the series (and may return
    #: ``None``), then ``finish_series()`` writes what the whole series makes (a volume) and
    #: says, per instance, which records it went into or why it was left out.
    #: ``gantry deidentify`` then ingests first and exports after, as for ``"parent"``.
    runs_in: Literal["worker", "parent", "series"] = field(default="worker", kw_only=True)
    #: optional: ``finish(target, run)``, called once in the main process after every unit of
    #: an export to ``target`` ran (before the stage's observers), for files that describe the
    #: whole destination (a BIDS dataset's ``participants.tsv``); returns lines to report
    finish: Callable[[ExportTarget, Run], list[str]] | None = field(default=None, kw_only=True)
    #: optional: ``prepare(target, run, store)``, called once in the main process before an
    #: export's units are made; its (picklable) dict is merged into ``target.options`` for the
    #: sinks: what a sink of one series must know of the others (a BIDS session number per
    #: study). It must hold no original identifying value (key by ``run.keyed_hash``)
    prepare: Callable[[ExportTarget, Run, Store], dict[str, Any]] | None = field(
        default=None, kw_only=True)


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


class RedactorImpl(Protocol):
    """A redactor bound to a run.

    A redactor may also offer ``byte_pass(auditors) -> BytePass | None``: a pass that does
    its work, and that of the given auditor implementations (the profile's, in order; ``[]``
    without audit), straight from a file's bytes with the very results of the full pipeline;
    ``None`` when it cannot reproduce that stack. The pipeline asks for it when the profile's
    redaction stack is this redactor alone and every sink takes the pass's output
    (``takes_byte_pass_stub``); the built-in ``ps315-tags`` offers one.
    """

    def redact(self, dataset: Dataset, context: InstanceContext) -> list[Change]:
        """Change ``dataset`` in place; return what changed (never original values)."""


class BytePassDeclined(Exception):
    """A byte pass hands this instance to the full pipeline (the message says why; it never
    holds a value of the file). The run summary counts these as ``fallbacks``."""


class BytePass(Protocol):
    """The export of one instance (redact, audit, encode) computed from its file's bytes.

    Its results must be those of the full pipeline for the same instance: the same encoded
    bytes, changes (in order) and findings. What it cannot prove equal it declines by raising
    :class:`BytePassDeclined`.
    """

    def process(self, instance: Instance, data: bytes,
                context_factory: Callable[[PatientKey, Any], InstanceContext],
                with_audit: bool) -> tuple[bytes, InstanceContext, list[Change], list[Finding],
                                           Dataset]:
        """``(file bytes, context, changes, findings, stub)`` for ``instance`` whose file is
        ``data``: ``context_factory(patient, identifiers)`` builds the instance's context, and
        ``stub`` is a dataset of the redacted key elements (what ``takes_byte_pass_stub``
        sinks read to name and record their output). The file may be a
        :class:`~gantry.dicom.streamed.Streamed` instead of bytes: a large pixel value kept as
        read, not copied."""


class AuditorImpl(Protocol):
    """An auditor bound to a run."""

    def audit(self, dataset: Dataset, context: InstanceContext) -> list[Finding]:
        """Return findings for ``dataset`` (which must not be modified)."""


class InstanceSink(Protocol):
    """An export destination receiving redacted instances one at a time.

    A sink class that reads nothing of the dataset it is handed but the key elements
    (patient, study, series and instance UIDs, SOP class, the file meta's) declares
    ``takes_byte_pass_stub = True`` on its own class (not inherited: a subclass may read
    more); it then receives a redactor's :class:`BytePass` output, a stub dataset of those.
    A sink class that writes and hashes a :class:`~gantry.dicom.streamed.Streamed` file
    piece by piece declares ``takes_streamed = True`` (the same way); any other is handed the
    file joined into one bytes object.
    """

    destination: str

    def target_path(self, dataset: Dataset, context: InstanceContext) -> str:
        """The relative output path for a redacted dataset, built only from its (pseudonymous)
        values and never escaping the destination; ``""`` for sinks without files."""

    def write(self, relpath: str, data: bytes, dataset: Dataset,
              context: InstanceContext) -> ExportRecord | None:
        """Write one instance (``data`` is its encoded, gate-checked Part 10 bytes) atomically."""

    def close(self) -> None:
        """Finish (flush tables, write manifests).

        A sink writing to a URL may also offer ``present()``: the relative paths of the files
        already at its destination (one listing). A resumed export redoes the instances whose
        recorded output is not among them, as it does for local files that are gone.

        A sink that confirms delivery per unit (a PACS's storage commitment) may also offer
        ``finish_series()`` as a :class:`SeriesSink` does: it is called after the last
        instance of each unit, and the instances its ``write`` returned ``None`` for get
        their records, or their failure, from its :class:`SeriesOutcome`."""


class SeriesSink(InstanceSink, Protocol):
    """The sink of an exporter with ``runs_in="series"``: one per unit, and a unit is one
    whole series. ``write`` receives each of its instances (gate-checked bytes; it may return
    ``None`` and keep what it needs), then ``finish_series`` writes what the series makes."""

    def finish_series(self) -> SeriesOutcome:
        """Write the outputs of the series written so far; say which instance went where and
        which were left out, with the reason. Raising fails every instance of the unit."""


class ExecutorImpl(Protocol):
    """Runs a picklable function over picklable items, yielding results as they complete."""

    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
        """Apply ``fn`` to every item; yield results in completion order."""

    def close(self) -> None:
        """Release workers.

        An executor may also offer ``prestart()``: start its workers now, ahead of the first
        work (the session calls it, when asked to, before its slow set-up)."""
