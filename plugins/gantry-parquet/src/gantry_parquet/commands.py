"""``gantry query``: select instances of a working store by expression or read-only SQL."""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
from collections.abc import Iterable
from typing import Any

import click

DEFAULT_COLUMNS = ["SOPInstanceUID", "PatientID", "StudyDate", "Modality", "SeriesNumber",
                   "SeriesDescription", "InstanceNumber", "gantry_status"]


def text(value: Any) -> str:
    """A cell value as text for terminals and CSV."""
    if value is None:
        return ""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    if isinstance(value, list):
        return "\\".join(text(v) for v in value)
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def emit(rows: Iterable[dict[str, Any]], columns: list[str], fmt: str,
         noun: str = "instance") -> int:
    """Print rows as a table, CSV or JSON; return how many were printed."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([text(row.get(c)) for c in columns])
            count += 1
        return count
    if fmt == "json":
        click.echo("[", nl=False)
        for row in rows:
            click.echo(("," if count else "") + "\n " + json.dumps(
                {c: _json_value(row.get(c)) for c in columns}), nl=False)
            count += 1
        click.echo("\n]" if count else "]")
        return count
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, show_lines=False)
    for row in rows:
        table.add_row(*(text(row.get(c)) for c in columns))
        count += 1
    Console(soft_wrap=False).print(table)
    click.echo(f"{count} {noun}{'s' if count != 1 else ''}", err=True)
    return count


def add_query_command(cli: click.Group) -> None:
    """Add ``gantry query`` to the command line."""

    @cli.command("query")
    @click.argument("expression", required=False)
    @click.option("--sql", default=None, help="A read-only SELECT over the table 'instances'.")
    @click.option("--db", envvar="GANTRY_DB", required=True,
                  help="Working store URL (env GANTRY_DB), or the DEST of a one-shot run.")
    @click.option("--profile", "-p", default=None, help="Privacy profile (name or file).")
    @click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]),
                  default="table", show_default=True)
    @click.option("--columns", "-c", default=None,
                  help="Comma-separated columns to print (default: a short summary plus the "
                       "attributes the expression reads).")
    @click.option("--limit", type=click.IntRange(0), default=None, help="Print at most N rows.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON (same as --format json).")
    def query(expression: str | None, sql: str | None, db: str, profile: str | None, fmt: str,
              columns: str | None, limit: int | None, as_json: bool) -> None:
        """Select instances of the working store with EXPRESSION (e.g. "Modality == 'CT' and
        SliceThickness < 1.0"), or run a read-only --sql SELECT over the instance table.

        The working store holds the ingested, original headers: treat the output as identifying.
        """
        from itertools import islice

        if as_json:
            fmt = "json"

        from gantry import Session
        from gantry.api import QueryError, parse_query, referenced_keywords
        from gantry_parquet.sql import SqlError, check_select
        from gantry_parquet.tables import store_rows, to_arrow

        if bool(expression) == bool(sql):
            raise click.UsageError("give either an EXPRESSION or --sql, not both or neither")
        try:
            if sql:
                check_select(sql)
            else:
                tree = parse_query(expression or "")
        except (QueryError, SqlError) as exc:
            if isinstance(exc, QueryError) and exc.position is not None:
                click.echo(exc.pointer(), err=True)
            raise click.ClickException(str(exc)) from None
        chosen = [c.strip() for c in columns.split(",") if c.strip()] if columns else None
        from gantry.api import build_plugin_manager, resolve_store

        db = resolve_store(db, build_plugin_manager())  # a URL or a one-shot run's DEST
        with Session(store=db, profile=profile) as session:
            if sql:
                from gantry_parquet.sql import run_select

                try:
                    result = run_select(to_arrow(session), sql)
                except SqlError as exc:
                    raise click.ClickException(str(exc)) from None
                names = chosen or result.schema.names
                rows: Iterable[dict[str, Any]] = result.select(
                    [n for n in names if n in result.schema.names]).to_pylist()
            else:
                names = chosen or DEFAULT_COLUMNS + sorted(
                    referenced_keywords(tree) - set(DEFAULT_COLUMNS))
                rows = store_rows(session.store, expression, names)
            if limit is not None:
                rows = islice(rows, limit)
            emit(rows, names, fmt, noun="row" if sql else "instance")
