"""Compile a query's syntax tree (``gantry.api.parse_query``) to a ``pyarrow.compute.Expression``
(pyarrow imported when called).

Arrow expressions have no "any element" operation over lists, so queries on multi-valued
attributes compile only to a predicate or to DuckDB; :func:`to_arrow` says so plainly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.api import (
    And,
    Between,
    Compare,
    Contains,
    InList,
    IsNull,
    Kind,
    Node,
    Not,
    Or,
    QueryError,
    StartsWith,
)

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.compute as pc


def arrow_type(kind: Kind, multi: bool = False) -> pa.DataType:
    """The Arrow type of a column of ``kind`` (a list type when ``multi``)."""
    import pyarrow as pa

    base = {"int": pa.int64(), "float": pa.float64(), "date": pa.date32(),
            "string": pa.string(), "sequence": pa.string(), "binary": pa.binary()}[kind]
    return pa.list_(base) if multi else base


def to_arrow(tree: Node) -> pc.Expression:
    """A ``pyarrow.compute.Expression`` selecting the rows the query selects.

    Use it with ``pyarrow.dataset`` scans (``dataset.to_table(filter=expr)``) or
    ``table.filter(expr)``. Raises :class:`QueryError` for multi-valued attributes (use
    :func:`to_duckdb` or :func:`to_predicate` for those). Example::

        table = pyarrow.dataset.dataset("out/").to_table(filter=to_arrow(tree))
    """
    return _expr(tree)


def _expr(node: Node) -> pc.Expression:
    import pyarrow.compute as pc

    if isinstance(node, And):
        result = _expr(node.items[0])
        for item in node.items[1:]:
            result = result & _expr(item)
        return result
    if isinstance(node, Or):
        result = _expr(node.items[0])
        for item in node.items[1:]:
            result = result | _expr(item)
        return result
    if isinstance(node, Not):
        return ~_expr(node.item)
    name = node.name
    field = pc.field(name.column)
    if isinstance(node, IsNull):
        if name.multi:
            return field.is_null() | (pc.list_value_length(field) == 0)
        return field.is_null()
    if name.multi:
        raise QueryError(f"{name.column} is multi-valued (a list); Arrow expressions cannot test "
                         "list elements — use to_duckdb() or to_predicate()",
                         position=name.position)
    if isinstance(node, Compare):
        value = _scalar(node.value, name.kind)
        return {"==": field == value, "!=": field != value, "<": field < value,
                "<=": field <= value, ">": field > value, ">=": field >= value}[node.op]
    if isinstance(node, InList):
        import pyarrow as pa

        values = pa.array(list(node.values), type=arrow_type(name.kind))
        # is_in says false for a null; SQL (and the predicate) say unknown
        return pc.if_else(field.is_valid(), field.isin(values), pa.scalar(None, pa.bool_()))
    if isinstance(node, Between):
        return (field >= _scalar(node.low, name.kind)) & (field <= _scalar(node.high, name.kind))
    if isinstance(node, Contains):
        return pc.match_substring(field, node.value, ignore_case=True)
    if isinstance(node, StartsWith):
        return pc.starts_with(field, node.value, ignore_case=True)
    raise TypeError(f"not a query node: {node!r}")


def _scalar(value: Any, kind: Kind) -> Any:
    import pyarrow as pa

    return pa.scalar(value, type=arrow_type(kind))
