"""The ``gantry`` command line.

Exit codes: ``0`` success; ``1`` failure (an error, or instances that failed or were refused by
the export gate); ``2`` usage error (bad options, invalid profile); ``3`` finished, but some
inputs were rejected (not DICOM, truncated...); ``130`` interrupted (Ctrl-C: finished work is
kept and the same command resumes). Errors are one line naming the file or field; ``--debug``
shows the traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gantry import __version__
from gantry.errors import GantryError, ProfileError
from gantry.process_tuning import tune_for_batch

if TYPE_CHECKING:
    from gantry.session import Session, StageSummary

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_REJECTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class State:
    """Options of the top-level group, shared with sub-commands."""

    def __init__(self) -> None:
        self.debug = False
        self.quiet = False


pass_state = click.make_pass_decorator(State, ensure=True)


def gantry_home() -> Path:
    """Where Gantry keeps per-run working stores (``GANTRY_HOME``, else ~/.local/state/gantry)."""
    base = os.environ.get("GANTRY_HOME") or os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "gantry")
    return Path(base)


def default_db_for(dest: str) -> str:
    """The working store of a one-shot run: SQLite when installed, outside the output."""
    from gantry.plugins import build_plugin_manager
    from gantry.sources import is_url

    where = dest.rstrip("/") if is_url(dest) else str(Path(dest).resolve())  # URL: as written
    key = hashlib.sha256(where.encode()).hexdigest()[:16]
    hooks = build_plugin_manager()
    schemes = {s for rec in hooks.components("store").values() for s in rec.schemes}  # type: ignore[attr-defined]
    if "sqlite" in schemes:
        folder = gantry_home() / "runs"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        return f"sqlite:///{folder / key}.db"
    return "memory://"


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


def _drop_working_store(db: str) -> None:
    """Remove the default working store of a one-shot run so that the run starts afresh:
    every file of ``$GANTRY_HOME/runs`` named after its key (the database and whatever the
    store keeps beside it: journal, pixel sidecar)."""
    if not db.startswith("sqlite:///"):
        return
    path = Path(db[len("sqlite:///"):])
    for stale in path.parent.glob(f"{path.stem}*"):
        if stale.is_file():
            stale.unlink(missing_ok=True)


def _progress_callback(state: State) -> tuple[Callable[..., None] | None, Any]:
    """One progress bar per stage across all workers: files, MB, rate and ETA."""
    if state.quiet or not sys.stderr.isatty():
        return None, None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description:<7}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[mb]:>9.1f} MB"),
                        TextColumn("{task.fields[rate]:>7.1f} files/s"),
                        TimeElapsedColumn(), TimeRemainingColumn(), transient=True)
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int | None, nbytes: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total, mb=0.0, rate=0.0)
        task_id = tasks[stage]
        elapsed = progress.tasks[task_id].elapsed or 0.0
        progress.update(task_id, completed=done, total=total, mb=nbytes / 1e6,
                        rate=done / elapsed if elapsed > 0 else 0.0)

    return update, progress


@contextmanager
def open_session(state: State, db: str | None, profile: str | None, workers: int | None = None,
                 executor: str = "local", executor_options: dict[str, Any] | None = None,
                 secret_file: str | None = None,
                 forbidden: tuple[str, ...] = (), prestart: bool = False) -> Iterator[Session]:
    """Open a session for a command, with a progress bar unless quiet (``prestart``: start
    the workers while the session sets up)."""
    from gantry.session import Session

    callback, progress = _progress_callback(state)
    session = Session(db, profile=profile, workers=workers, executor=executor,
                      executor_options=executor_options, secret_file=secret_file,
                      progress=callback, forbidden_secret_dirs=forbidden, prestart=prestart)
    try:
        if progress is not None:
            with progress:
                yield session
        else:
            yield session
    finally:
        session.close()


def _report(state: State, summaries: list[StageSummary], as_json: bool) -> int:
    failed = sum(s.failed + s.plugin_errors for s in summaries)
    rejected = sum(s.rejected for s in summaries)
    if as_json:
        click.echo(json.dumps({"summaries": [s.to_dict() for s in summaries],
                               "exit_code": _code(failed, rejected)}, indent=2))
    elif not state.quiet:
        for s in summaries:
            parts = [f"{s.done} done"] + ([f"{s.findings} findings"] if s.findings else [])
            for label, value in (("skipped", s.skipped), ("failed", s.failed),
                                 ("plugin errors", s.plugin_errors),
                                 ("withheld", s.withheld),
                                 ("rejected", s.rejected), ("duplicates", s.duplicates),
                                 ("conflicts", s.conflicts)):
                if value:
                    parts.append(f"{value} {label}")
            click.echo(f"{s.stage}: {', '.join(parts)} ({s.seconds:.1f}s)", err=True)
            for line in s.errors[:20]:
                click.echo(f"  {line}", err=True)
            if len(s.errors) > 20:
                click.echo(f"  ... {len(s.errors) - 20} more", err=True)
            for line in s.notes[:50]:
                click.echo(f"  {line}", err=True)
            if len(s.notes) > 50:
                click.echo(f"  ... {len(s.notes) - 50} more", err=True)
    return _code(failed, rejected)


def _code(failed: int, rejected: int) -> int:
    if failed:
        return EXIT_FAILURE
    if rejected:
        return EXIT_REJECTED
    return EXIT_OK


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--executor-option")
        out[key.strip().replace("-", "_")] = int(value) if value.isdigit() else value
    return out


db_option = click.option("--db", envvar="GANTRY_DB", required=True,
                         help="Store URL of the session (sqlite:///path.db, memory://).")
profile_option = click.option("--profile", "-p", default=None,
                              help="Privacy profile: a YAML file or a shipped name "
                                   "(default ps3.15/basic).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
workers_option = click.option("--workers", "-w", type=click.IntRange(1), default=None,
                              help="Worker processes (default: all cores).")
executor_option = click.option("--executor", default="local", show_default=True,
                               help="Executor (local, or dask with gantry-dask).")
executor_options_option = click.option("--executor-option", "executor_options", multiple=True,
                                       metavar="KEY=VALUE",
                                       help="Executor setting, e.g. address=tcp://host:8786.")


class GantryGroup(click.Group):
    """A click group that turns Gantry errors into one line and documented exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.ensure_object(State)
        try:
            return super().invoke(ctx)
        except ProfileError as exc:
            return self._die(state, exc, EXIT_USAGE)
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
        name = "" if isinstance(exc, GantryError) else f"{type(exc).__name__}: "
        click.echo(f"gantry: error: {name}{exc}", err=True)
        sys.exit(code)


@click.group(cls=GantryGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gantry")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries.")
@click.pass_context
def cli(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Gantry: curate and de-identify DICOM."""
    state = ctx.ensure_object(State)
    state.debug = debug
    state.quiet = quiet
    if debug:
        os.environ["GANTRY_DEBUG"] = "1"  # worker processes keep their warnings too
    else:
        warnings.filterwarnings("ignore", module="pydicom")


@cli.command()
@click.argument("src")
@click.argument("dest")
@profile_option
@click.option("--db", default=None, help="Working store URL (default: SQLite under "
              "$GANTRY_HOME/runs, keyed by DEST, so the same command resumes; a DEST that "
              "is gone or empty starts afresh).")
@click.option("--format", "fmt", default="dicom", show_default=True, help="Export format.")
@click.option("--secret-file", default=None, help="Project secret file (default: "
              "$GANTRY_SECRET, $GANTRY_SECRET_FILE or ~/.config/gantry/secret.key).")
@workers_option
@executor_option
@executor_options_option
@json_option
@pass_state
def deidentify(state: State, src: str, dest: str, profile: str | None, db: str | None, fmt: str,
               secret_file: str | None, workers: int | None, executor: str,
               executor_options: tuple[str, ...], as_json: bool) -> None:
    """De-identify SRC (folder, zip, file) into DEST: ingest → audit → redact → export.

    Redaction, audit and export run in one pass per file: the audit sees what was changed
    and checks the result; its findings are kept in the store as the ``verify`` stage.
    SRC may also be a URL an ingestor plugin reads, and DEST a URL an exporter plugin writes
    to (s3://bucket/prefix with gantry-fsspec).
    """
    if db is None:
        db = default_db_for(dest)
        if not _has_entries(dest):  # nothing to resume: a stale working store would say
            _drop_working_store(db)  # "already exported" for files that are gone
    with open_session(state, db, profile, workers, executor, _parse_options(executor_options),
                      secret_file, forbidden=(dest, src), prestart=True) as session:
        summaries = session.deidentify(src, dest, format=fmt, keep_workers=False)
    sys.exit(_report(state, summaries, as_json))


@cli.command()
@click.argument("src")
@db_option
@profile_option
@json_option
@pass_state
def ingest(state: State, src: str, db: str, profile: str | None, as_json: bool) -> None:
    """Index SRC (folder, zip, file) into the store (headers only).

    SRC may also be a URL an ingestor plugin reads (s3://bucket/prefix with gantry-fsspec).
    """
    with open_session(state, db, profile) as session:
        summary = session.ingest(src)
    sys.exit(_report(state, [summary], as_json))


@cli.command()
@db_option
@profile_option
@click.option("--after-redaction", is_flag=True, help="Audit what the redaction would produce.")
@click.option("--findings", "show_findings", is_flag=True, help="Print every finding.")
@workers_option
@json_option
@pass_state
def audit(state: State, db: str, profile: str | None, after_redaction: bool,
          show_findings: bool, workers: int | None, as_json: bool) -> None:
    """Record findings per instance: what would change, what still holds identifiers."""
    with open_session(state, db, profile, workers) as session:
        summary = session.audit(after_redaction=after_redaction)
        if show_findings and not as_json:
            stage = "verify" if after_redaction else "audit"
            for uid, found_stage, finding in session.store.iter_findings():
                if found_stage != stage:
                    continue
                subject = session.run.map_uid(uid)
                click.echo(f"{subject}\t{finding.severity}\t{finding.code}\t"
                           f"{finding.keyword or finding.tag}\t{finding.message}")
    sys.exit(_report(state, [summary], as_json))


@cli.command()
@db_option
@profile_option
@workers_option
@json_option
@pass_state
def redact(state: State, db: str, profile: str | None, workers: int | None,
           as_json: bool) -> None:
    """Apply the profile's redaction stack and record what changes (writes nothing)."""
    with open_session(state, db, profile, workers) as session:
        summary = session.redact()
    sys.exit(_report(state, [summary], as_json))


@cli.command()
@click.argument("dest")
@db_option
@profile_option
@click.option("--format", "fmt", default="dicom", show_default=True, help="Export format.")
@click.option("--query", default=None, help="Only instances matching this expression.")
@workers_option
@executor_option
@executor_options_option
@json_option
@pass_state
def export(state: State, dest: str, db: str, profile: str | None, fmt: str, query: str | None,
           workers: int | None, executor: str, executor_options: tuple[str, ...],
           as_json: bool) -> None:
    """Redact and write the session's instances to DEST (resumes where it stopped)."""
    with open_session(state, db, profile, workers, executor,
                      _parse_options(executor_options), forbidden=(dest,)) as session:
        summary = session.export(dest, format=fmt, query=query)
    sys.exit(_report(state, [summary], as_json))


@cli.command()
@db_option
@profile_option
@click.option("--rejected", is_flag=True, help="List rejected inputs with reasons.")
@json_option
@pass_state
def status(state: State, db: str, profile: str | None, rejected: bool, as_json: bool) -> None:
    """Show what the store holds and where each instance stands."""
    with open_session(state, db, profile) as session:
        info = session.status()
        rejections = [r.__dict__ for r in session.store.iter_rejected()] if rejected else []
    if as_json:
        click.echo(json.dumps({**info, "rejected_inputs": rejections}, indent=2, default=str))
        return
    for key, value in info.items():
        click.echo(f"{key}: {value}")
    for row in rejections:
        click.echo(f"rejected: {row['source']}: {row['reason']}")


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include the kernel's built-in plugins.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
@json_option
def plugins(show_all: bool, hook: str | None, as_json: bool) -> None:
    """List installed plugins: name, version, status, hooks, components."""
    from gantry.plugins import build_plugin_manager

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        hooks = build_plugin_manager()
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
def profiles_list() -> None:
    """List shipped and plugin-provided profiles."""
    from gantry.plugins import build_plugin_manager
    from gantry.profiles import list_profiles

    for name, path, description in list_profiles(build_plugin_manager().profile_paths()):
        click.echo(f"{name}\t{description}\t{path}")


@profiles.command("show")
@click.argument("name")
def profiles_show(name: str) -> None:
    """Print a profile after ``extends:`` is resolved."""
    from gantry.plugins import build_plugin_manager
    from gantry.profiles import load_profile

    profile = load_profile(name, build_plugin_manager().profile_paths())
    click.echo(json.dumps(profile.model_dump(mode="json"), indent=2, default=str))


@profiles.command("validate")
@click.argument("file")
def profiles_validate(file: str) -> None:
    """Validate a profile file; errors name file, line and field."""
    from gantry.plugins import build_plugin_manager
    from gantry.session import load_run_profile

    profile = load_run_profile(file, build_plugin_manager())
    click.echo(f"{file}: valid ({profile.name}, edition {profile.edition}, "
               f"options: {', '.join(profile.options) or 'none'})")


_PLUGIN_COMMANDS_ADDED = False


def _add_plugin_commands() -> None:
    global _PLUGIN_COMMANDS_ADDED
    if _PLUGIN_COMMANDS_ADDED:
        return
    _PLUGIN_COMMANDS_ADDED = True
    from gantry.plugins import build_plugin_manager

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            build_plugin_manager().add_commands(cli)
    except GantryError as exc:
        click.echo(f"gantry: warning: plugin commands unavailable: {exc}", err=True)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``gantry`` script."""
    tune_for_batch()
    _add_plugin_commands()
    cli.main(args=argv, prog_name="gantry")


if __name__ == "__main__":  # pragma: no cover
    main()
