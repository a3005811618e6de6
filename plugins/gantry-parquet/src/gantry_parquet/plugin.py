"""Hook implementations of gantry-parquet (cheap imports only: pyarrow and DuckDB load when
a table is written or queried)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry import hookimpl
from gantry.api import ConfigKey, Exporter

if TYPE_CHECKING:
    import click

    from gantry.api import ExportTarget, Run


def _make_sink(target: ExportTarget, run: Run) -> Any:
    from gantry_parquet.sink import ParquetSink

    return ParquetSink(target, run)


@hookimpl
def gantry_exporters():
    """Register the ``parquet`` exporter: one typed row per redacted instance (parent side)."""
    yield Exporter("parquet", factory=_make_sink, schemes=("file",), runs_in="parent",
                   description="flattened headers as a typed parquet table (optionally "
                               "partitioned)")


@hookimpl
def gantry_own_files():
    """The parquet files and the folder marker the exporter writes: Gantry's own files when
    an output is taken as input (name and content)."""
    from gantry_parquet.own_files import own_files

    yield from own_files()


@hookimpl
def gantry_config_keys():
    """Declare the ``gantry-parquet`` settings section (partition_by, batch_size, ...)."""
    from gantry_parquet.options import ParquetOptions

    yield ConfigKey("gantry-parquet", model=ParquetOptions)


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry query`` (expression or read-only SQL over the instance table)."""
    from gantry_parquet.commands import add_query_command

    add_query_command(cli)


@hookimpl
def gantry_instance_table(session: Any, form: str, query: str | None,
                          columns: list[str] | None) -> Any:
    """Make ``Session.to_arrow()``'s ``pyarrow.Table`` and ``Session.to_pandas()``'s
    DataFrame (``None`` for any other form)."""
    if form == "arrow":
        from gantry_parquet.tables import to_arrow

        return to_arrow(session, query, columns)
    if form == "pandas":
        from gantry_parquet.tables import to_pandas

        return to_pandas(session, query, columns)
    return None
