"""The ``gantry`` sub-commands added by gantry-sqlite.

All take ``--db URL`` (or ``GANTRY_DB``) naming a ``sqlite:///...`` store. ``compact`` and
``purge`` need the store to themselves (no other session open on it).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from gantry_sqlite.store import SqliteStore

DB_OPTION = click.option("--db", "db_url", envvar="GANTRY_DB", required=True,
                         help="Store URL, e.g. sqlite:///cohort.db (env: GANTRY_DB), or the "
                              "DEST of a one-shot run (its working store).")


class _StoreNotFound(click.ClickException):
    """``--db`` names no store (exit code 2, a usage error, like the kernel's commands)."""

    exit_code = 2


@contextmanager
def _store(db_url: str, *, must_exist: bool = True) -> Iterator[SqliteStore]:
    from gantry.api import GantryError, build_plugin_manager, resolve_store
    from gantry_sqlite.store import SqliteStore, path_from_url

    # a URL, or the destination of a one-shot run (its working store); never created here
    try:
        db_url = resolve_store(db_url, build_plugin_manager(), must_exist=must_exist)
    except GantryError as exc:
        raise _StoreNotFound(str(exc)) from None
    try:
        path = path_from_url(db_url)
        if must_exist and not path.exists():
            raise click.ClickException(f"{path}: no such store")
        store = SqliteStore(db_url)
    except GantryError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except GantryError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"  # pragma: no cover


def register(cli: click.Group) -> None:
    """Add this plugin's commands to ``cli``."""
    cli.add_command(compact_cmd)
    cli.add_command(purge_cmd)
    cli.add_command(audit_log_cmd)
    cli.add_command(sql_cmd)
    cli.add_command(verify_pixels_cmd)


JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")


@click.command("compact")
@DB_OPTION
@JSON_OPTION
def compact_cmd(db_url: str, as_json: bool) -> None:
    """Rewrite the pixel sidecar with live entries only and report the space reclaimed."""
    from gantry_sqlite.maintenance import compact

    with _store(db_url) as store:
        report = compact(store)
        if as_json:
            click.echo(json.dumps({"sidecar": str(store.pixels_path), **vars(report)}))
            return
        click.echo(f"{store.pixels_path}: {report.entries} live entries, "
                   f"{_size(report.bytes_before)} -> {_size(report.bytes_after)}, "
                   f"reclaimed {_size(report.reclaimed)} ({report.reclaimed} bytes)")


@click.command("purge")
@DB_OPTION
@click.option("--destination", default=None,
              help="Only purge instances exported to this destination (default: any).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@JSON_OPTION
def purge_cmd(db_url: str, destination: str | None, yes: bool, as_json: bool) -> None:
    """Remove original header values of exported instances (keeps pseudonymous records and
    the audit log)."""
    from gantry_sqlite.maintenance import purge

    if not yes:
        click.confirm("Remove the original values of every exported instance from the store?",
                      abort=True)
    with _store(db_url) as store:
        report = purge(store, destination)
        if as_json:
            click.echo(json.dumps(vars(report)))
            return
        click.echo(f"purged {report.instances} exported instances ({report.elements} header "
                   f"elements, {report.pixel_entries} pixel entries, "
                   f"{report.rejected_sources} rejected source paths); "
                   f"{report.remaining_instances} instances not yet exported remain")


def _event_rows(store: SqliteStore) -> Iterator[dict[str, Any]]:
    for e in store.iter_events():
        yield {"time": dt.datetime.fromtimestamp(e.time, dt.UTC).isoformat(timespec="milliseconds"),
               "run_id": e.run_id, "kind": e.kind, "subject": e.subject, "detail": e.detail}


@click.command("audit-log")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True, help="Output format.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Write to this file instead of standard output.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
def audit_log_cmd(db_url: str, fmt: str, output: str | None, as_json: bool) -> None:
    """Export the audit log (events name instances by pseudonymous UIDs only)."""
    fmt = "json" if as_json else fmt
    with _store(db_url) as store:
        if output:
            with open(output, "w", newline="", encoding="utf-8") as fh:
                count = _write_events(store, fmt, fh)
            click.echo(f"{count} events written to {output}", err=True)
        else:
            _write_events(store, fmt, sys.stdout)


def _write_events(store: SqliteStore, fmt: str, fh: IO[str]) -> int:
    count = 0
    if fmt == "csv":
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["time", "run_id", "kind", "subject", "detail"])
        for row in _event_rows(store):
            writer.writerow([row["time"], row["run_id"], row["kind"], row["subject"],
                             json.dumps(row["detail"], sort_keys=True)])
            count += 1
        return count
    fh.write("[")
    for row in _event_rows(store):
        fh.write(("," if count else "") + "\n  " + json.dumps(row, sort_keys=True))
        count += 1
    fh.write("\n]\n" if count else "]\n")
    return count


@click.command("sql")
@DB_OPTION
@click.argument("query")
@click.option("--param", "-p", "params", multiple=True, help="A value for a '?' placeholder.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json (JSON lines).")
def sql_cmd(db_url: str, query: str, params: tuple[str, ...], fmt: str, as_json: bool) -> None:
    """Run a read-only SQL query on the store (tables: instances, header, findings, ...)."""
    fmt = "json" if as_json else fmt
    with _store(db_url) as store:
        result = store.sql(query, params)
        if fmt == "json":
            for row in result:
                click.echo(json.dumps(dict(zip(result.columns, _jsonable(row), strict=True))))
            return
        writer = csv.writer(sys.stdout, delimiter="," if fmt == "csv" else "\t",
                            lineterminator="\n")
        writer.writerow(result.columns)
        for row in result:
            writer.writerow(_jsonable(row))


def _jsonable(row: tuple[Any, ...]) -> list[Any]:
    return [v.hex() if isinstance(v, bytes) else v for v in row]


@click.command("verify-pixels")
@click.argument("sidecar", type=click.Path(exists=True, dir_okay=False))
@click.option("--extract", type=click.Path(file_okay=False), default=None,
              help="Also write the last good array of every key as .npy into this folder.")
def verify_pixels_cmd(sidecar: str, extract: str | None) -> None:
    """Check every entry of a pixel sidecar without the database (exit 1 on damage)."""
    from pathlib import Path

    from gantry.api import StoreError
    from gantry_sqlite.pixels import read_at, scan

    good: dict[str, tuple[int, int]] = {}
    bad = 0
    try:
        for entry in scan(sidecar):
            if entry.ok:
                good[entry.key] = (entry.offset, entry.length)
            else:
                bad += 1
                click.echo(f"damaged: {entry.error}", err=True)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    if extract:
        import hashlib

        import numpy as np

        folder = Path(extract)
        folder.mkdir(parents=True, exist_ok=True)
        for key, (offset, length) in good.items():
            array, _ = read_at(sidecar, offset, length)
            name = hashlib.sha256(key.encode()).hexdigest()[:32]
            np.save(folder / f"{name}.npy", array)
            (folder / f"{name}.key").write_text(key, encoding="utf-8")
    click.echo(f"{sidecar}: {len(good)} keys readable, {bad} damaged entries")
    if bad:
        sys.exit(1)
