"""The per-instance work of the stages, run inside workers: ``ingest`` (read the header) and
``audit``, ``redact`` and ``export`` (read → redact → audit → encode → gate → write; a stage
does the part of that it needs), or ingest and export from one read (``gantry deidentify``).

Work is sent as :class:`WorkUnit` (one series each) to an executor; the worker rebuilds its
:class:`~gantry.context.Run` from the unit's :class:`~gantry.context.RunSpec` (cached per
process) and returns one :class:`InstanceResult` per instance. Workers never write the store:
the parent records results, so the store has a single writer.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gantry.components import ExportTarget
from gantry.errors import ExportError, GantryError, InputError, LeakError, WithheldError
from gantry.records import Change, ExportRecord, Finding, PatientKey, SourceItem
from gantry.stash import StashKey

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.components import BytePass, InstanceSink
    from gantry.context import InstanceContext, Run, RunSpec
    from gantry.model import Instance

Mode = Literal["audit", "redact", "export"]
#: per run: component implementations by (kind, name), and whether an auditor reads pixels
_IMPLS = StashKey[dict[tuple[str, str], Any]]()
_AUDIT_NEEDS_PIXELS = StashKey[bool]()
PIXEL_KEYWORDS = ("PixelData", "FloatPixelData", "DoubleFloatPixelData")


@dataclass
class WorkUnit:
    """Instances (usually one series) to process with one run spec."""

    spec: RunSpec
    mode: Mode
    instances: list[Instance]
    targets: list[ExportTarget] = field(default_factory=list)
    want_headers: bool = False
    audit_after_redaction: bool = False
    #: in ``export`` mode, also run the profile's auditors in the same pass (one read, not two):
    #: after the redaction stack, on the redacted dataset, with the applied changes in
    #: ``context.notes["applied_changes"]`` — findings say what was done and what remains
    with_audit: bool = False
    #: the run-wide roster the export gate also matches (a file: ``gantry.deid.roster``)
    roster: str = ""
    #: ``(patient ID, name)`` of patients this worker met since the roster was written (a
    #: one-shot pass: earlier inputs of the same unit), matched by the gate as well
    seen: list[tuple[str, str]] = field(default_factory=list)
    #: the unit is one whole series: redactors with ``runs_in="series"`` get ``begin_series``
    whole_series: bool = False
    #: a dry run (``redact`` mode, nothing written): the export's own withholding applies as
    #: well (its audit's verdict, burned-in text, kept graphics), so it refuses what the
    #: export would refuse
    dry_run: bool = False


@dataclass
class IngestUnit:
    """Inputs whose headers a worker reads."""

    spec: RunSpec
    ingestor: str
    items: list[SourceItem]
    #: a query expression: inputs it does not match are withheld (``deidentify --query``)
    select: str | None = None


@dataclass
class IngestResult:
    """One input read (``instance`` and ``header`` set) or skipped (``reason`` set)."""

    item: SourceItem
    instance: Any = None
    header: Any = None
    reason: str = ""
    kind: str = "ok"  # ok | rejected | index | withheld | skipped
    #: the store backend's ``prepare(header)`` result, computed in the worker
    prepared: Any = None


def ingest_unit(unit: IngestUnit) -> list[IngestResult]:
    """Read the headers of a unit's inputs; bad inputs become results with a reason."""
    run = run_for(unit.spec)
    opener = run.hooks.component("ingestor", unit.ingestor).open
    backend = run.hooks.store_backend_for(unit.spec.store_url)
    from gantry.dicom.walk import raw_preparer

    prepare, prepare_raw = backend.prepare, raw_preparer(backend)
    screen = _screen(run, unit.select)
    if prepare is None or prepare_raw is None:
        return [_ingest_item(item, opener, prepare, screen=screen) for item in unit.items]
    out = []
    for item in unit.items:
        data = _small_file(item, opener)
        if data is None:
            out.append(_ingest_item(item, opener, prepare, screen=screen))
            continue

        def from_memory(source: str, data: bytes = data) -> Any:
            import io

            return io.BytesIO(data)

        out.append(_ingest_item(item, from_memory, prepare, data, prepare_raw, screen))
    return out


#: inputs up to this size are read whole at ingest, so that the raw header reader takes them
#: (as the one-shot pass does); larger ones have only their header read
_WHOLE_READ_MAX = 1 << 24


def _small_file(item: SourceItem, opener: Any) -> bytes | None:
    """The bytes of a small input (``None``: larger, refused, or not readable here: the
    header reader then opens it and says why)."""
    if item.refused or not 0 < item.size <= _WHOLE_READ_MAX:
        return None
    try:
        with opener(item.source) as fh:
            # one buffer of the file's size (``read(limit)`` would allocate the whole limit,
            # 16 MiB, for every file, and fault its pages in as it fills)
            data = fh.read(item.size + 1)
            if len(data) > item.size:  # grown since it was listed: on, up to the limit
                data += fh.read(_WHOLE_READ_MAX + 1 - len(data))
            return data
    except (OSError, InputError):
        return None


def _screen(run: Run, select: str | None) -> Any:
    """The function telling why an input is withheld, or ``None`` when nothing can be
    (no ``filter:`` rule, no lookup table, no ``--query``, no ``gantry_withhold`` hook)."""
    if not (run.profile.filter or run.profile.lookup or select
            or run.hooks.pm.hook.gantry_withhold.get_hookimpls()):
        return None
    from gantry.filters import withhold_reason

    return lambda instance, header: withhold_reason(run, instance, header, select)


def _ingest_item(item: SourceItem, opener: Any, prepare: Any,
                 data: bytes | None = None, prepare_raw: Any = None,
                 screen: Any = None) -> IngestResult:
    from gantry.dicom.rawheader import RawHeader
    from gantry.errors import InputError
    from gantry.reading import DicomdirFound, read_header

    if item.refused:  # the ingestor could not, or must not, open it
        return IngestResult(item, reason=item.refused, kind=item.refused_as)
    try:
        instance, header = read_header(item, opener, data, raw=prepare_raw is not None)
        if screen is not None:
            reason = screen(instance, header)
            if reason:
                return IngestResult(item, instance=instance, reason=reason, kind="withheld")
        if prepare_raw is not None and isinstance(header, RawHeader):
            return IngestResult(item, instance=instance, prepared=prepare_raw(header))
        if prepare is not None:  # the backend needs only this: the header stays here
            return IngestResult(item, instance=instance, prepared=prepare(header))
    except DicomdirFound as exc:
        return IngestResult(item, reason=exc.reason, kind="index")
    except InputError as exc:
        return IngestResult(item, reason=exc.reason, kind="rejected")
    except OSError as exc:
        return IngestResult(item, reason=f"cannot read ({exc.strerror or exc})", kind="rejected")
    except Exception as exc:  # a value nothing can decode: this input's rejection, one line
        return IngestResult(item, reason=f"unreadable DICOM header ({one_line(exc)})",
                            kind="rejected")
    return IngestResult(item, instance=instance, header=header)


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` of an exception (at most 200 characters): what a
    rejection says of an error that was not raised on purpose."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:200] if first else type(exc).__name__


@dataclass
class IngestExportUnit:
    """Inputs to ingest and export in one pass (``gantry deidentify``): each file is read
    once, its header indexed and the instance redacted, audited and written."""

    spec: RunSpec
    ingestor: str
    items: list[SourceItem]
    target: ExportTarget
    select: str | None = None
    #: as :attr:`WorkUnit.roster`
    roster: str = ""


@dataclass
class IdentityUnit:
    """Inputs whose patient identity the one-shot pass needs before it writes anything
    (:func:`patient_identities`)."""

    spec: RunSpec
    ingestor: str
    items: list[SourceItem]


def patient_identities(unit: IdentityUnit) -> list[tuple[str, str]]:
    """``(patient ID, patient name)`` of the inputs of a unit, each read as ingest reads its
    header (an input that cannot be read is left out: the pass itself rejects it, with the
    reason). ``gantry deidentify`` gathers them before its pass, so the export gate of every
    instance knows every patient of the run, those met later in the pass included."""
    import io

    from gantry.dicom.elements import forget_split
    from gantry.dicom.structure import forget_checked
    from gantry.reading import read_header

    run = run_for(unit.spec)
    opener = run.hooks.component("ingestor", unit.ingestor).open
    found: set[tuple[str, str]] = set()
    for item in unit.items:
        if item.refused:
            continue
        data = _small_file(item, opener)  # a small file: read by the raw header reader, as
        try:  # the pass's ingest reads it (no pydicom dataset); a large one: its header only
            if data is None:
                instance, _header = read_header(item, opener)
            else:
                instance, _header = read_header(
                    item, lambda source, data=data: io.BytesIO(data), data, raw=True)
        except Exception:  # (rejected by the pass, with its reason)
            continue
        finally:  # the split and check memos do not keep this file's bytes
            forget_split()
            forget_checked()
        found.add((instance.patient_id or "", instance.patient_name or ""))
    return sorted(found)


def ingest_and_export(unit: IngestExportUnit) -> list[tuple[IngestResult, InstanceResult | None]]:
    """Ingest then export each input of a unit from one read of its bytes. The export result
    is ``None`` for an input that was not ingested (rejected, an index)."""
    import io

    from gantry.dicom.elements import forget_split
    from gantry.dicom.structure import forget_checked

    run = run_for(unit.spec)
    opener = run.hooks.component("ingestor", unit.ingestor).open
    backend = run.hooks.store_backend_for(unit.spec.store_url)
    from gantry.dicom.walk import raw_preparer

    prepare, prepare_raw = backend.prepare, raw_preparer(backend)
    if prepare is None:  # the header goes to the parent: as a dataset
        prepare_raw = None
    export = WorkUnit(unit.spec, "export", [], targets=[unit.target], with_audit=True,
                      roster=unit.roster)
    screen = _screen(run, unit.select)
    sinks = [run.hooks.exporter_for(unit.target.format, unit.target.to).factory(unit.target,
                                                                                 run)]
    out: list[tuple[IngestResult, InstanceResult | None]] = []
    try:
        for item in unit.items:
            if item.refused:
                out.append((_ingest_item(item, opener, prepare), None))
                continue
            try:
                with opener(item.source) as fh:
                    data = fh.read()
            except OSError as exc:
                out.append((IngestResult(item, reason=f"cannot read ({exc.strerror or exc})",
                                         kind="rejected"), None))
                continue
            except InputError as exc:  # an archive member that cannot be had
                out.append((IngestResult(item, reason=exc.reason, kind="rejected"), None))
                continue

            def from_memory(source: str, data: bytes = data) -> io.BytesIO:
                # reading it whole gives back ``data`` itself (no copy), so the export finds
                # the split the header read made (``split_cached`` keys on identity)
                return io.BytesIO(data)

            ingested = _ingest_item(item, from_memory, prepare, data, prepare_raw, screen)
            exported = None
            if ingested.kind == "ok":
                who = (ingested.instance.patient_id, ingested.instance.patient_name)
                if who not in export.seen:
                    export.seen.append(who)
                exported = process_instance(ingested.instance, export, run, sinks,
                                            opener=from_memory)
                ingested.instance.bind(None)  # do not keep the file's bytes alive
            forget_split()
            forget_checked()
            out.append((ingested, exported))
        for sink in sinks:  # (a sink that delivers per unit: see InstanceSink)
            if hasattr(sink, "finish_series"):
                _finish_series(sink, [res for _, res in out if res is not None])
    finally:
        for sink in sinks:
            sink.close()
    return out


@dataclass
class InstanceResult:
    """What happened to one instance. Holds no original identifying value."""

    sop_instance_uid: str
    ok: bool = True
    error: str = ""
    plugin: str = ""
    stage: str = ""
    changes: list[Change] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    exports: list[ExportRecord] = field(default_factory=list)
    #: export to a parent-side sink: the redacted header without pixels, encoded
    header: bytes | None = None
    #: export to a series sink: why it left this instance out (nothing written for it)
    skipped: str = ""
    #: redact stage only: the modified pixels ``(array, PixelMeta)`` for the store's sidecar
    pixels: Any = None
    new_sop_instance_uid: str = ""
    bytes_in: int = 0
    seconds: float = 0.0
    #: done by the redactor's byte pass (not the full pipeline)
    byte_pass: bool = False
    #: why the byte pass handed this instance to the full pipeline ("" when it did not)
    fallback: str = ""


_RUNS: dict[RunSpec, Run] = {}


def preload() -> None:
    """Import what processing an instance needs (a worker's warm-up; before forking workers,
    the parent's, so that none of them imports it again)."""
    import gantry.deid.audit
    import gantry.deid.byte_pass
    import gantry.deid.engine
    import gantry.deid.gate
    import gantry.deid.identifiers
    import gantry.deid.keys
    import gantry.deid.markers
    import gantry.dicom.rawheader
    import gantry.model
    import gantry.reading
    import gantry.runbuild  # noqa: F401


def run_for(spec: RunSpec) -> Run:
    """The :class:`Run` of a spec, built once per process."""
    run = _RUNS.get(spec)
    if run is None:
        import os
        import warnings

        from gantry.runbuild import build_run

        if not os.environ.get("GANTRY_DEBUG"):  # pydicom's per-value warnings are noise here
            warnings.filterwarnings("ignore", category=UserWarning, module="pydicom")

        run = build_run(spec)
        _RUNS.clear()
        _RUNS[spec] = run
    return run


def adopt_run(spec: RunSpec, run: Run) -> None:
    """Use an existing run for ``spec`` in this process (the session's own, for inline work)."""
    _RUNS.clear()
    _RUNS[spec] = run


def patient_key(ds: Dataset) -> PatientKey:
    """The original identity of the patient an instance belongs to."""
    return PatientKey(
        patient_id=str(ds.get("PatientID", "") or "").strip(),
        patient_name=str(ds.get("PatientName", "") or "").strip(),
        issuer=str(ds.get("IssuerOfPatientID", "") or "").strip(),
        birth_date=str(ds.get("PatientBirthDate", "") or "").strip(),
    )


def make_context(instance: Instance, ds: Dataset, run: Run) -> InstanceContext:
    """Build the context for one instance, collecting its identifiers before anything changes."""
    from gantry.context import InstanceContext
    from gantry.deid.identifiers import collect_identifiers

    patient = patient_key(ds)
    return InstanceContext(instance=instance, run=run, patient=patient,
                           identifiers=collect_identifiers(ds, patient, profile=run.profile))


def encode(ds: Dataset) -> bytes:
    """Encode a dataset as a DICOM Part 10 file, in its own transfer syntax.

    The same bytes as ``pydicom.dcmwrite(..., enforce_file_format=True)``, written faster
    (elements still raw are copied as read; see :func:`gantry.dicom.encode.encode`).
    """
    from gantry.dicom.encode import encode as fast_encode

    return fast_encode(ds)


def header_only(ds: Dataset) -> Dataset:
    """A copy of ``ds`` without pixel data (for parent-side sinks and reports)."""
    from pydicom import Dataset

    out = Dataset()
    for elem in ds:
        if elem.keyword not in PIXEL_KEYWORDS:
            out.add(elem)
    if hasattr(ds, "file_meta"):
        out.file_meta = ds.file_meta
    # the encoding it was read in: what a file without a Transfer Syntax UID (no file meta)
    # is written in, the header as the instance itself (pydicom refuses to guess)
    implicit, little = ds.original_encoding
    if implicit is not None and little is not None:
        out.set_original_encoding(implicit, little, ds.original_character_set)
    return out


def modified_pixels(ds: Dataset) -> tuple[Any, Any]:
    """The decoded pixels of a redacted dataset and their self-description."""
    import hashlib

    from gantry.protocols import PixelMeta

    array = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    ts = str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else ""
    meta = PixelMeta(dtype=str(array.dtype), shape=tuple(array.shape), frames=frames,
                     photometric=str(ds.get("PhotometricInterpretation", "")),
                     compression="none", sha256=hashlib.sha256(array.tobytes()).hexdigest(),
                     extra={"transfer_syntax": ts})
    return array, meta


def process_unit(unit: WorkUnit) -> list[InstanceResult]:
    """Process every instance of a unit; never raises for one bad instance."""
    run = run_for(unit.spec)
    sinks: list[InstanceSink] = []
    if unit.mode == "export":
        for target in unit.targets:
            exporter = run.hooks.exporter_for(target.format, target.to)
            sinks.append(exporter.factory(target, run))
    try:
        if unit.whole_series and (unit.mode != "audit" or unit.audit_after_redaction):
            begin_series(unit.instances, run)
        results = [process_instance(inst, unit, run, sinks) for inst in unit.instances]
        for sink in sinks:
            if hasattr(sink, "finish_series"):
                _finish_series(sink, results)
        return results
    finally:
        for sink in sinks:
            sink.close()


def series_redactors(run: Run) -> list[str]:
    """The redactors of the profile's stack that need whole series (``runs_in="series"``)."""
    return [name for name in run.profile.redact
            if getattr(run.hooks.component("redactor", name), "runs_in", "") == "series"]


def begin_series(instances: list[Instance], run: Run) -> None:
    """Hand a whole series to each series redactor of the stack that takes it
    (``begin_series``), before its first instance is redacted. The instances are bound to
    their ingestors' openers. A redactor that raises here fails when it redacts instead
    (its ``redact`` finds no series prepared): the error is its own to report."""
    for name in series_redactors(run):
        redactor = run.hooks.component("redactor", name)
        begin = getattr(_impl(run, "redactor", name, redactor.factory), "begin_series", None)
        if begin is None:
            continue
        for inst in instances:
            inst.bind(run.hooks.ingestor_for(inst.source).open)
        try:
            begin(list(instances))
        except Exception:  # no plan: the redactor fails closed on each instance instead
            pass


def _finish_series(sink: Any, results: list[InstanceResult]) -> None:
    """Let a series sink write what the unit's series makes; hand each instance its records,
    or the reason it was left out (``skipped``); a sink that raises fails them all."""
    try:
        outcome = sink.finish_series()
    except Exception as exc:
        for result in results:
            if result.ok:
                _fail(result, "export", exc)
        return
    for result in results:
        if not result.ok:
            continue
        uid = result.sop_instance_uid
        if uid in outcome.failed:
            _fail(result, "export", ExportError(outcome.failed[uid]))
            continue
        result.exports.extend(outcome.records.get(uid, ()))
        if uid in outcome.skipped:
            result.skipped = outcome.skipped[uid]


def _fail(result: InstanceResult, stage: str, exc: BaseException, plugin: str = "") -> None:
    result.ok = False
    result.stage = stage
    result.plugin = plugin
    if isinstance(exc, GantryError | OSError):  # (one line: a message may quote an element)
        text = str(exc).strip()
        result.error = text.splitlines()[0] if text else type(exc).__name__
    else:
        frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else ""
        result.error = f"{one_line(exc)}{where}"  # one line: no element dump


def process_instance(instance: Instance, unit: WorkUnit, run: Run,
                     sinks: list[InstanceSink], opener: Any = None) -> InstanceResult:
    """Run one instance through the unit's mode and return what happened (``opener``: how to
    open its source, by default its ingestor's)."""
    started = time.perf_counter()
    result = InstanceResult(sop_instance_uid=instance.sop_instance_uid)
    instance.bind(opener or run.hooks.ingestor_for(instance.source).open)
    byte_pass = _byte_pass(run, unit, sinks)
    if byte_pass is not None:
        done = _process_bytes(byte_pass, instance, unit, run, sinks, result)
        if done:
            result.seconds = time.perf_counter() - started
            return result
    try:
        needs_pixels = (unit.mode != "audit" or unit.audit_after_redaction
                        or _audit_needs_pixels(run))
        ds = instance.load(pixels=needs_pixels)
        result.bytes_in = max(instance.size, 0)
        context = make_context(instance, ds, run)
    except Exception as exc:
        _fail(result, "read", exc)
        return result
    try:
        if unit.mode == "audit" and not unit.audit_after_redaction:
            result.findings = _audit(ds, context, run)
            return result
        try:
            result.changes.extend(redact_dataset(ds, context, run))
        except RedactorFailed as exc:
            _fail(result, "redact", exc.error, plugin=exc.plugin)
            return result
        result.new_sop_instance_uid = str(ds.get("SOPInstanceUID", ""))
        if unit.mode == "redact" and context.pixels_modified:
            result.pixels = modified_pixels(ds)
        if unit.mode == "audit" or unit.with_audit:
            context.notes["applied_changes"] = list(result.changes)
            context.notes["redacted"] = True
            result.findings = _audit(ds, context, run)
            if unit.mode == "audit":
                return result
        if unit.mode == "export" or unit.dry_run:
            withhold(instance, context, result.findings, run, ds)
        data = encode(ds)
        paths = [sink.target_path(ds, context) for sink in sinks] or [""]
        gate(data, paths, context.identifiers, _roster(unit))
        if unit.mode == "export":
            if not _write(sinks, paths, data, ds, context, result):
                return result
            if unit.want_headers:  # as bytes: some pydicom values do not pickle
                result.header = encode(header_only(ds))
    except LeakError as exc:
        _fail(result, "gate", exc)
    except Exception as exc:
        _fail(result, unit.mode, exc)
    finally:
        instance.unload()
        result.seconds = time.perf_counter() - started
    return result


class RedactorFailed(Exception):
    """A redactor of the stack raised ``error`` (``plugin`` gave it)."""

    def __init__(self, error: BaseException, plugin: str) -> None:
        super().__init__(str(error))
        self.error = error
        self.plugin = plugin


def redact_dataset(ds: Dataset, context: InstanceContext, run: Run) -> list[Change]:
    """Apply the profile's ordered ``redact:`` stack to ``ds`` in place; return the changes,
    each naming its component. A redactor that raises stops the stack:
    :class:`RedactorFailed` carries its error and plugin."""
    changes: list[Change] = []
    for name in run.profile.redact:
        redactor = run.hooks.component("redactor", name)
        try:
            impl = _impl(run, "redactor", name, redactor.factory)
            made = impl.redact(ds, context)
        except Exception as exc:
            raise RedactorFailed(exc, redactor.plugin) from exc
        for change in made or ():
            changes.append(change if change.component else Change(
                change.action, change.tag, change.keyword, change.path, change.detail, name))
    if context.notes.get("performed_options") or context.pixels_modified:
        from gantry.deid.markers import add_performed_codes

        add_performed_codes(ds, context)  # options carried out after the markers were set
    return changes


def _byte_pass_mode() -> str:
    """``GANTRY_BYTE_PASS``: ``1`` (default) use a redactor's byte pass where offered, ``0``
    never, ``strict`` use it and let an error in it fail the run instead of falling back (for
    equivalence tests)."""
    import os

    return os.environ.get("GANTRY_BYTE_PASS", "1")


def _byte_pass(run: Run, unit: WorkUnit, sinks: list[InstanceSink]) -> BytePass | None:
    """The byte pass the redaction stack offers for this unit's work, or ``None``: asked of
    the profile's redactor when it is the only one (``RedactorImpl.byte_pass``, with the
    auditor implementations when the unit audits), for exports to sinks whose class declares
    ``takes_byte_pass_stub = True`` itself (not inherited: a subclass may read more of the
    dataset than the stub holds)."""
    if unit.mode != "export" or unit.want_headers or not sinks or _byte_pass_mode() == "0":
        return None
    if not all(type(sink).__dict__.get("takes_byte_pass_stub") is True for sink in sinks):
        return None
    names = run.profile.redact
    if len(names) != 1:
        return None
    redactor = run.hooks.component("redactor", names[0])
    offer = getattr(_impl(run, "redactor", names[0], redactor.factory), "byte_pass", None)
    if offer is None:
        return None
    auditors = [_impl(run, "auditor", name, run.hooks.component("auditor", name).factory)
                for name in run.profile.audit] if unit.with_audit else []
    return offer(auditors)


def _process_bytes(byte_pass: BytePass, instance: Instance, unit: WorkUnit, run: Run,
                   sinks: list[InstanceSink], result: InstanceResult) -> bool:
    """Process one instance with the byte pass; ``False``: use the full path (the reason in
    ``result.fallback``)."""
    if run.profile.burned_in == "allow":
        return False  # what is released as it is gets a marker saying so: the full path
    from gantry.dicom.elements import forget_split
    from gantry.dicom.structure import forget_checked

    try:
        return _bytes_of(byte_pass, instance, unit, run, sinks, result)
    finally:  # the file's bytes are not kept (by the split and check memos) past it
        forget_split()
        forget_checked()


def _bytes_of(byte_pass: BytePass, instance: Instance, unit: WorkUnit, run: Run,
              sinks: list[InstanceSink], result: InstanceResult) -> bool:
    from gantry.components import BytePassDeclined
    from gantry.context import InstanceContext
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.streamed import Streamed
    from gantry.dicom.values import value_of

    try:
        with instance._open() as fh:
            data = fh.read()
    except Exception:
        return False  # the full path reports the read error
    if _not_whole(data, instance, result):
        return True
    try:
        encoded, context, changes, findings, stub = byte_pass.process(
            instance, data,
            lambda patient, identifiers: InstanceContext(
                instance=instance, run=run, patient=patient, identifiers=identifiers),
            unit.with_audit)
    except BytePassDeclined as exc:
        result.fallback = str(exc) or "declined"
        return False
    except DicomFormatError as exc:
        result.fallback = exc.reason
        return False
    except Exception as exc:
        if _byte_pass_mode() == "strict":
            raise
        result.fallback = f"{type(exc).__name__} in the byte pass"
        return False  # whatever the full path makes of it (an error with a reason, or not)
    result.byte_pass = True
    result.bytes_in = max(instance.size, 0)
    result.changes = changes
    result.findings = findings
    result.new_sop_instance_uid = str(value_of(stub, 0x00080018, "SOPInstanceUID") or "")
    try:
        withhold(instance, context, findings, run, None,
                 encoded.scanned() if isinstance(encoded, Streamed) else encoded)
        paths = [sink.target_path(stub, context) for sink in sinks]
        gate(encoded, paths, context.identifiers, _roster(unit))
        _write(sinks, paths, encoded, stub, context, result)
    except LeakError as exc:
        _fail(result, "gate", exc)
    except Exception as exc:
        _fail(result, unit.mode, exc)
    return True


def _not_whole(data: bytes, instance: Instance, result: InstanceResult) -> bool:
    """Fail ``result`` when a Part 10 file is not whole (it may have changed since it was
    ingested): nothing is written from it."""
    if data[128:132] != b"DICM":
        return False
    from gantry.dicom.errors import DicomFormatError
    from gantry.dicom.structure import check_cached, describe

    try:
        check_cached(data)
    except DicomFormatError as exc:
        _fail(result, "read", InputError(instance.source, describe(exc)))
        return True
    return False


def _write(sinks: list[InstanceSink], paths: list[str], data: Any, dataset: Any,
           context: InstanceContext, result: InstanceResult) -> bool:
    """Hand the encoded instance to each sink (a :class:`~gantry.dicom.streamed.Streamed`
    file as it is to sinks declaring ``takes_streamed``, joined once for the others);
    ``False`` (and ``result`` failed) when one cannot write it."""
    from gantry.dicom.streamed import Streamed

    joined = None
    for sink, path in zip(sinks, paths[:len(sinks)], strict=True):
        given = data
        if isinstance(data, Streamed) and type(sink).__dict__.get("takes_streamed") is not True:
            if joined is None:
                joined = bytes(data)
            given = joined
        try:
            record = sink.write(path, given, dataset, context)
        except Exception as exc:
            _fail(result, "export", exc)
            return False
        if record is not None:
            result.exports.append(record)
    return True


def withhold(instance: Instance, context: InstanceContext, findings: list[Finding], run: Run,
             ds: Dataset | None, data: bytes | None = None) -> None:
    """The export honours its own verdict: raise :class:`WithheldError` when the export
    pass's audit found identifying values (an error finding), or when the image is known to
    carry burned-in text (:mod:`gantry.deid.burned_in`) that no pixel redactor processed and
    the profile does not say ``burned_in: allow``, or shows the patient recognizably
    (:func:`gantry.deid.burned_in.recognizable_features`), or when the output keeps an icon image or
    overlay bitmaps (checked on ``ds``, or the encoded ``data``); under ``allow`` the markers
    of ``ds`` say that burned-in text was not removed."""
    from gantry.deid.burned_in import (
        ALLOWED_NOTE,
        burned_in_reason,
        kept_graphics,
        pixels_cleaned,
        recognizable_features,
        refusal,
    )

    errors = [f for f in findings if f.severity == "error" and f.code != "verdict"]
    if errors or any(f.severity == "error" for f in findings):
        what = sorted({f"{f.code} in {f.keyword or f.tag}" if (f.keyword or f.tag) else f.code
                       for f in errors}) or ["an error verdict"]
        more = f" (+{len(what) - 3} more)" if len(what) > 3 else ""
        raise WithheldError(f"export gate: refused: the export pass's audit found "
                            f"identifying values ({'; '.join(what[:3])}{more})")
    reason = burned_in_reason(instance, findings)
    if reason is not None and pixels_cleaned(context):
        reason = None
    if reason is None:
        reason = recognizable_features(instance, context, ds, None if ds is not None else data)
        if reason is not None and run.profile.burned_in != "allow":
            raise WithheldError(f"export gate: refused: {reason}, and no redactor cleaned "
                                "recognizable visual features; add clean-recognizable-visual-"
                                "features (gantry-deface) or set burned_in: allow after "
                                "reviewing the images")
    if reason is None:
        reason = kept_graphics(ds, None if ds is not None else data)
        if reason is not None and run.profile.burned_in != "allow":
            raise WithheldError(f"export gate: refused: {reason}; remove it (the default "
                                "profiles do) or set burned_in: allow after reviewing them")
    if reason is None:
        return
    if run.profile.burned_in != "allow":
        raise WithheldError(f"export gate: {refusal(reason, context)}")
    context.notes["burned_in_allowed"] = reason
    if ds is not None and "DeidentificationMethod" in ds:
        value = ds.DeidentificationMethod
        values = [value] if isinstance(value, str) else [str(v) for v in value]
        if ALLOWED_NOTE not in values:
            ds.DeidentificationMethod = [*values, ALLOWED_NOTE]


_SEEN: dict[tuple[tuple[str, str], ...], Any] = {}


def _roster(unit: WorkUnit) -> list[Any]:
    """The rosters the gate matches for this unit: the run-wide one (built once per
    process) and one of the patients met in this unit since (small; rebuilt as it grows)."""
    from gantry.deid.roster import build_roster, roster_at

    try:
        found = roster_at(unit.roster)
    except OSError as exc:  # fail closed: the gate's reach is not silently narrowed
        raise GantryError(f"the run's patient roster cannot be read here ({exc.strerror or exc}"
                          "): the export gate cannot check for other patients' values") from exc
    rosters = [found] if found is not None else []
    if unit.seen:
        key = tuple(unit.seen)
        local = _SEEN.get(key)
        if local is None:
            _SEEN.clear()
            local = _SEEN[key] = build_roster(unit.seen)
        rosters.append(local)
    return rosters


def gate(data: Any, paths: list[str], identifiers: Any, rosters: Any = ()) -> None:
    """The export gate: raise :class:`LeakError` when the encoded file or one of its output
    paths holds an identifying value of this instance or, with ``rosters``, of any patient
    the run has seen (the bytes are scanned once per set, then each path). A
    :class:`~gantry.dicom.streamed.Streamed` file is scanned without its pixel value (which
    the gate does not read), offsets given in the file as written."""
    from dataclasses import replace

    from gantry.deid.gate import find_leaks
    from gantry.deid.roster import roster_leaks
    from gantry.dicom.streamed import Streamed

    at = skipped = 0
    if isinstance(data, Streamed):
        at, skipped = len(data.head), len(data.value)
        data = data.scanned()
    leaks = find_leaks(data, "", identifiers)
    for path in paths:
        if path:
            leaks.extend(find_leaks(b"", path, identifiers))
    for roster in rosters if not leaks else ():  # (the instance's own values are in them)
        found = roster_leaks(data, "", roster)
        for path in paths:
            if path:
                found.extend(roster_leaks(b"", path, roster))
        leaks = [replace(leak, kind=f"{leak.kind} of another patient") for leak in found]
        if leaks:
            break
    if skipped:  # where the bytes after the pixel value are in the file as written
        leaks = [replace(leak, offset=leak.offset + skipped) if leak.offset >= at else leak
                 for leak in leaks]
    if leaks:
        detail = "; ".join(str(leak) for leak in leaks[:5])
        more = f" (+{len(leaks) - 5} more)" if len(leaks) > 5 else ""
        raise LeakError(f"export gate: identifying values would be written: {detail}{more}")


def _audit_needs_pixels(run: Run) -> bool:
    """Whether any of the profile's auditors reads pixels (computed once per run)."""
    cached = run.stash.get(_AUDIT_NEEDS_PIXELS, None)
    if cached is None:
        cached = run.stash[_AUDIT_NEEDS_PIXELS] = any(
            run.hooks.component("auditor", name).needs_pixels for name in run.profile.audit)
    return cached


def _audit(ds: Dataset, context: InstanceContext, run: Run) -> list[Finding]:
    findings: list[Finding] = []
    for name in run.profile.audit:
        auditor = run.hooks.component("auditor", name)
        impl = _impl(run, "auditor", name, auditor.factory)
        for finding in impl.audit(ds, context) or ():
            findings.append(finding)
    return findings


def _impl(run: Run, kind: str, name: str, factory: Any) -> Any:
    """Component implementations are built once per run."""
    cache = run.stash.setdefault(_IMPLS, {})
    key = (kind, name)
    if key not in cache:
        cache[key] = factory(run)
    return cache[key]
