"""The ``gantry`` command line.

Exit codes are those of :mod:`gantry.exitcodes` (``0`` all written, ``1`` failure, ``2`` usage,
``3`` some inputs rejected or instances withheld, ``4`` nothing to do, ``130`` interrupted),
a run's computed from the store's state. Errors are one line naming the file or field; the
exception's class name and the traceback only with ``--debug``.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gantry import __version__
from gantry.cli_output import LEVELS, print_summaries, progress_for, setup_logging
from gantry.errors import GantryError, ProfileError
from gantry.exitcodes import (
    EXIT_FAILURE,
    EXIT_INCOMPLETE,
    EXIT_INTERRUPTED,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_REJECTED,
    EXIT_USAGE,
    exit_code_for,
)
from gantry.process_tuning import tune_for_batch
from gantry.workstore import UsageProblem, gantry_home

if TYPE_CHECKING:
    from gantry.plugins import GantryHooks
    from gantry.session import Session, StageSummary

__all__ = ["EXIT_FAILURE", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_NOTHING", "EXIT_OK",
           "EXIT_PIPE", "EXIT_REJECTED", "EXIT_USAGE", "cli", "gantry_home", "main"]


class State:
    """Options of the top-level group, shared with sub-commands."""

    def __init__(self) -> None:
        self.debug = False
        self.quiet = False
        #: the command's plugin manager (see :func:`_hooks`)
        self.hooks: GantryHooks | None = None


pass_state = click.make_pass_decorator(State, ensure=True)


def _hooks() -> GantryHooks:
    """The plugin manager of the command being run, built once per command: the one ``main``
    added the plugins' commands with, else a new one (outside a command: a new one each call).
    The command's store look-ups and its session use it alike."""
    global _COMMANDS_HOOKS
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(State) if ctx is not None else None
    if state is not None and state.hooks is not None:
        return state.hooks
    if _COMMANDS_HOOKS is not None:
        hooks, _COMMANDS_HOOKS = _COMMANDS_HOOKS, None
    else:
        from gantry.plugins import build_plugin_manager

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            hooks = build_plugin_manager()
    if state is not None:
        state.hooks = hooks
    return hooks


#: the manager ``main`` added the plugins' commands with, until a command takes it
_COMMANDS_HOOKS: GantryHooks | None = None


def _has_entries(dest: str) -> bool:
    """Whether the local output folder ``dest`` exists and holds anything (remote: assumed)."""
    from gantry.sources import is_url

    if is_url(dest):
        return True
    folder = Path(dest.removeprefix("file://"))
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except FileNotFoundError:
        return False
    except OSError:
        return True  # not a folder we can list: leave the store to say what it knows


def _check_input(src: str) -> None:
    """A local input that does not exist is a usage error (a URL: its ingestor says)."""
    from gantry.sources import ZIP_PREFIX, is_url

    if is_url(src) or src.startswith(ZIP_PREFIX):
        return
    path = Path(src.removeprefix("file://")).expanduser()
    if not path.exists():
        raise UsageProblem(f"{src}: input not found")


def _store_for(db: str | None, dest: str | None = None, *, must_exist: bool = True) -> str:
    """The store a command opens: ``--db`` (a URL, or a destination's working store) or a
    destination; read commands never create one."""
    from gantry.workstore import resolve_store

    return resolve_store(db, _hooks(), dest=dest, must_exist=must_exist)


@contextmanager
def open_session(state: State, db: str | None, profile: str | None, workers: int | None = None,
                 executor: str = "local", executor_options: dict[str, Any] | None = None,
                 secret_file: str | None = None,
                 forbidden: tuple[str, ...] = (), prestart: bool = False) -> Iterator[Session]:
    """Open a session for a command, with a progress bar unless quiet (``prestart``: start
    the workers while the session sets up)."""
    from gantry.session import Session

    callback, progress = progress_for(state.quiet)
    session = Session(db, profile=profile, workers=workers, executor=executor,
                      executor_options=executor_options, secret_file=secret_file,
                      progress=callback, forbidden_secret_dirs=forbidden, prestart=prestart,
                      hooks=_hooks())
    try:
        from gantry.runbuild import check_components

        check_components(session.profile, session.hooks)
        if progress is not None:
            with progress:
                yield session
        else:
            yield session
    finally:
        session.close()


def _report(state: State, summaries: list[StageSummary], as_json: bool, store: Any,
            extra: dict[str, Any] | None = None, nothing_selected: bool = False) -> int:
    """Print the summaries (or JSON) and return the run's exit code, computed from the
    store's state after the run (a resumed run exits as the first did)."""
    from gantry.exitcodes import store_outcome

    code = exit_code_for(store, summaries, nothing_selected=nothing_selected)
    if as_json:
        click.echo(json.dumps({"summaries": [s.to_dict() for s in summaries],
                               "outcome": store_outcome(store).to_dict(),
                               **(extra or {}), "exit_code": code}, indent=2))
    else:
        print_summaries(summaries, quiet=state.quiet)
        if code == EXIT_NOTHING and not state.quiet:
            click.echo("nothing to do: no DICOM instance found or selected", err=True)
    return code


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--executor-option")
        out[key.strip().replace("-", "_")] = int(value) if value.isdigit() else value
    return out


db_option = click.option("--db", envvar="GANTRY_DB", default=None,
                         help="Store URL (sqlite:///path.db, memory://), or the DEST of a "
                              "one-shot run (its working store). Read commands never create "
                              "a store.")
profile_option = click.option("--profile", "-p", default=None,
                              help="Privacy profile: a YAML file or a shipped name "
                                   "(default ps3.15/basic).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
fresh_option = click.option("--fresh", is_flag=True,
                            help="Re-export every instance, even those DEST holds already "
                                 "(the store is kept): needed when the profile, its options, "
                                 "the secret or the plugins differ from those DEST's outputs "
                                 "were made with.")
workers_option = click.option("--workers", "-w", type=click.IntRange(1), default=None,
                              help="Worker processes (default: all cores).")
executor_option = click.option("--executor", default="local", show_default=True,
                               help="Executor (local, or dask with gantry-dask).")
executor_options_option = click.option("--executor-option", "executor_options", multiple=True,
                                       metavar="KEY=VALUE",
                                       help="Executor setting, e.g. address=tcp://host:8786.")
dry_run_option = click.option("--dry-run", is_flag=True,
                              help="Show what would be written, withheld and changed; write "
                                   "nothing, leave the store as it was (the exit code is the "
                                   "run's).")


def _one_line(exc: BaseException) -> str:
    """An exception as one line (its first line; the class name is for --debug)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class GantryGroup(click.Group):
    """A click group that turns every error into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.ensure_object(State)
        try:
            return super().invoke(ctx)
        except (ProfileError, UsageProblem) as exc:
            return self._die(state, exc, EXIT_USAGE)
        except BrokenPipeError:
            _quiet_pipe()
        except GantryError as exc:
            return self._die(state, exc, EXIT_FAILURE)
        except (OSError, ValueError) as exc:
            return self._die(state, exc, EXIT_FAILURE)
        except KeyboardInterrupt:
            click.echo("gantry: interrupted; finished work is kept — run the same command again "
                       "to resume", err=True)
            sys.exit(EXIT_INTERRUPTED)

    @staticmethod
    def _die(state: State, exc: BaseException, code: int) -> Any:
        if state.debug:
            raise exc
        from gantry.cli_output import LOG

        LOG.error(_one_line(exc))
        click.echo(f"gantry: error: {_one_line(exc)}", err=True)
        sys.exit(code)

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        """Run the command; click's own usage errors also become one line (exit code 2)."""
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            click.echo(f"gantry: error: {exc.format_message()}{hint}", err=True)
            code = EXIT_USAGE
        except click.ClickException as exc:
            click.echo(f"gantry: error: {exc.format_message()}", err=True)
            code = exc.exit_code
        except click.Abort:
            click.echo("gantry: aborted", err=True)
            code = EXIT_FAILURE
        except BrokenPipeError:
            _quiet_pipe()
        if not isinstance(code, int):
            code = EXIT_OK
        if standalone_mode:
            sys.exit(code)
        return code


def _quiet_pipe() -> None:
    """The reader went away (``| head``): stop quietly; output still buffered is dropped so
    the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    sys.exit(EXIT_PIPE)


@click.group(cls=GantryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gantry")
@click.option("--debug", is_flag=True, help="Show tracebacks and exception class names.")
@click.option("--quiet", "-q", is_flag=True, help="No progress or summaries.")
@click.option("--log-file", default=None, type=click.Path(dir_okay=False),
              help="Append a log of the run to this file (progress, stage summaries, every "
                   "problem line).")
@click.option("--log-level", type=click.Choice(LEVELS), default="info", show_default=True,
              help="Least severe level written to --log-file.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="--log-file as text lines or JSON lines.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool, log_file: str | None, log_level: str,
        log_format: str) -> None:
    """Gantry: curate and de-identify DICOM."""
    state = ctx.ensure_object(State)
    state.debug = debug
    state.quiet = quiet
    setup_logging(log_file, log_level, log_format)
    if debug:
        os.environ["GANTRY_DEBUG"] = "1"  # worker processes keep their warnings too
    else:
        warnings.filterwarnings("ignore", module="pydicom")
        warnings.showwarning = _plain_warning
        if not quiet:  # a failed observer is one line of the stage's summary already
            warnings.filterwarnings("ignore", message=r"plugin '.*' failed in gantry_",
                                    category=RuntimeWarning)


def _plain_warning(message: Warning | str, category: type[Warning], filename: str,
                   lineno: int, file: Any = None, line: str | None = None) -> None:
    """Warnings reach the user as one plain line (no source path; ``--debug`` for those)."""
    text = " ".join(str(message).split())
    click.echo(f"gantry: warning: {text}", err=True)


def _prepare_working_store(dest: str, db: str | None, fresh: bool, overwrite: bool) -> str:
    """The store of ``deidentify``: ``--db``, else DEST's working store (discarded with
    ``--fresh``; an empty or missing DEST also starts afresh)."""
    from gantry.workstore import drop_store, working_store_for

    if fresh and _has_entries(dest) and not overwrite:
        raise UsageProblem(f"{dest}: --fresh needs an empty destination (or --overwrite to "
                           "write over what is there)")
    if db is not None:  # a store of the user's: kept (--fresh re-exports every instance)
        return _store_for(db, must_exist=False)
    url = working_store_for(dest, _hooks())
    if fresh or not _has_entries(dest):  # nothing to resume: a stale working store would
        drop_store(url)  # say "already exported" for files that are gone
    return url


@cli.command()
@click.argument("src")
@click.argument("dest")
@profile_option
@click.option("--db", default=None, help="Working store URL (default: SQLite under "
              "$GANTRY_HOME/runs, i.e. ~/.local/state/gantry/runs, keyed by DEST, so the same "
              "command resumes; a DEST that is gone or empty starts afresh). It holds the "
              "original headers: gantry runs rm, gantry purge.")
@click.option("--format", "fmt", default="dicom", show_default=True, help="Export format.")
@click.option("--query", default=None,
              help="Only inputs matching this expression (docs/query.md); the others are "
                   "withheld with a reason.")
@click.option("--quarantine", default=None, type=click.Path(file_okay=False),
              help="Copy rejected, withheld and failed inputs here (never moved), each with a "
                   "reason file.")
@click.option("--fresh", is_flag=True,
              help="Start afresh: discard DEST's working store (with --db: keep that store, "
                   "re-export every instance); DEST must be empty, or give --overwrite.")
@click.option("--overwrite", is_flag=True, help="With --fresh: write over what DEST holds.")
@dry_run_option
@click.option("--secret-file", default=None, help="Project secret file (default: "
              "$GANTRY_SECRET, $GANTRY_SECRET_FILE or ~/.config/gantry/secret.key).")
@workers_option
@executor_option
@executor_options_option
@json_option
@pass_state
def deidentify(state: State, src: str, dest: str, profile: str | None, db: str | None, fmt: str,
               query: str | None, quarantine: str | None, fresh: bool, overwrite: bool,
               dry_run: bool, secret_file: str | None, workers: int | None, executor: str,
               executor_options: tuple[str, ...], as_json: bool) -> None:
    """De-identify SRC (folder, zip, file) into DEST: ingest, then export (redact, audit
    the result, gate, write).

    Both run in one pass per file: the audit sees what was changed and checks the result;
    its findings are kept in the store as the ``verify`` stage.
    SRC may also be a URL an ingestor plugin reads, and DEST a URL an exporter plugin writes
    to (s3://bucket/prefix with gantry-fsspec). The working store's path is printed at the
    end (and is "store" in --json).
    """
    from gantry.workstore import note_run

    _check_input(src)
    if query:
        _check_query(query)
    options = _parse_options(executor_options)
    if dry_run:
        with open_session(state, "memory://", profile, workers, executor, options,
                          secret_file, forbidden=(dest, src)) as session:
            ingested = session.ingest(src, query=query)
            code = _print_dry_run(session, session.instances(), set(), ingested, as_json)
        sys.exit(code)
    url = _prepare_working_store(dest, db, fresh, overwrite)
    dest_was_empty = not _has_entries(dest)
    dest_existed = Path(dest.removeprefix("file://")).exists()
    with open_session(state, url, profile, workers, executor, options,
                      secret_file, forbidden=(dest, src), prestart=True) as session:
        summaries = session.deidentify(src, dest, format=fmt, keep_workers=False, query=query,
                                       fresh=fresh)
        extra: dict[str, Any] = {"store": session.store.url}
        if quarantine:
            extra["quarantine"] = _quarantine(state, session, quarantine, as_json)
        code = _report(state, summaries, as_json, session.store, extra)
        found_nothing = code == EXIT_NOTHING and not session.store.counts().rejected
        if db is None and not found_nothing:
            note_run(session.store.url, dest=dest, source=src, profile=session.profile.name,
                     counts=session.store.counts().__dict__, exit_code=code)
        if not as_json and not state.quiet and not found_nothing:
            click.echo(f"working store: {session.store.url} (original headers; gantry runs, "
                       "gantry purge)", err=True)
    if found_nothing:  # no DICOM at all: leave nothing behind (no empty manifests, no store)
        if dest_was_empty:
            _remove_outputs(dest, keep_folder=dest_existed)
        if db is None:
            from gantry.workstore import drop_store

            drop_store(url)
    sys.exit(code)


def _remove_outputs(dest: str, *, keep_folder: bool) -> None:
    """Remove what a run that wrote no instance left in a local DEST that was empty or
    missing before it (its manifests); the folder itself too unless it was there before."""
    import shutil

    from gantry.sources import is_url

    folder = Path(dest.removeprefix("file://"))
    if is_url(dest) or not folder.is_dir():
        return
    if not keep_folder:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _check_query(expression: str) -> None:
    from gantry.query import QueryError, parse_query

    try:
        parse_query(expression)
    except QueryError as exc:
        raise UsageProblem(f"--query: {exc}") from None


def _quarantine(state: State, session: Session, folder: str, as_json: bool) -> dict[str, Any]:
    from gantry.quarantine import quarantine

    report = quarantine(session, folder)
    if not as_json and not state.quiet:
        copied = ", ".join(f"{n} {kind}" for kind, n in sorted(report.copied.items())) or "none"
        click.echo(f"quarantine: {folder}: copied {copied}"
                   + (f", {report.present} already there" if report.present else ""), err=True)
        for line in report.unreadable or ():
            click.echo(f"  {line}", err=True)
    return {"folder": str(Path(folder).resolve()), "copied": report.copied,
            "already_there": report.present, "not_copied": report.unreadable}


def _print_dry_run(session: Session, instances: Any, done: set[str],
                   ingested: StageSummary | None, as_json: bool) -> int:
    """Print a dry run's report; return the exit code the run itself would give."""
    from gantry.dryrun import preview

    report = preview(session, instances, done_uids=done, ingest=ingested)
    code = report.exit_code()
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "exit_code": code}, indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    return code


@cli.command()
@click.argument("src")
@click.option("--db", envvar="GANTRY_DB", required=True,
              help="Store URL (sqlite:///path.db, memory://); created if missing.")
@profile_option
@click.option("--query", default=None,
              help="Only inputs matching this expression; the others are withheld.")
@json_option
@pass_state
def ingest(state: State, src: str, db: str, profile: str | None, query: str | None,
           as_json: bool) -> None:
    """Index SRC (folder, zip, file) into the store (headers only).

    SRC may also be a URL an ingestor plugin reads (s3://bucket/prefix with gantry-fsspec).
    """
    _check_input(src)
    if query:
        _check_query(query)
    url = _store_for(db, must_exist=False)
    with open_session(state, url, profile) as session:
        summary = session.ingest(src, query=query)
        code = _report(state, [summary], as_json, session.store, {"store": session.store.url})
    sys.exit(code)


@cli.command()
@click.argument("dest", required=False)
@db_option
@profile_option
@click.option("--after-redaction", is_flag=True, help="Audit what the redaction would produce.")
@click.option("--findings", "show_findings", is_flag=True, help="Print every finding.")
@workers_option
@json_option
@pass_state
def audit(state: State, dest: str | None, db: str | None, profile: str | None,
          after_redaction: bool, show_findings: bool, workers: int | None,
          as_json: bool) -> None:
    """Record findings per instance: what would change, what still holds identifiers.

    The store is --db, or the working store of DEST (a one-shot run's destination).
    """
    url = _store_for(db, dest)
    with open_session(state, url, profile, workers) as session:
        summary = session.audit(after_redaction=after_redaction)
        if show_findings and not as_json:
            stage = "verify" if after_redaction else "audit"
            for uid, found_stage, finding in session.store.iter_findings():
                if found_stage != stage:
                    continue
                subject = session.run.map_uid(uid)
                click.echo(f"{subject}\t{finding.severity}\t{finding.code}\t"
                           f"{finding.keyword or finding.tag}\t{finding.message}")
        code = _report(state, [summary], as_json, session.store)
    sys.exit(code)


@cli.command()
@db_option
@profile_option
@workers_option
@json_option
@pass_state
def redact(state: State, db: str | None, profile: str | None, workers: int | None,
           as_json: bool) -> None:
    """Apply the profile's redaction stack and record what changes (writes nothing)."""
    with open_session(state, _store_for(db), profile, workers) as session:
        summary = session.redact()
        code = _report(state, [summary], as_json, session.store)
    sys.exit(code)


@cli.command()
@click.argument("dest")
@db_option
@profile_option
@click.option("--format", "fmt", default="dicom", show_default=True, help="Export format.")
@click.option("--query", default=None, help="Only instances matching this expression.")
@dry_run_option
@workers_option
@executor_option
@executor_options_option
@fresh_option
@json_option
@pass_state
def export(state: State, dest: str, db: str | None, profile: str | None, fmt: str,
           query: str | None, dry_run: bool, workers: int | None, executor: str,
           executor_options: tuple[str, ...], fresh: bool, as_json: bool) -> None:
    """Redact and write the session's instances to DEST (resumes where it stopped)."""
    if db is None:
        raise UsageProblem("export needs --db URL (or GANTRY_DB): the store to export")
    if query:
        _check_query(query)
    url = _store_for(db)
    with open_session(state, url, profile, workers, executor,
                      _parse_options(executor_options), forbidden=(dest,)) as session:
        if dry_run:
            from gantry.components import ExportTarget

            target = ExportTarget(to=dest, format=fmt)
            session.hooks.exporter_for(fmt, dest)  # an unusable destination is still an error
            done = session._already_exported(target)
            selected = session.query(query) if query else session.instances()
            sys.exit(_print_dry_run(session, selected, done, None, as_json))
        summary = session.export(dest, format=fmt, query=query, fresh=fresh)
        code = _report(state, [summary], as_json, session.store,
                       nothing_selected=not (summary.done or summary.skipped or summary.failed))
    sys.exit(code)


@cli.command()
@click.argument("dest", required=False)
@db_option
@profile_option
@click.option("--rejected", is_flag=True,
              help="List rejected and withheld inputs with reasons, and UID conflicts "
                   "(both files named).")
@json_option
@pass_state
def status(state: State, dest: str | None, db: str | None, profile: str | None, rejected: bool,
           as_json: bool) -> None:
    """Show what the store holds and where each instance stands.

    The store is --db, or the working store of DEST (a one-shot run's destination).
    """
    from gantry.exitcodes import store_outcome
    from gantry.session import conflict_reason

    url = _store_for(db, dest)
    with open_session(state, url, profile) as session:
        info = session.status()
        outcome = store_outcome(session.store)
        rejections = [r.__dict__ for r in session.store.iter_rejected()] if rejected else []
        conflicts = [{"instance": session.run.map_uid(uid), "kept": kept, "source": source}
                     for uid, kept, source in session.store.iter_conflicts()] \
            if rejected else []
        refused = session.refused()
    if as_json:
        click.echo(json.dumps({**info, "outcome": outcome.to_dict(),
                               "rejected_inputs": rejections, "conflicts": conflicts,
                               "refused": [{"instance": s, "reason": r} for s, r in refused]},
                              indent=2, default=str))
        return
    click.echo(f"store: {info['store']}")
    click.echo(f"profile: {info['profile']}")
    click.echo(f"holds: {info['patients']} patients, {info['studies']} studies, "
               f"{info['series']} series, {info['instances']} instances")
    per_status = ", ".join(f"{n} {s}" for s, n in sorted(info["status"].items())) or "none"
    click.echo(f"instances: {per_status}")
    click.echo(f"inputs not written: {outcome.rejected} rejected, {outcome.withheld} withheld, "
               f"{info['conflicts']} UID conflicts"
               + ("" if rejected or not (outcome.rejected or outcome.withheld
                                         or outcome.conflicts)
                  else " (--rejected lists them)"))
    for subject, reason in refused:
        click.echo(f"refused: {subject}: {reason}")
    for row in rejections:
        kind = "withheld" if row["stage"] == "withheld" else (
            "index" if row["stage"] == "index" else "rejected")
        click.echo(f"{kind}: {row['source']}: {row['reason']}")
    for row in conflicts:
        click.echo(f"conflict: {row['source']}: {conflict_reason(row['kept'])} "
                   f"(instance {row['instance']})")


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include the kernel's built-in plugins.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
@json_option
def plugins(show_all: bool, hook: str | None, as_json: bool) -> None:
    """List installed plugins: name, version, status, hooks, components."""
    hooks = _hooks()
    infos = hooks.plugins(include_builtin=show_all)
    if hook:
        infos = [i for i in infos if hook in i.hooks]
    if as_json:
        click.echo(json.dumps([i.to_dict() for i in infos], indent=2))
        return
    if not infos:
        click.echo("no plugins installed (use --all to include built-ins)")
        return
    for info in infos:
        version = f" {info.version}" if info.version else ""
        click.echo(f"{info.name}{version} [{info.status}] {info.distribution or info.module}")
        if info.error:
            click.echo(f"    error: {info.error}")
        if info.hooks:
            click.echo(f"    hooks: {', '.join(info.hooks)}")
        for kind, names in info.components.items():
            click.echo(f"    {kind}: {', '.join(names)}")


@cli.group()
def profiles() -> None:
    """List, show and validate privacy profiles."""


@profiles.command("list")
@json_option
def profiles_list(as_json: bool) -> None:
    """List shipped and plugin-provided profiles."""
    from gantry.profiles import list_profiles

    found = list_profiles(_hooks().profile_paths())
    if as_json:
        click.echo(json.dumps([{"name": n, "description": d, "path": str(p)}
                               for n, p, d in found], indent=2))
        return
    for name, path, description in found:
        click.echo(f"{name}\t{description}\t{path}")


@profiles.command("show")
@click.argument("name")
@json_option
def profiles_show(name: str, as_json: bool) -> None:
    """Print a profile after ``extends:`` is resolved (JSON, with or without --json)."""
    from gantry.profiles import load_profile

    profile = load_profile(name, _hooks().profile_paths())
    click.echo(json.dumps(profile.model_dump(mode="json"), indent=2, default=str))


@profiles.command("validate")
@click.argument("file")
@json_option
def profiles_validate(file: str, as_json: bool) -> None:
    """Validate a profile file: every error (file, line, field), and that each named
    redactor, auditor, exporter, ingestor, store and plugin is installed."""
    from gantry.profile_check import check_profile

    errors, profile = check_profile(file, _hooks())
    if as_json:
        click.echo(json.dumps({"file": file, "valid": not errors,
                               "errors": [str(e) for e in errors],
                               "profile": profile.name if profile else None}, indent=2))
    elif not errors and profile is not None:
        click.echo(f"{file}: valid ({profile.name}, edition {profile.edition}, "
                   f"options: {', '.join(profile.options) or 'none'})")
    else:
        for error in errors:
            click.echo(f"gantry: error: {error}", err=True)
        click.echo(f"{file}: {len(errors)} error(s)", err=True)
    if errors:
        sys.exit(EXIT_USAGE)


def _add_kernel_commands() -> None:
    from gantry.cli_runs import runs

    cli.add_command(runs)


_add_kernel_commands()


_PLUGIN_COMMANDS_ADDED = False


def _add_plugin_commands() -> None:
    global _PLUGIN_COMMANDS_ADDED, _COMMANDS_HOOKS
    if _PLUGIN_COMMANDS_ADDED:
        return
    _PLUGIN_COMMANDS_ADDED = True
    from gantry.plugins import build_plugin_manager

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            _COMMANDS_HOOKS = build_plugin_manager()
            _COMMANDS_HOOKS.add_commands(cli)
    except GantryError as exc:
        click.echo(f"gantry: warning: plugin commands unavailable: {exc}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gantry`` script."""
    tune_for_batch()
    global _COMMANDS_HOOKS
    _add_plugin_commands()
    try:
        cli.main(args=argv, prog_name="gantry")
    finally:  # the manager is this command's alone (a later command builds its own)
        _COMMANDS_HOOKS = None


if __name__ == "__main__":  # pragma: no cover
    main()
