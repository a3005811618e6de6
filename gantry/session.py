"""The session facade: one object to ingest, audit, redact and export a cohort.

::

    from gantry import Session

    with Session(store="sqlite:///cohort.db", profile="ps3.15/basic") as session:
        session.ingest("/data/incoming")
        session.audit()
        session.export("/data/research", format="dicom")

Every stage streams over the store, runs its per-instance work through an executor (the unit is
a series) and records results in the store from this process only. Re-running a stage resumes:
inputs already ingested and instances already exported to a destination are skipped.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gantry.components import ExportTarget
from gantry.context import Run, RunSpec
from gantry.errors import ExportError, GantryError
from gantry.input_count import InputCount
from gantry.pipeline import (
    IngestExportUnit,
    IngestResult,
    IngestUnit,
    InstanceResult,
    WorkUnit,
    ingest_and_export,
    ingest_unit,
    process_unit,
)
from gantry.plugins import build_plugin_manager
from gantry.records import AuditEvent, Rejection, SourceItem
from gantry.runbuild import load_run_profile, store_profile
from gantry.sources import is_url

if TYPE_CHECKING:
    from gantry.components import ExecutorImpl, InstanceSink
    from gantry.model import Instance, Patient
    from gantry.plugins import GantryHooks
    from gantry.profiles import Profile
    from gantry.protocols import Store

#: ``progress(stage, done, total, bytes_done)``; ``total`` is ``None`` while unknown.
ProgressCallback = Callable[[str, int, "int | None", int], None]


def conflict_reason(kept: str) -> str:
    """Why an input was not added: a UID conflict with the file ``kept`` (both files named,
    in the run's summary and ``gantry status --rejected`` alike)."""
    other = kept or "another file"
    return (f"SOP Instance UID already ingested from {other} with different content "
            "(UID conflict; that one kept, this one not written)")


@dataclass
class StageSummary:
    """Counts of one stage, for the CLI's ``--json`` and the lifecycle hooks."""

    stage: str
    done: int = 0
    failed: int = 0
    skipped: int = 0
    rejected: int = 0
    duplicates: int = 0
    conflicts: int = 0
    #: instances not written on purpose (profile filters, ``--query``, lookup refusals,
    #: reviewers' decisions)
    withheld: int = 0
    findings: int = 0
    plugin_errors: int = 0
    #: instances the export gate refused (identifying values, the audit's verdict,
    #: burned-in text): not written on purpose (status ``refused``, exit code 3, listed by
    #: ``gantry status``), not counted as failed
    refused: int = 0
    bytes: int = 0
    seconds: float = 0.0
    destination: str = ""
    errors: list[str] = field(default_factory=list)
    #: what else the user should read: why a series sink left instances out (one line per
    #: reason), what an exporter's ``finish`` reported
    notes: list[str] = field(default_factory=list)
    #: findings by severity, then by code: ``{"warning": {"phi-in-text": 3}}``
    findings_by: dict[str, dict[str, int]] = field(default_factory=dict)

    def count_findings(self, findings: Iterable[Any]) -> None:
        """Add findings to :attr:`findings` and :attr:`findings_by`."""
        for finding in findings:
            kinds = self.findings_by.setdefault(finding.severity, {})
            kinds[finding.code] = kinds.get(finding.code, 0) + 1
            self.findings += 1
    #: instances a redactor's byte pass did, and those it handed to the full pipeline
    byte_pass: int = 0
    fallbacks: int = 0
    #: why, counted by reason (never a value of a file)
    fallback_reasons: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (errors capped at 50)."""
        out = dict(self.__dict__)
        out["errors"] = self.errors[:50]
        out["notes"] = self.notes[:200]
        out["fallback_reasons"] = dict(self.fallback_reasons)
        return out


def _whole_series_done(instances: Iterable[Instance], done: set[str]) -> Iterator[Instance]:
    """``instances`` (series by series) with each series' instances all left in ``done`` or
    all taken out of it: a series sink is handed a series whole or not at all (one instance
    added to a series exported before redoes the series)."""
    batch: list[Instance] = []
    for inst in instances:
        if batch and inst.series_instance_uid != batch[0].series_instance_uid:
            yield from _settled(batch, done)
            batch = []
        batch.append(inst)
    yield from _settled(batch, done)


def _settled(batch: list[Instance], done: set[str]) -> list[Instance]:
    if not all(inst.sop_instance_uid in done for inst in batch):
        done.difference_update(inst.sop_instance_uid for inst in batch)
    return batch


def _inputs_seen(summary: StageSummary) -> int:
    """Inputs an ingest has dealt with so far, whatever became of them (against the total
    of :class:`~gantry.input_count.InputCount`)."""
    return (summary.done + summary.duplicates + summary.conflicts + summary.rejected
            + summary.skipped + summary.withheld)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a session method under the session's lock (stages from several threads queue up)."""

    @functools.wraps(method)
    def wrapper(self: Session, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


def _exclusive(method: Callable[..., Any]) -> Callable[..., Any]:
    """:func:`_locked`, and the store held for this run when it offers ``run_lock()`` (a
    store in a file that another process may open): a second run on a store in use is
    refused with one line instead of both counting each other's inputs."""

    @functools.wraps(method)
    def wrapper(self: Session, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            run_lock = getattr(self.store, "run_lock", None)
            if run_lock is None:
                return method(self, *args, **kwargs)
            with run_lock():
                return method(self, *args, **kwargs)

    return wrapper


class Session:
    """The facade over a store, a profile and the plugins (alias :data:`DicomSession`).

    A session may be shared by threads: stages run one at a time under its lock.
    """

    def __init__(self, store: str | None = None, *, profile: str | os.PathLike[str] | None = None,
                 secret: bytes | None = None, secret_file: str | None = None,
                 workers: int | None = None, executor: str = "local",
                 executor_options: dict[str, Any] | None = None,
                 block_plugins: Sequence[str] = (), allow_plugins: Sequence[str] | None = None,
                 progress: ProgressCallback | None = None,
                 forbidden_secret_dirs: Sequence[str | os.PathLike[str]] = (),
                 prestart: bool = False, hooks: GantryHooks | None = None) -> None:
        from gantry.profiles import DEFAULT_PROFILE

        self._lock = threading.RLock()
        self.progress = progress
        if hooks is not None and (block_plugins or allow_plugins is not None):
            raise ValueError("pass hooks or block_plugins/allow_plugins, not both")
        self.hooks = hooks or build_plugin_manager(block=block_plugins, allow=allow_plugins)
        self.workers = workers
        self.executor_name = executor
        self.executor_options = dict(executor_options or {})
        self._exec: ExecutorImpl | None = None
        profile_ref = str(profile) if profile is not None else DEFAULT_PROFILE
        if profile is not None and Path(profile_ref).is_file():
            profile_ref = str(Path(profile_ref).resolve())
        self.profile = load_run_profile(profile_ref, self.hooks)
        if prestart:  # workers start while the store opens (before its threads: see the executor)
            started = getattr(self._executor(), "prestart", None)
            if started is not None:
                started()
        from gantry.deid.secret import check_secret, resolve_secret

        if secret is None:
            secret = resolve_secret(secret_file=secret_file,
                                    forbidden_dirs=[Path(p) for p in forbidden_secret_dirs])
        else:
            check_secret(secret, "Session(secret=...)")
        store_url = store or self.profile.store or "memory://"
        self.spec = RunSpec(profile=profile_ref, secret=secret, store_url=store_url,
                            allow_plugins=tuple(allow_plugins) if allow_plugins is not None
                            else None, block_plugins=tuple(block_plugins))
        backend = self.hooks.store_backend_for(store_url)
        self.store: Store = backend.open(store_url)
        #: the profile asked for; ``spec.profile`` may extend it with what the store records
        self.base_profile = profile_ref
        self._profile_dir: str | None = None
        try:
            ref, self.profile = self._store_profile(profile_ref, self.profile)
        except BaseException:
            self.store.close()
            raise
        self.spec = RunSpec(**{**self.spec.__dict__, "profile": ref})
        self.run = Run(profile=self.profile, secret=secret, hooks=self.hooks, store=self.store,
                       spec=self.spec)
        self.spec = RunSpec(**{**self.spec.__dict__, "run_id": self.run.run_id})
        self.run.spec = self.spec
        from gantry.pipeline import adopt_run

        adopt_run(self.spec, self.run)
        self._openers: dict[str, Any] = {}
        self._input_roots: list[Path] = []
        self._input_urls: list[str] = []
        self._closed = False
        self._roster_dir: str | None = None
        self._roster_files: list[str] = []
        self._since: dict[str, int] = {}  # destination -> outputs count from this time (ns)
        self._roster: tuple[str, int] = ("", -1)  # (file, patients in it)
        #: every ``(patient ID, name)`` of the store, read once, then kept up to date from the
        #: instances this session adds (``None``: not read yet); whether the snapshot lacks one
        self._people: dict[tuple[str, str], None] | None = None
        #: the kinds of file Gantry writes beside its outputs (read when first needed)
        self._own_kinds: list[Any] | None = None
        self._roster_new = True

    @_locked
    def use_profile(self, profile: str | os.PathLike[str]) -> None:
        """Use another privacy profile for the stages that follow (same store, secret and run
        id): a review console adds the zone rules a reviewer accepted this way. Workers
        started for the old profile are stopped."""
        ref = str(profile)
        if Path(ref).is_file():
            ref = str(Path(ref).resolve())
        base = ref
        ref, loaded = self._store_profile(ref, load_run_profile(ref, self.hooks))
        self.base_profile = base
        self._drop_executor()
        self.profile = loaded
        self.spec = RunSpec(**{**self.spec.__dict__, "profile": ref})
        self.run = Run(profile=loaded, secret=self.run.secret, hooks=self.hooks,
                       store=self.store, spec=self.spec, run_id=self.run.run_id)
        from gantry.pipeline import adopt_run

        adopt_run(self.spec, self.run)

    def _store_profile(self, ref: str, profile: Profile) -> tuple[str, Profile]:
        """``(ref, profile)`` extended by what the store records for every run over it (the
        ``gantry_store_profile`` hooks: e.g. zone rules accepted in ``gantry web``)."""
        additions = self.hooks.store_profile(self.store)
        if not additions:
            return ref, profile
        if self._profile_dir is None:
            import tempfile

            self._profile_dir = tempfile.mkdtemp(prefix="gantry-profile-")
        path = store_profile(ref, profile, additions, self._profile_dir)
        return path, load_run_profile(path, self.hooks)

    # -- context manager -------------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers, checkpoint and close the store."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._drop_executor()
                self.store.close()
                self._drop_roster()
                if self._profile_dir is not None:
                    shutil.rmtree(self._profile_dir, ignore_errors=True)

    # -- helpers ---------------------------------------------------------------------------------
    def _executor(self) -> ExecutorImpl:
        """The session's executor, started on first use and kept for every stage."""
        if self._exec is None:
            record = self.hooks.component("executor", self.executor_name)
            options = dict(self.executor_options)
            if self.workers is not None:
                options.setdefault("workers", self.workers)
            self._exec = record.factory(options)
        return self._exec

    def _drop_executor(self) -> None:
        if self._exec is not None:
            executor, self._exec = self._exec, None
            executor.close()

    def _finish(self, stage: str, summary: StageSummary) -> None:
        """Tell observers a stage finished; a plugin that failed along the way fails the stage."""
        self.hooks.stage_finished(stage, self.run, summary.to_dict())
        if self.hooks.observer_errors:
            summary.plugin_errors += len(self.hooks.observer_errors)
            summary.errors.extend(self.hooks.observer_errors)
            self.hooks.observer_errors.clear()

    def _tick(self, stage: str, done: int, total: int | None, nbytes: int) -> None:
        if self.progress is not None:
            self.progress(stage, done, total, nbytes)

    def _event(self, kind: str, subject: str, **detail: Any) -> None:
        self.store.log_event(AuditEvent(kind=kind, subject=subject, detail=detail,
                                        run_id=self.run.run_id, time=time.time()))

    def _source_of(self, sop_instance_uid: str) -> str:
        """The source file (or URL) an instance was ingested from, or ``""``."""
        try:
            instance = self.store.get_instance(sop_instance_uid)
        except GantryError:
            return ""
        return instance.source if instance is not None else ""

    def _subject(self, sop_instance_uid: str) -> str:
        """The pseudonymous name of an instance for the audit log (its mapped UID)."""
        return self.run.map_uid(sop_instance_uid)

    def _drop_roster(self) -> None:
        """Remove the roster snapshots (original identifiers) and their private folder."""
        if self._roster_dir is None:
            return
        for name in self._roster_files:
            try:
                os.unlink(os.path.join(self._roster_dir, name))
            except OSError:
                pass
        try:
            os.rmdir(self._roster_dir)
        except OSError:
            pass
        self._roster_dir = None

    def _roster_file(self, also: list[tuple[str, str]] | None = None) -> str:
        """The run-wide roster for the export gate (:mod:`gantry.deid.roster`): every patient
        of the store, written to a private file the workers read. The store's patients are
        read once; the instances this session adds keep that list current without asking the
        store again (counting it flushed the store's pending writes, once a unit: 5% of a
        run). A new snapshot is written when the list grew — each time while it is small,
        then once it grew by a tenth — so the gate matches every patient seen so far. ``also``:
        patients not in the store yet (a one-shot pass's inputs), written with them into a new
        snapshot."""
        from gantry.deid.roster import save_roster

        path, known = self._roster
        if also is None and path and not self._roster_new:
            return path
        if self._people is None:
            self._people = dict.fromkeys((p.patient_id, p.patient_name)
                                         for p in self.store.iter_patients())
        patients = len(self._people)
        if also is None and path and (
                patients == known or (known >= 1000 and patients < known * 1.1)):
            return path
        self._roster_new = False
        if self._roster_dir is None:
            import tempfile

            self._roster_dir = tempfile.mkdtemp(prefix="gantry-roster-")
        name = f"roster-{len(self._roster_files)}-{patients}.json"  # (workers cache by path)
        path = os.path.join(self._roster_dir, name)
        self._roster_files.append(name)
        save_roster(path, list(dict.fromkeys([*self._people, *(also or ())])))
        self._roster = (path, patients)
        return path

    def _pass_roster(self, ingestor: Any, batches: list[list[SourceItem]],
                     executor: Any) -> str:
        """The roster of a one-shot pass: the store's patients and those of every input of
        the pass, read by the workers before anything is written (so an instance written
        early is checked against a patient met late)."""
        from gantry.pipeline import IdentityUnit, patient_identities

        units = [IdentityUnit(self.spec, ingestor.name, batch) for batch in batches]
        found: set[tuple[str, str]] = set()
        for pairs in executor.map_unordered(patient_identities, units):
            found.update(pairs)
        return self._roster_file(sorted(found))

    def instances(self, *, series_instance_uid: str | None = None) -> Iterator[Instance]:
        """Every ingested instance (or those of one series), streamed."""
        for inst in self.store.iter_instances(series_instance_uid=series_instance_uid):
            yield self.bind_instance(inst)

    def bind_instance(self, instance: Instance) -> Instance:
        """Give an instance of the store the opener of its source's ingestor; return it."""
        source = instance.source
        scheme = source.split("://", 1)[0] if "://" in source else "file"
        opener = self._openers.get(scheme)
        if opener is None:
            opener = self._openers[scheme] = self.hooks.ingestor_for(source).open
        return instance.bind(opener)

    def patients(self) -> Iterator[Patient]:
        """Every patient of the store, streamed (original identifiers): walk down with
        ``patient.studies()``, ``study.series()``, ``series.instances()``, each lazy."""
        for patient in self.store.iter_patients():
            yield patient.bound(self)

    def _by_series(self, selected: Iterable[Instance], *, all_of_store: bool
                   ) -> Iterator[Instance]:
        """``selected`` series by series (the whole store: one series read at a time)."""
        if not all_of_store:
            chosen = sorted(selected, key=lambda inst: inst.series_instance_uid)
            yield from chosen
            return
        for series in self.store.iter_series():
            yield from self.instances(series_instance_uid=series.series_instance_uid)

    def _series_stack(self) -> bool:
        """Whether a redactor of the profile's stack needs whole series (``runs_in="series"``)."""
        from gantry.pipeline import series_redactors

        return bool(series_redactors(self.run))

    def _stack_units(self, make: Callable[[list[Instance]], WorkUnit], whole: bool
                     ) -> Iterator[WorkUnit]:
        """Units over the whole store: one whole series each when ``whole``."""
        if whole:
            return self._units(self._by_series(self.instances(), all_of_store=True), make,
                               max_unit=0)
        return self._units(self.instances(), make)

    def _units(self, instances: Iterable[Instance], make: Callable[[list[Instance]], WorkUnit],
               max_unit: int = 64) -> Iterator[WorkUnit]:
        """Group instances into units of one series (split past ``max_unit`` instances, unless
        it is 0: whole series)."""
        batch: list[Instance] = []
        series = None
        for inst in instances:
            if batch and (inst.series_instance_uid != series or 0 < max_unit <= len(batch)):
                yield make(batch)
                batch = []
            series = inst.series_instance_uid
            batch.append(inst)
        if batch:
            yield make(batch)

    def _checkpoint(self) -> None:
        """Checkpoint the store at the end of a stage; while an error ends the stage, a
        failing checkpoint does not hide it (that first error is the one to show)."""
        if sys.exc_info()[1] is None:
            self.store.checkpoint()
            return
        try:
            self.store.checkpoint()
        except Exception:  # the error in flight says what went wrong
            pass

    # -- ingest ----------------------------------------------------------------------------------
    @_exclusive
    def ingest(self, uri: str | os.PathLike[str], *, query: str | None = None) -> StageSummary:
        """Index every instance behind ``uri`` (headers only); bad inputs are recorded.

        Headers are read in parallel by the executor's workers; this process writes the store.
        Inputs the profile's ``filter:`` rules withhold, or that ``query`` does not match, are
        recorded as withheld (not indexed).
        """
        uri = str(uri)
        summary = StageSummary("ingest")
        started = time.perf_counter()
        ingestor = self.hooks.ingestor_for(uri)
        self.hooks.stage_started("ingest", self.run)
        self._remember_input(uri)

        units = self._new_sources(ingestor, uri, summary,
                                  lambda batch: IngestUnit(self.spec, ingestor.name, batch,
                                                           query))
        inputs = InputCount.for_ingestor(ingestor, uri, self.progress is not None)
        executor = self._executor()
        try:
            for results in executor.map_unordered(ingest_unit, units):
                inputs.start()  # (workers run by now: see gantry.input_count)
                for res in results:
                    self._record_ingest(res, summary)
                self._tick("ingest", _inputs_seen(summary), inputs.total, summary.bytes)
            seen = _inputs_seen(summary)  # discovery is over: every input is counted now
            self._tick("ingest", seen, seen, summary.bytes)
        except BaseException as exc:
            self._drop_executor()
            self.hooks.stage_failed("ingest", self.run, exc)
            raise
        finally:
            self._checkpoint()
        summary.seconds = time.perf_counter() - started
        self._finish("ingest", summary)
        return summary

    def _new_sources(self, ingestor: Any, uri: str, summary: StageSummary,
                     make: Callable[[list[SourceItem]], Any], size: int = 32) -> Iterator[Any]:
        """Units of ``size`` inputs behind ``uri`` not ingested before (those are skipped)."""
        batch: list[SourceItem] = []
        for item in ingestor.discover(uri, self.run):
            if isinstance(item, Rejection):  # an input the ingestor could not fetch
                self._record_rejected(item, item.source, summary)
                continue
            if self.store.is_source_done(item.source, item.size, item.mtime):
                summary.skipped += 1
                continue
            batch.append(item)
            if len(batch) >= size:
                yield make(batch)
                batch = []
        if batch:
            yield make(batch)

    def _own_file(self, item: SourceItem) -> str:
        """Why an input that is not DICOM is skipped as Gantry's own file (a manifest, a
        report, a partial write: name and content, :mod:`gantry.ownfiles`), or ``""``."""
        from gantry.ownfiles import HEAD_BYTES, base_name, own_file_kind, own_file_reason

        if self._own_kinds is None:
            self._own_kinds = self.hooks.own_files()

        def head() -> bytes:
            with self.hooks.ingestor_for(item.source).open(item.source) as fh:
                return fh.read(HEAD_BYTES)

        kind = own_file_kind(self._own_kinds, base_name(item.source), head)
        return own_file_reason(kind) if kind is not None else ""

    def _record_rejected(self, rejection: Rejection, label: str, summary: StageSummary) -> None:
        """Record an input that could not be read or fetched, with its reason."""
        self.store.add_rejected(rejection)
        self._event("rejected", self.run.keyed_hash(rejection.source), reason=rejection.reason)
        summary.rejected += 1
        summary.errors.append(f"{label}: {rejection.reason}")

    def _record_ingest(self, res: IngestResult, summary: StageSummary) -> str:
        """Record one ingest result; return what became of it (``added``, ``duplicate``,
        ``conflict``, ``rejected`` or ``index``)."""
        item = res.item
        if res.kind == "rejected" and not item.refused:
            own = self._own_file(item)
            if own:  # a manifest or report an earlier export wrote: an index, not an input
                res = IngestResult(item, reason=own, kind="index")
        if res.kind == "withheld":
            self.store.add_rejected(Rejection(item.source, res.reason, "withheld"))
            self._event("withheld", self.run.keyed_hash(item.source), reason=res.reason)
            summary.withheld += 1
            summary.errors.append(f"{item.label}: withheld: {res.reason}")
            return "withheld"
        if res.kind == "index":
            self.store.add_rejected(Rejection(item.source, res.reason, "index"))
            self._event("skipped-index", self.run.keyed_hash(item.source), reason=res.reason)
            summary.skipped += 1
            return "index"
        if res.kind == "skipped":  # not an input (a FIFO, a device, a link to a folder)
            self.store.add_rejected(Rejection(item.source, res.reason, "skipped"))
            self._event("skipped", self.run.keyed_hash(item.source), reason=res.reason)
            summary.skipped += 1
            summary.notes.append(f"skipped: {item.label}: {res.reason}")
            return "skipped"
        if res.kind == "rejected":
            self._record_rejected(Rejection(item.source, res.reason), item.label, summary)
            return "rejected"
        instance = res.instance
        if res.prepared is not None:
            outcome = self.store.add_instance(instance, res.header, prepared=res.prepared)
        else:
            outcome = self.store.add_instance(instance, res.header)
        if outcome == "added":
            person = (instance.patient_id, instance.patient_name)
            if self._people is not None and person not in self._people:
                self._people[person] = None
                self._roster_new = True  # the next unit gets a new snapshot
            summary.done += 1
            summary.bytes += max(item.size, 0)
            self.hooks.instance_ingested(instance, self.run)
            self._event("ingested", self._subject(instance.sop_instance_uid))
        elif outcome == "duplicate":
            summary.duplicates += 1
        else:
            summary.conflicts += 1
            kept = self.store.get_instance(instance.sop_instance_uid)
            summary.errors.append(f"{item.label}: "
                                  f"{conflict_reason(kept.source if kept else '')}")
            self._event("conflict", self._subject(instance.sop_instance_uid))
        return outcome

    # -- audit / redact --------------------------------------------------------------------------
    def _run_stage(self, stage: str, units: Iterable[WorkUnit], total: int,
                   handle: Callable[[InstanceResult, StageSummary], None],
                   summary: StageSummary,
                   before_finish: Callable[[], None] | None = None) -> StageSummary:
        started = time.perf_counter()
        self.hooks.stage_started(stage, self.run)
        self._drain(stage, units, total, handle, summary)
        if before_finish is not None:
            before_finish()
        summary.seconds = time.perf_counter() - started
        self._finish(stage, summary)
        return summary

    def _drain(self, stage: str, units: Iterable[WorkUnit], total: int | None,
               handle: Callable[[InstanceResult, StageSummary], None],
               summary: StageSummary) -> None:
        """Run ``units`` on the executor and record every result."""
        executor = self._executor()
        try:
            for results in executor.map_unordered(process_unit, units):
                for res in results:
                    self._handle_result(stage, res, summary, handle)
                self._tick(stage, summary.done + summary.failed + summary.skipped, total,
                           summary.bytes)
        except BaseException as exc:
            self._drop_executor()
            self.hooks.stage_failed(stage, self.run, exc)
            raise
        finally:
            self._checkpoint()

    def _handle_result(self, stage: str, res: InstanceResult, summary: StageSummary,
                       handle: Callable[[InstanceResult, StageSummary], None]) -> None:
        if res.byte_pass:
            summary.byte_pass += 1
        elif res.fallback:
            summary.fallbacks += 1
            reasons = summary.fallback_reasons
            reasons[res.fallback] = reasons.get(res.fallback, 0) + 1
        if res.ok and res.skipped:  # a series sink left it out, with a reason
            summary.skipped += 1
            if res.skipped not in summary.notes:
                summary.notes.append(res.skipped)
            self.store.set_status(res.sop_instance_uid, "skipped")
            self._event("skipped", self._subject(res.sop_instance_uid), stage=stage,
                        reason=res.skipped)
        elif res.ok:
            handle(res, summary)
        else:
            subject = self._subject(res.sop_instance_uid)
            # the operator's line names the source file (what to look at or fix); the audit
            # log below keeps the pseudonymous subject
            summary.errors.append(f"{self._source_of(res.sop_instance_uid) or subject}: "
                                  f"{res.stage}: {res.error}")
            if res.stage != "gate":
                summary.failed += 1
            if res.stage == "gate":
                from gantry.records import Finding

                summary.refused += 1
                self.store.set_status(res.sop_instance_uid, "refused")
                self.store.add_findings(res.sop_instance_uid, "gate", [Finding(
                    "refused", res.error, severity="error", component="export-gate")])
            else:
                self.store.set_status(res.sop_instance_uid, "failed")
            self._event("failed", subject, stage=res.stage, error=res.error, plugin=res.plugin)
            self.hooks.stage_failed(stage, self.run, GantryError(res.error),
                                    plugin=res.plugin or None)
        summary.bytes += res.bytes_in

    @_exclusive
    def audit(self, *, after_redaction: bool = False) -> StageSummary:
        """Record findings per instance (on the original, or on the redacted result)."""
        stage = "verify" if after_redaction else "audit"
        total = self.store.counts().instances

        whole = after_redaction and self._series_stack()

        def make(batch: list[Instance]) -> WorkUnit:
            return WorkUnit(self.spec, "audit", batch, audit_after_redaction=after_redaction,
                            whole_series=whole)

        def handle(res: InstanceResult, summary: StageSummary) -> None:
            self.store.add_findings(res.sop_instance_uid, stage, res.findings)
            if not after_redaction:
                self.store.set_status(res.sop_instance_uid, "audited")
            for finding in res.findings:
                if finding.severity == "error":
                    summary.errors.append(f"{self._subject(res.sop_instance_uid)}: {finding.code}: "
                                          f"{finding.message}")
            self._event("audited", self._subject(res.sop_instance_uid), stage=stage,
                        findings=len(res.findings))
            summary.count_findings(res.findings)
            summary.done += 1

        return self._run_stage(stage, self._stack_units(make, whole), total, handle,
                               StageSummary(stage))

    @_exclusive
    def redact(self) -> StageSummary:
        """Apply the profile's redaction stack to every instance and record what changed.

        No output is written: :meth:`export` applies the same (deterministic) stack while
        writing. Pixels a redactor modified are kept in the store (``get_pixels(uid)``, the
        SQLite pixel sidecar) for review.
        """
        total = self.store.counts().instances

        whole = self._series_stack()

        def make(batch: list[Instance]) -> WorkUnit:
            return WorkUnit(self.spec, "redact", batch, whole_series=whole)

        def handle(res: InstanceResult, summary: StageSummary) -> None:
            self.store.add_changes(res.sop_instance_uid, res.changes)
            if res.pixels is not None:
                array, meta = res.pixels
                self.store.put_pixels(res.sop_instance_uid, array, meta)
            self.store.set_status(res.sop_instance_uid, "redacted")
            inst = self.store.get_instance(res.sop_instance_uid)
            if inst is not None:
                self.hooks.instance_redacted(inst, res.changes, self.run)
            self._event("redacted", res.new_sop_instance_uid, changes=len(res.changes))
            summary.done += 1

        return self._run_stage("redact", self._stack_units(make, whole), total, handle,
                               StageSummary("redact"))

    anonymize = redact

    # -- export ----------------------------------------------------------------------------------
    def _check_recipe(self, target: ExportTarget, fresh: bool) -> None:
        """Compare the run's recipe (:mod:`gantry.recipe`) with the one ``target``'s recorded
        outputs were made with: stop when they differ (a resume would only relabel them),
        unless ``fresh``, which re-exports every instance (outputs recorded before now are
        not counted as done); record the recipe."""
        from gantry.recipe import EVENT, differences, latest_recipe, recipe_parts

        parts = recipe_parts(self.run)
        recorded = latest_recipe(self.store.iter_events(), target.to)
        exported = bool(self.store.exported_uids(target.to))
        since = int((recorded or {}).get("since_ns", 0) or 0)
        changed = differences(recorded, parts) if recorded is not None else []
        if fresh and exported:
            # every output recorded so far is older than this mark (not a clock reading: file
            # times come from a coarser clock, and the last export may have ended a moment ago)
            since = max((r.mtime_ns for r in self.store.iter_exports(target.to)),
                        default=0) + 1
        elif changed and exported:
            raise ExportError(
                f"{target.to}: its outputs were made with another {' and '.join(changed)} "
                f"(profile {recorded.get('profile', '?')}); resuming would only relabel them. "
                "Start afresh to re-export every instance under this recipe (gantry deidentify "
                "--fresh --overwrite, gantry export --fresh, fresh=True), or choose another "
                "destination")
        elif changed:
            since = 0
        self._since[target.to] = since
        if recorded is None or changed or fresh:
            self._event(EVENT, target.to, destination=target.to, parts=parts,
                        profile=self.profile.name, since_ns=since)

    def _already_exported(self, target: ExportTarget) -> set[str]:
        """Instances exported to ``target`` before (under this recipe: see
        :meth:`_check_recipe`), whose output files are still there."""
        done = self.store.exported_uids(target.to)
        if not done:
            return done
        since = self._since.get(target.to, 0)
        if since:
            done = {r.sop_instance_uid for r in self.store.iter_exports(target.to)
                    if r.mtime_ns >= since}
            if not done:
                return done
        records = (r for r in self.store.iter_exports(target.to) if r.path)
        if is_url(target.to):
            present = self._present_at(target)
            if present is None:  # the sink cannot tell: trust the records
                return done
            gone = [r for r in records if r.path not in present]
        else:
            root = Path(target.to.removeprefix("file://"))
            gone = [r for r in records if not (root / r.path).exists()]
        for record in gone:
            done.discard(record.sop_instance_uid)
        self._correct_statuses(done)
        return done

    def _correct_statuses(self, exported: set[str]) -> None:
        """Mark ``exported`` the instances whose output is recorded and present but whose
        status says otherwise: a run killed between recording an output and its status
        (the record and the status are separate writes) is corrected by the next."""
        for uid in exported:
            status = self.store.get_status(uid)
            if status is not None and status not in ("exported", "withheld"):
                self.store.set_status(uid, "exported")
                self._event("status-corrected", self._subject(uid), status=status)

    def _present_at(self, target: ExportTarget) -> set[str] | None:
        """The files already at a URL destination, when its sink can list them."""
        sink = self.hooks.exporter_for(target.format, target.to).factory(target, self.run)
        try:
            present = getattr(sink, "present", None)
            return set(present()) if present is not None else None
        finally:
            sink.close()

    def _remember_input(self, uri: str) -> None:
        """Note an input (a local folder or file, or a URL) that no export may write into."""
        if is_url(uri):
            self._input_urls.append(uri)
        else:
            self._input_roots.append(Path(uri.removeprefix("file://")).resolve())

    def _check_destination(self, target: ExportTarget) -> None:
        if is_url(target.to):
            dest = target.to.rstrip("/")
            for url in self._input_urls:
                src = url.rstrip("/")
                if dest == src or dest.startswith(src + "/") or src.startswith(dest + "/"):
                    raise ExportError(f"{target.to}: refusing to export into or over the "
                                      f"input {url}")
            return
        dest = Path(target.to.removeprefix("file://")).resolve()
        for root in self._input_roots:
            if dest == root or dest.is_relative_to(root) or root.is_relative_to(dest):
                raise ExportError(f"{dest}: refusing to export into or over the input {root}")

    @_exclusive
    def export(self, dest: str | os.PathLike[str], *, format: str = "dicom",
               query: str | None = None, options: dict[str, Any] | None = None,
               audit: bool = False, fresh: bool = False) -> StageSummary:
        """Redact and write every instance (or those matching ``query``) to ``dest``.

        Each instance passes the export gate first; one that fails is not written and counts as
        failed. Instances already exported to ``dest`` are skipped (resume). With ``audit=True``
        the profile's auditors also run in the same pass (one read per file), on the redacted
        result with the applied changes at hand; findings are stored as the ``verify`` stage.
        A resume whose profile, options, secret or plugins differ from those the recorded
        outputs were made with stops with an :class:`ExportError`; ``fresh=True`` re-exports
        every instance instead.
        """
        target = ExportTarget(to=str(dest), format=format, options=dict(options or {}),
                              query=query)
        exporter = self.hooks.exporter_for(format, target.to)
        self._check_destination(target)
        if exporter.prepare is not None:
            target = replace(target, options={
                **target.options, **exporter.prepare(target, self.run, self.store)})
        self._check_recipe(target, fresh)
        done_uids = self._already_exported(target)
        summary = StageSummary("export", destination=target.to)
        selected = self.query(query) if query else self.instances()
        withheld = self._withheld()
        whole_series = exporter.runs_in == "series" or self._series_stack()
        if whole_series:  # the store streams in ingest order; a series sink needs each whole
            selected = self._by_series(selected, all_of_store=not query)
        parent_sink: InstanceSink | None = None
        if exporter.runs_in == "parent":
            parent_sink = exporter.factory(target, self.run)

        def pending() -> Iterator[Instance]:
            for inst in _whole_series_done(selected, done_uids) if whole_series else selected:
                if inst.sop_instance_uid in withheld:
                    self._withhold(inst.sop_instance_uid, target, summary, done_uids)
                    continue
                if inst.sop_instance_uid in done_uids:
                    summary.skipped += 1
                    continue
                if "://" not in inst.source:
                    src = Path(inst.source)
                    if src.is_relative_to(Path(target.to.removeprefix("file://")).resolve()):
                        raise ExportError(f"{target.to}: refusing to export over input files")
                yield inst

        def make(batch: list[Instance]) -> WorkUnit:
            worker_targets = [] if parent_sink is not None else [target]
            return WorkUnit(self.spec, "export", batch, targets=worker_targets,
                            want_headers=parent_sink is not None, with_audit=audit,
                            roster=self._roster_file(), whole_series=whole_series)

        handle = self._export_handle(parent_sink, audit)
        total = self.store.counts().instances
        closed = False

        def close_sink() -> None:
            nonlocal closed
            if closed:
                return
            closed = True
            if parent_sink is not None:
                parent_sink.close()
            if exporter.finish is not None:
                summary.notes.extend(exporter.finish(target, self.run) or ())

        try:
            units = self._units(pending(), make, max_unit=0 if whole_series else 64)
            return self._run_stage("export", units, total, handle, summary,
                                   before_finish=close_sink)
        finally:
            close_sink()

    def _withheld(self) -> set[str]:
        """Instances a reviewer's decision in force withholds (see :mod:`gantry.decisions`)."""
        from gantry.decisions import withheld_uids

        return withheld_uids(self.store)

    def _withhold(self, sop_instance_uid: str, target: ExportTarget, summary: StageSummary,
                  written: set[str]) -> None:
        """Leave a withheld instance out of an export: counted, status, audit event. An output
        still at ``target`` from before the decision (``written``: the instances whose output
        is there) is named in the summary's errors; it is not removed."""
        summary.withheld += 1
        self.store.set_status(sop_instance_uid, "withheld")
        subject = self._subject(sop_instance_uid)
        self._event("withheld", subject, destination=target.to)
        if sop_instance_uid in written:
            summary.errors.append(f"{subject}: withheld, but exported to {target.to} before "
                                  "the decision; remove its output there")

    @_locked
    def decide(self, action: str, sop_instance_uids: Iterable[str], *, reason: str = "",
               who: str = "", scope: str = "instance") -> int:
        """Record a reviewer's decision (``approve`` or ``withhold``) for instances of the
        store, with a reason, who and when; return how many were recorded. The next export
        leaves withheld instances out (see :mod:`gantry.decisions`); a later ``approve``
        releases one. UIDs the store does not hold are refused with :class:`GantryError`."""
        import uuid

        from gantry.records import DECISION_ACTIONS, Decision

        if action not in DECISION_ACTIONS:
            raise ValueError(f"decision action {action!r} is not one of "
                             f"{', '.join(DECISION_ACTIONS)}")
        decision_id = uuid.uuid4().hex[:12]
        now = time.time()
        wanted = list(dict.fromkeys(sop_instance_uids))
        known = {inst.sop_instance_uid
                 for inst in self.store.iter_instances(sop_instance_uids=wanted)}
        for uid in wanted:
            if uid not in known:
                raise GantryError(f"decide: no instance {self._subject(uid)} in {self.store.url}")
        decisions = [Decision(uid, action, reason=reason, who=who, time=now, scope=scope,
                              decision_id=decision_id) for uid in wanted]
        self.store.add_decisions(decisions)
        for decision in decisions:
            self._event(f"decision-{action}", self._subject(decision.sop_instance_uid),
                        who=who, reason=reason, scope=scope, decision_id=decision_id)
        self.store.checkpoint()
        return len(decisions)

    def _export_handle(self, parent_sink: InstanceSink | None,
                       audit: bool) -> Callable[[InstanceResult, StageSummary], None]:
        """Records one exported instance: its export records, findings, changes, status."""

        def handle(res: InstanceResult, summary: StageSummary) -> None:
            records = list(res.exports)
            if parent_sink is not None and res.header is not None:
                from pydicom import dcmread

                from gantry.pipeline import make_context

                inst = self.store.get_instance(res.sop_instance_uid)
                assert inst is not None
                header = dcmread(io.BytesIO(res.header))
                context = make_context(inst, header, self.run)
                record = parent_sink.write("", b"", header, context)
                if record is not None:
                    records.append(record)
            for record in records:
                self.store.record_export(record)
                self.hooks.exported(record, self.run)
                self._event("exported", record.new_sop_instance_uid, destination=record.format,
                            sha256=record.sha256)
            if audit:
                self.store.add_findings(res.sop_instance_uid, "verify", res.findings)
                summary.count_findings(res.findings)
            self.store.add_changes(res.sop_instance_uid, res.changes)
            self.store.set_status(res.sop_instance_uid, "exported")
            summary.done += 1

        return handle

    @_exclusive
    def deidentify(self, uri: str | os.PathLike[str], dest: str | os.PathLike[str], *,
                   format: str = "dicom", options: dict[str, Any] | None = None,
                   keep_workers: bool = True, query: str | None = None,
                   fresh: bool = False) -> list[StageSummary]:
        """:meth:`ingest` ``uri`` then :meth:`export` the store to ``dest`` with
        ``audit=True``, reading each file once: a worker indexes a file's header and redacts,
        audits and writes it from the same bytes. The store, the output and the summaries
        (``[ingest, export]``) are those of the two calls. Instances ingested by an earlier,
        interrupted run are exported after the pass; so is the kept instance of a UID conflict
        (two files, one SOP Instance UID), whose output the other file may have overwritten.

        ``keep_workers=False`` stops the workers once they have nothing left to do: right after
        the pass (unless a UID conflict needs re-exports, which they do first), before the store
        is read back for what is left and the stage's observers write manifests and reports.
        For a caller with no further stage they would only hold their memory meanwhile. Work
        left after all (an interrupted run's) starts a new pool.

        ``query``: inputs it does not match are withheld (recorded with the reason, not
        written), as the profile's ``filter:`` rules withhold theirs.
        ``fresh``: re-export every instance even when the recorded outputs were made with
        another recipe (see :meth:`export`; without it such a resume stops).
        """
        uri = str(uri)
        target = ExportTarget(to=str(dest), format=format, options=dict(options or {}))
        exporter = self.hooks.exporter_for(format, target.to)
        if exporter.runs_in in ("parent", "series") or self._series_stack():
            # (a series sink, or a series redactor, needs whole series)
            return [self.ingest(uri, query=query),
                    self.export(dest, format=format, options=options, audit=True,
                                fresh=fresh)]
        self._remember_input(uri)
        self._check_destination(target)
        self._check_recipe(target, fresh)
        ingestor = self.hooks.ingestor_for(uri)
        ingested = StageSummary("ingest")
        exported = StageSummary("export", destination=target.to)
        handle = self._export_handle(None, True)
        started = time.perf_counter()
        self.hooks.stage_started("ingest", self.run)
        self.hooks.stage_started("export", self.run)
        failed: set[str] = set()  # instances this pass could not export (not retried now)
        redo: set[str] = set()  # kept instances whose output another file may have replaced

        inputs = InputCount.for_ingestor(ingestor, uri, self.progress is not None)
        executor = self._executor()
        try:
            # every patient of the pass is known to the gate before the first write
            batches = list(self._new_sources(ingestor, uri, ingested, lambda batch: batch))
            roster = self._pass_roster(ingestor, batches, executor) if batches else ""
            units = (IngestExportUnit(self.spec, ingestor.name, batch, target, query,
                                      roster=roster) for batch in batches)
            for results in executor.map_unordered(ingest_and_export, units):
                inputs.start()  # (workers run by now: see gantry.input_count)
                for ingest_result, export_result in results:
                    outcome = self._record_ingest(ingest_result, ingested)
                    if export_result is None:
                        continue
                    uid = export_result.sop_instance_uid
                    if outcome == "added":
                        self._handle_result("export", export_result, exported, handle)
                        if not export_result.ok:
                            failed.add(uid)
                    elif export_result.exports:
                        redo.add(uid)  # this file's output may have replaced the kept one's
                self._tick("ingest", _inputs_seen(ingested), inputs.total, ingested.bytes)
                expected = (inputs.total - (_inputs_seen(ingested) - ingested.done)
                            if inputs.total is not None else None)  # what the pass will export
                self._tick("export", exported.done + exported.failed, expected, exported.bytes)
            seen = _inputs_seen(ingested)  # discovery is over: every input is counted now
            self._tick("ingest", seen, seen, ingested.bytes)
            written = exported.done + exported.failed
            self._tick("export", written, written, exported.bytes)
        except BaseException as exc:
            self._drop_executor()
            self.hooks.stage_failed("ingest", self.run, exc)
            self.hooks.stage_failed("export", self.run, exc)
            raise
        finally:
            self._checkpoint()
        ingested.seconds = time.perf_counter() - started
        if not keep_workers and not redo:  # most likely nothing is left for them: their
            self._drop_executor()  # memory goes before the store is read back (if work is
            # left after all, an interrupted run's, a new pool starts)
        self._finish("ingest", ingested)
        rest = self._not_exported(target, redo, failed,
                                  resumed=ingested.skipped > 0 or bool(self._since.get(target.to)))
        if rest:
            def make(batch: list[Instance]) -> WorkUnit:
                return WorkUnit(self.spec, "export", batch, targets=[target], with_audit=True,
                                roster=self._roster_file())

            new = [inst for inst in rest if inst.sop_instance_uid not in redo]
            again = [inst for inst in rest if inst.sop_instance_uid in redo]
            self._drain("export", self._units(iter(new), make), None, handle, exported)
            rewritten = StageSummary("export", destination=target.to)  # counted once already
            self._drain("export", self._units(iter(again), make), None, handle, rewritten)
            exported.failed += rewritten.failed
            exported.errors.extend(rewritten.errors)
        exported.seconds = time.perf_counter() - started
        if not keep_workers:
            self._drop_executor()
        if exporter.finish is not None:  # (as export() does, before the stage's observers)
            exported.notes.extend(exporter.finish(target, self.run) or ())
        self._finish("export", exported)
        return [ingested, exported]

    def _not_exported(self, target: ExportTarget, redo: set[str], failed: set[str], *,
                      resumed: bool = True) -> list[Instance]:
        """Instances of the store not exported to ``target`` (but not those that just
        ``failed``), and those whose output must be redone. Unless the pass ``resumed`` an
        earlier run (skipped inputs done before), outputs recorded are outputs this pass
        wrote: they are not looked for again."""
        done = self.store.exported_uids(target.to)
        total = self.store.counts().instances
        if not redo and not resumed and len(done) + len(failed) >= total:
            return []
        skip = self._already_exported(target) | failed | self._withheld()
        if not redo and len(skip) >= total:  # everything is there: no instance read back
            return []
        skip -= redo - self._withheld()
        return [inst for inst in self.instances() if inst.sop_instance_uid not in skip]

    # -- queries ---------------------------------------------------------------------------------
    def query(self, expression: str) -> Iterator[Instance]:
        """Instances whose stored header matches a query expression (see ``docs/query.md``)."""
        from gantry.model import KEY_ATTRIBUTES
        from gantry.query import header_row, parse_query, referenced_keywords, to_predicate

        tree = parse_query(expression)
        predicate = to_predicate(tree)
        needs_header = not referenced_keywords(tree) <= set(KEY_ATTRIBUTES) | {
            "SOPInstanceUID", "SOPClassUID", "SeriesInstanceUID", "StudyInstanceUID",
            "PatientID"}
        for inst in self.instances():
            row: dict[str, Any] = dict(inst.attrs)
            row.update(SOPInstanceUID=inst.sop_instance_uid, SOPClassUID=inst.sop_class_uid,
                       SeriesInstanceUID=inst.series_instance_uid,
                       StudyInstanceUID=inst.study_instance_uid, PatientID=inst.patient_id)
            if needs_header:
                header = self.store.get_header(inst.sop_instance_uid)
                if header is not None:
                    row.update(header_row(header))
            if predicate(row):
                yield inst

    def to_arrow(self, query: str | None = None, columns: Sequence[str] | None = None) -> Any:
        """The stored headers as a pyarrow Table, one row per instance (original values),
        made by a plugin implementing ``gantry_instance_table`` (``gantry-parquet``)."""
        return self._table("arrow", query, columns)

    def to_pandas(self, query: str | None = None, columns: Sequence[str] | None = None) -> Any:
        """The same table as :meth:`to_arrow`, as a pandas DataFrame."""
        return self._table("pandas", query, columns)

    def _table(self, form: str, query: str | None, columns: Sequence[str] | None) -> Any:
        table = self.hooks.instance_table(self, form, query,
                                          list(columns) if columns is not None else None)
        if table is None:
            raise GantryError(f"no installed plugin makes {form} tables of the working store "
                              "(a gantry_instance_table hook; gantry-parquet has one: "
                              "pip install gantry-parquet)")
        return table

    @_locked
    def status(self) -> dict[str, Any]:
        """Counts of the store and of instances per status."""
        counts = self.store.counts()
        per_status: dict[str, int] = {}
        for inst in self.store.iter_instances():
            status = self.store.get_status(inst.sop_instance_uid) or "ingested"
            per_status[status] = per_status.get(status, 0) + 1
        return {"store": self.store.url, "profile": self.profile.name, **counts.__dict__,
                "status": per_status}

    def refused(self) -> list[tuple[str, str]]:
        """Instances the export gate refused (withheld from the output),
        ``(pseudonymous subject, reason)``: the latest refusal of each still refused."""
        reasons: dict[str, str] = {}
        for uid, stage, finding in self.store.iter_findings():
            if stage == "gate" and finding.code == "refused":
                reasons[uid] = finding.message
        return [(self._subject(uid), reason) for uid, reason in sorted(reasons.items())
                if self.store.get_status(uid) == "refused"]


DicomSession = Session
