"""Every hook Gantry calls, grouped by kind.

Three kinds (see ``docs/hooks.md``):

* **registration** hooks yield typed records (:mod:`gantry.records`); the kernel stamps the
  providing plugin and refuses two records of one kind with one name;
* **lifecycle** observers return ``None`` (ignored);
* **decisions** return a value or ``None`` to defer; the first non-``None`` result wins, and the
  kernel's keyed defaults are ``trylast`` so a site's own hook wins.

Hooks are always called with keyword arguments; an implementation may accept any subset of a
hook's arguments. New arguments are only ever added with defaults.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from gantry.components import (
        Auditor,
        ConfigKey,
        Executor,
        Exporter,
        Ingestor,
        Redactor,
        StoreBackend,
    )
    from gantry.context import Run
    from gantry.model import Instance
    from gantry.ownfiles import OwnFile
    from gantry.records import Change, ExportRecord, PatientKey, Pseudonym

PROJECT = "gantry"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- registration
@hookspec
def gantry_ingestors() -> Iterable[Ingestor]:
    """Register ingestors: components that find instances behind a URI and open their bytes.

    Called once when the plugin manager is built. Return contract: **yield records**
    (:class:`gantry.components.Ingestor`). The kernel picks the ingestor whose ``schemes`` contain
    the URI's scheme (plain paths are ``file``). An ingestor that can tell cheaply about how
    many items ``discover`` will yield gives ``count=``: the progress bar then shows a total
    and an ETA. ``discover`` may yield a :class:`gantry.records.Rejection` for an input it
    found but could not fetch: it is recorded as rejected, with its reason, and the run goes on.

    Example::

        @hookimpl
        def gantry_ingestors():
            yield Ingestor("ftp-folder", schemes=("ftp",), discover=list_ftp, open=open_ftp,
                           count=count_ftp)
    """


@hookspec
def gantry_auditors() -> Iterable[Auditor]:
    """Register auditors: components that inspect one instance and report findings.

    Return contract: **yield records** (:class:`gantry.components.Auditor`). ``factory(run)`` is
    called once per run (and per worker) and returns an object with
    ``audit(dataset, context) -> list[Finding]``.

    Example::

        @hookimpl
        def gantry_auditors():
            yield Auditor("no-secondary-capture", factory=lambda run: SecondaryCaptureAuditor())
    """


@hookspec
def gantry_redactors() -> Iterable[Redactor]:
    """Register redactors: components that change one instance in place.

    Return contract: **yield records** (:class:`gantry.components.Redactor`). The profile's
    ``redact:`` list names which redactors run and in what order. ``factory(run)`` returns an
    object with ``redact(dataset, context) -> list[Change]``.

    Example::

        @hookimpl
        def gantry_redactors():
            yield Redactor("drop-comments", factory=lambda run: DropComments())
    """


@hookspec
def gantry_stores() -> Iterable[StoreBackend]:
    """Register store backends (the persist stage), chosen by the store URL's scheme.

    Return contract: **yield records** (:class:`gantry.components.StoreBackend`). ``open(url)``
    returns an object satisfying :class:`gantry.protocols.Store`; it must pass
    ``gantry.testing.store_contract``. Optional ``prepare(header)`` runs in the workers and
    hands its result to ``add_instance(..., prepared=...)``; optional ``prepare_raw`` does
    the same from a :class:`gantry.dicom.rawheader.RawHeader` (``gantry deidentify`` then builds no
    dataset for the index).

    Example::

        @hookimpl
        def gantry_stores():
            yield StoreBackend("postgres", schemes=("postgresql",), open=PostgresStore)
    """


@hookspec
def gantry_exporters() -> Iterable[Exporter]:
    """Register exporters (sinks), chosen by the export target's ``format`` and destination.

    Return contract: **yield records** (:class:`gantry.components.Exporter`). ``factory(target,
    run)`` returns an :class:`gantry.components.InstanceSink` that receives every redacted,
    gate-checked instance. Among the exporters of a format (its name, or ``format=``), the one
    whose ``schemes`` cover the destination's URL scheme is used; none is an error. A sink
    class that reads only the key elements of the dataset it is handed may declare
    ``takes_byte_pass_stub = True`` (on its own class) to receive a redactor's byte pass output
    (a stub dataset of the key elements; see :class:`gantry.components.BytePass`).
    An exporter that needs whole series (volumes) declares ``runs_in="series"``: each unit
    is one whole series and its sink, a :class:`gantry.components.SeriesSink`, writes in
    ``finish_series()`` and says per instance which records it went into or why it was left
    out; ``prepare``/``finish`` run once in the main process before and after the units.

    Example::

        @hookimpl
        def gantry_exporters():
            yield Exporter("tar", factory=TarSink, schemes=("file",))
            yield Exporter("nifti", factory=VolumeSink, runs_in="series")
    """


@hookspec
def gantry_executors() -> Iterable[Executor]:
    """Register executors: ways to run units of work (local processes, Dask...).

    Return contract: **yield records** (:class:`gantry.components.Executor`). ``factory(options)``
    returns an :class:`gantry.components.ExecutorImpl`; ``--executor NAME`` selects one.

    Example::

        @hookimpl
        def gantry_executors():
            yield Executor("dask", factory=lambda options: DaskExecutor(**options))
    """


@hookspec
def gantry_profile_paths() -> Iterable[Path]:
    """Add folders searched for privacy profiles (``*.yaml``).

    Return contract: **yield records** (``pathlib.Path`` folders). A profile named on the
    command line is looked up as a file first, then in these folders by relative name.

    Example::

        @hookimpl
        def gantry_profile_paths():
            yield Path(__file__).parent / "profiles"
    """


@hookspec
def gantry_store_profile(store: Any) -> Iterable[dict[str, Any]]:
    """Add to the profile what a store records for every run over it — e.g. the zone rules a
    reviewer accepted in ``gantry web``, honoured by the next ``gantry export`` whatever
    command runs it.

    Called when a session opens its store and when it changes profile. Return contract:
    **yield records** — mappings with ``redact`` (component names the stack must include:
    added right after ``ps315-tags`` when missing) and ``plugins`` (``{section: {key:
    [items]}}``: items appended to that list of the profile's settings, those already there
    not again). The session then runs a profile that ``extends`` the one it was given (a file
    in a private temporary folder, removed when it closes); no identifying value may be in it.

    Example::

        @hookimpl
        def gantry_store_profile(store):
            rules = [e.detail["rule"] for e in store.iter_events(kind="zone-rule-accepted")]
            if rules:
                yield {"redact": ["pixel-zones"], "plugins": {"gantry-pixels": {"zones": rules}}}
    """


@hookspec
def gantry_config_keys() -> Iterable[ConfigKey]:
    """Declare typed settings sections read from the profile's ``plugins:`` mapping.

    Return contract: **yield records** (:class:`gantry.components.ConfigKey`). The kernel validates
    each ``plugins: {name: {...}}`` section with the declared pydantic model and reports errors
    naming the profile file and field; a section nobody declared is an error.

    Example::

        class OcrSettings(BaseModel):
            min_confidence: float = 0.6

        @hookimpl
        def gantry_config_keys():
            yield ConfigKey("gantry-ocr", model=OcrSettings)
    """


@hookspec
def gantry_own_files() -> Iterable[OwnFile]:
    """Declare the files a plugin writes beside exported instances (manifests, reports).

    Return contract: **yield records** (:class:`gantry.ownfiles.OwnFile`): what the file is,
    the base names it is written under and whether its first bytes look as the plugin writes
    them. An input that is not DICOM, matches a name *and* looks so is Gantry's own: skipped
    as an index (as a DICOMDIR is), not rejected, so ``gantry deidentify OUT1 OUT2`` takes an
    earlier output as it is.

    Example::

        @hookimpl
        def gantry_own_files():
            yield OwnFile("export summary", ("summary.txt",),
                          lambda head: head.startswith(b"gantry summary v1\n"))
    """


@hookspec
def gantry_commands(cli: click.Group) -> None:
    """Add sub-commands to the ``gantry`` command line.

    Return contract: **return None (ignored)**; add commands to ``cli`` (a ``click.Group``).
    Import heavy libraries inside the command function, not at module level.

    Example::

        @hookimpl
        def gantry_commands(cli):
            @cli.command()
            def hello():
                click.echo("hello")
    """


# --------------------------------------------------------------------------- lifecycle
@hookspec
def gantry_stage_started(stage: str, run: Run) -> None:
    """A stage (``ingest``, ``audit``, ``redact``, ``export``) is starting.

    Return contract: **return None (ignored)**.

    Example::

        @hookimpl
        def gantry_stage_started(stage, run):
            log.info("%s started for run %s", stage, run.run_id)
    """


@hookspec
def gantry_stage_finished(stage: str, run: Run, summary: dict[str, Any]) -> None:
    """A stage finished; ``summary`` holds its counts (``done``, ``failed``, ``skipped``...).

    Return contract: **return None (ignored)**.

    Example::

        @hookimpl
        def gantry_stage_finished(stage, run, summary):
            notify(f"{stage}: {summary['done']} done")
    """


@hookspec
def gantry_stage_failed(stage: str, run: Run, error: BaseException,
                        plugin: str | None = None) -> None:
    """A stage, or one instance within it, failed; ``plugin`` names the component's plugin
    when one is to blame.

    Return contract: **return None (ignored)**.

    Example::

        @hookimpl
        def gantry_stage_failed(stage, run, error, plugin):
            pager.alert(f"{stage} failed in {plugin}: {error}")
    """


@hookspec
def gantry_instance_ingested(instance: Instance, run: Run) -> None:
    """An instance was indexed by the ingest stage.

    Return contract: **return None (ignored)**.

    Example::

        @hookimpl
        def gantry_instance_ingested(instance, run):
            counts[instance.modality] += 1
    """


@hookspec
def gantry_instance_redacted(instance: Instance, changes: list[Change], run: Run) -> None:
    """An instance was redacted; ``changes`` lists what changed (never original values).

    Return contract: **return None (ignored)**.

    Example::

        @hookimpl
        def gantry_instance_redacted(instance, changes, run):
            metrics.observe("changes", len(changes))
    """


@hookspec
def gantry_exported(record: ExportRecord, run: Run) -> None:
    """An instance was written to an export destination.

    Return contract: **return None (ignored)**.

    Example::

        @hookimpl
        def gantry_exported(record, run):
            print(record.path, record.sha256)
    """


# --------------------------------------------------------------------------- decisions
@hookspec(firstresult=True)
def gantry_map_uid(uid: str, run: Run) -> str | None:
    """Map an original UID to its replacement.

    Return contract: **return X or None to defer; first non-None wins**. Must be deterministic
    (the same UID always maps to the same result) so references stay consistent across
    instances, workers and runs. The kernel's default (``trylast``) is ``2.25.<HMAC>`` with the
    project secret.

    Example::

        @hookimpl
        def gantry_map_uid(uid, run):
            return broker.lookup_uid(uid)  # None when the broker has no mapping
    """


@hookspec(firstresult=True)
def gantry_pseudonym(patient: PatientKey, run: Run) -> Pseudonym | None:
    """Choose the pseudonymous ID and name of a patient.

    Return contract: **return X or None to defer; first non-None wins**. The kernel's default
    (``trylast``) derives both from an HMAC of the patient's original identity.

    Example::

        @hookimpl
        def gantry_pseudonym(patient, run):
            row = master_patient_index.get(patient.patient_id)
            return Pseudonym(row.study_id, row.study_id) if row else None
    """


@hookspec(firstresult=True)
def gantry_date_offset(patient: PatientKey, run: Run) -> int | None:
    """Choose the date shift of a patient, in days (negative moves dates earlier).

    Return contract: **return X or None to defer; first non-None wins**. The kernel's default
    (``trylast``) draws it from the profile's range with an HMAC of the patient's identity.

    Example::

        @hookimpl
        def gantry_date_offset(patient, run):
            return -365 * 3  # shift every patient back three years
    """


@hookspec(firstresult=True)
def gantry_withhold(instance: Instance, header: Any, run: Run) -> str | None:
    """Decide whether an input is withheld from the run (a site's own filter).

    Called once per input right after its header is read, before it is indexed: ``instance``
    holds its UIDs and key attributes (original values), ``header`` its header as a pydicom
    ``Dataset`` without pixel data.
    Return contract: **return X or None to defer; first non-None wins** — X is the reason, one
    line naming no identifying value. A withheld input is not indexed nor written, is listed
    by ``gantry status --rejected`` with the reason, is copied by ``--quarantine``, and makes
    the run exit with code 3 (never a failure). The profile's ``filter:`` rules are checked
    first.

    Example::

        @hookimpl
        def gantry_withhold(instance, header, run):
            if str(header.get("BurnedInAnnotation", "")).upper() == "YES":
                return "burned-in annotation: sent for manual review"
            return None
    """



@hookspec(firstresult=True)
def gantry_instance_table(session: Any, form: str, query: str | None,
                          columns: list[str] | None) -> Any | None:
    """Make the working store's instance table: ``Session.to_arrow()`` asks for
    ``form="arrow"`` (a ``pyarrow.Table``), ``Session.to_pandas()`` for ``form="pandas"`` (a
    ``pandas.DataFrame``).

    One row per stored instance of ``session.store``, a column per attribute. These are the
    ingested headers (original, identifying values), for curating inside the secure area.
    ``query`` (the query language) keeps matching instances; ``columns`` selects columns.
    Return contract: **return X or None to defer; first non-None wins** — return ``None`` for
    a ``form`` the plugin does not make. When no plugin makes it, the session raises a
    ``GantryError`` saying so. ``gantry-parquet`` implements both forms.

    Example::

        @hookimpl
        def gantry_instance_table(session, form, query, columns):
            if form != "arrow":
                return None
            rows = [{"SOPInstanceUID": i.sop_instance_uid} for i in session.instances()]
            return pyarrow.Table.from_pylist(rows)
    """
