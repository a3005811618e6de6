"""Compile a query's syntax tree (``gantry.api.parse_query``) to a DuckDB ``WHERE`` clause
with ``?`` parameters.

Column names come from the tree (already checked against the DICOM dictionary) and are quoted;
every literal is a parameter, never text pasted into the SQL.
"""

from __future__ import annotations

from typing import Any

from gantry.api import (
    And,
    Between,
    Compare,
    Contains,
    InList,
    IsNull,
    Node,
    Not,
    Or,
    StartsWith,
)

_ELEMENT = "gantry_v"


def quote_identifier(name: str) -> str:
    """A SQL identifier in double quotes (embedded quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def to_duckdb(tree: Node) -> tuple[str, list[Any]]:
    """``(sql, params)``: a boolean SQL expression for ``WHERE`` and its parameters in order.

    Multi-valued attributes (lists) match when any element matches; ``contains`` and
    ``startswith`` ignore case. Example::

        sql, params = to_duckdb(parse_query("Modality == 'CT' and SliceThickness < 1"))
        con.execute(f"SELECT * FROM instances WHERE {sql}", params)
    """
    params: list[Any] = []
    return _sql(tree, params), params


def _sql(node: Node, params: list[Any]) -> str:
    if isinstance(node, And):
        return "(" + " AND ".join(_sql(item, params) for item in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " OR ".join(_sql(item, params) for item in node.items) + ")"
    if isinstance(node, Not):
        return f"(NOT {_sql(node.item, params)})"
    column = quote_identifier(node.name.column)
    if isinstance(node, IsNull):
        if node.name.multi:
            return f"({column} IS NULL OR len({column}) = 0)"
        return f"({column} IS NULL)"
    if node.name.multi:
        condition = _condition(node, _ELEMENT, params)
        return f"(len(list_filter({column}, lambda {_ELEMENT}: {condition})) > 0)"
    return _condition(node, column, params)


def _condition(node: Node, subject: str, params: list[Any]) -> str:
    if isinstance(node, Compare):
        params.append(node.value)
        op = "=" if node.op == "==" else "<>" if node.op == "!=" else node.op
        return f"({subject} {op} ?)"
    if isinstance(node, InList):
        params.extend(node.values)
        marks = ", ".join("?" for _ in node.values)
        return f"({subject} IN ({marks}))"
    if isinstance(node, Between):
        params.extend((node.low, node.high))
        return f"({subject} BETWEEN ? AND ?)"
    if isinstance(node, Contains):
        params.append(node.value.lower())
        return f"contains(lower({subject}), ?)"
    if isinstance(node, StartsWith):
        params.append(node.value.lower())
        return f"starts_with(lower({subject}), ?)"
    raise TypeError(f"not a query node: {node!r}")
