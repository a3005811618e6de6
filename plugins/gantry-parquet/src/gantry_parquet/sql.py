"""Read-only SQL over an Arrow table with DuckDB: one SELECT, no file or network access."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.api import GantryError

if TYPE_CHECKING:
    import pyarrow as pa

TABLE = "instances"


class SqlError(GantryError):
    """A raw SQL query was refused or failed."""


def check_select(sql: str) -> None:
    """Raise :class:`SqlError` unless ``sql`` is exactly one SELECT statement."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SqlError(f"SQL: {exc}") from None
    if len(statements) != 1:
        raise SqlError(f"SQL: give exactly one SELECT statement (found {len(statements)})")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise SqlError(f"SQL: only SELECT is allowed here, not {kind.name}")


def run_select(table: pa.Table, sql: str, params: list[Any] | None = None) -> pa.Table:
    """Run one SELECT over ``table`` (named ``instances``) and return the result.

    The connection is in memory, external access (files, URLs, extensions) is switched off and
    the configuration locked before the user's SQL runs.
    """
    import duckdb

    check_select(sql)
    con = duckdb.connect(":memory:")
    try:
        con.register(TABLE, table)
        con.execute("SET enable_external_access = false")
        con.execute("SET lock_configuration = true")
        try:
            relation = con.sql(sql, params=params or None)
            if relation is None:
                raise SqlError("SQL: the statement returned no rows")
            if hasattr(relation, "to_arrow_table"):
                return relation.to_arrow_table()
            return relation.arrow()  # DuckDB < 1.4
        except duckdb.Error as exc:
            raise SqlError(f"SQL: {exc}") from None
    finally:
        con.close()


def filter_table(table: pa.Table, query: str) -> pa.Table:
    """Rows of ``table`` matching a Gantry query, through DuckDB with parameters."""
    from gantry.api import parse_query, referenced_keywords
    from gantry_parquet.batches import conform, unify
    from gantry_parquet.columns import column_type
    from gantry_parquet.duckdb_sql import to_duckdb

    tree = parse_query(query)
    import pyarrow as pa

    missing = [c for c in referenced_keywords(tree) if c not in table.schema.names]
    if missing:  # an attribute no instance has: a null column, so the query still types
        schema = unify([table.schema, pa.schema([pa.field(c, column_type(c)) for c in missing])])
        table = pa.Table.from_batches([conform(b, schema) for b in table.to_batches()],
                                      schema=schema)
    where, params = to_duckdb(tree)
    return run_select(table, f"SELECT * FROM {TABLE} WHERE {where}", params)
