"""The query language compiled for DuckDB and Arrow (``gantry_parquet.api``) selects, row for
row, what the kernel's predicate selects (the shared cases of ``gantry.testing.query_cases``)."""

from __future__ import annotations

import inspect

import duckdb
import pyarrow as pa
import pytest
from gantry_parquet import arrow_expr, duckdb_sql
from gantry_parquet.api import arrow_type, quote_identifier, to_arrow, to_duckdb

from gantry.api import QueryError, name_for_column, parse_query, referenced_keywords
from gantry.testing.query_cases import CASES, MULTI_VALUED, ROWS


@pytest.fixture(scope="module")
def table() -> pa.Table:
    columns = {}
    for column in ROWS[0]:
        name = name_for_column(column)
        columns[column] = pa.array([r[column] for r in ROWS],
                                   type=arrow_type(name.kind, name.multi))
    return pa.table(columns)


@pytest.mark.parametrize("query", list(CASES))
def test_duckdb_agrees_with_predicate(query: str, table: pa.Table) -> None:
    sql, params = to_duckdb(parse_query(query))
    assert "'" not in sql.replace("''", "")  # literals never reach the SQL text
    con = duckdb.connect()
    con.register("instances", table)
    found = {r[0] for r in con.execute(f"SELECT PatientID FROM instances WHERE {sql}",
                                       params).fetchall()}
    assert found == CASES[query]


@pytest.mark.parametrize("query", [q for q in CASES
                                   if not MULTI_VALUED & referenced_keywords(parse_query(q))])
def test_arrow_agrees_with_predicate(query: str, table: pa.Table) -> None:
    filtered = table.filter(to_arrow(parse_query(query)))
    assert set(filtered.column("PatientID").to_pylist()) == CASES[query]


def test_arrow_refuses_list_elements_plainly() -> None:
    with pytest.raises(QueryError, match="multi-valued"):
        to_arrow(parse_query("ImageType contains 'AXIAL'"))
    assert to_arrow(parse_query("ImageType is null")) is not None


def test_hostile_text_stays_a_literal() -> None:
    evil = "x'); DROP TABLE instances; --"
    tree = parse_query(f"PatientID == \"{evil}\"")
    sql, params = to_duckdb(tree)
    assert params == [evil] and "DROP" not in sql
    con = duckdb.connect()
    con.register("instances", pa.table({"PatientID": [evil, "y"]}))
    assert con.execute(f"SELECT count(*) FROM instances WHERE {sql}", params).fetchone() == (1,)
    assert quote_identifier('a"b') == '"a""b"'


def test_no_eval_in_the_compilers() -> None:
    for module in (arrow_expr, duckdb_sql):
        source = inspect.getsource(module)
        assert "eval(" not in source and "exec(" not in source
