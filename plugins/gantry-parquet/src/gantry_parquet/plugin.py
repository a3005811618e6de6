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
def gantry_config_keys():
    """Declare the ``gantry-parquet`` settings section (partition_by, batch_size, ...)."""
    from gantry_parquet.options import ParquetOptions

    yield ConfigKey("gantry-parquet", model=ParquetOptions)


@hookimpl
def gantry_commands(cli: click.Group) -> None:
    """Add ``gantry query`` (expression or read-only SQL over the instance table)."""
    from gantry_parquet.commands import add_query_command

    add_query_command(cli)


def session_to_arrow(session: Any, query: str | None = None,
                     columns: list[str] | None = None) -> Any:
    """The session's stored headers as a ``pyarrow.Table`` (``Session.to_arrow`` calls this)."""
    from gantry_parquet.tables import to_arrow

    return to_arrow(session, query, columns)


def session_to_pandas(session: Any, query: str | None = None,
                      columns: list[str] | None = None) -> Any:
    """The session's stored headers as a pandas DataFrame (``Session.to_pandas`` calls this)."""
    from gantry_parquet.tables import to_pandas

    return to_pandas(session, query, columns)
