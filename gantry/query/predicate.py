"""Compile a syntax tree to a pure-Python predicate over one row (``Mapping[str, Any]``).

Logic is three-valued, as in SQL: a comparison with a missing value is *unknown*, ``not
unknown`` is unknown, and the predicate is true only when the whole query is true — so the
predicate, the DuckDB SQL and the Arrow expression select the same rows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gantry.query.syntax import (
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
from gantry.query.values import coerce

Row = Mapping[str, Any]
_Eval = Callable[[Row], bool | None]

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def to_predicate(tree: Node) -> Callable[[Row], bool]:
    """A function ``row -> bool`` true exactly for the rows the query selects.

    ``row`` maps column names (DICOM keywords) to values: typed values (as from
    :func:`gantry.query.header_row`) or raw pydicom values — a pydicom ``Dataset`` works too, as
    it answers ``get(keyword)``. Values are brought to each attribute's type first.
    """
    evaluate = _compile(tree)

    def predicate(row: Row) -> bool:
        return evaluate(row) is True

    return predicate


def _compile(node: Node) -> _Eval:
    if isinstance(node, And):
        parts = [_compile(item) for item in node.items]
        return lambda row: _and(part(row) for part in parts)
    if isinstance(node, Or):
        parts = [_compile(item) for item in node.items]
        return lambda row: _or(part(row) for part in parts)
    if isinstance(node, Not):
        inner = _compile(node.item)

        def negate(row: Row) -> bool | None:
            result = inner(row)
            return None if result is None else not result

        return negate
    name = node.name

    def value_of(row: Row) -> Any:
        return coerce(row.get(name.column), name)

    if isinstance(node, IsNull):
        return lambda row: value_of(row) is None
    test = _leaf_test(node)
    if name.multi:
        def any_element(row: Row) -> bool | None:
            values = value_of(row)
            if values is None:
                return None
            return any(test(v) for v in values if v is not None)

        return any_element

    def scalar(row: Row) -> bool | None:
        value = value_of(row)
        return None if value is None else test(value)

    return scalar


def _leaf_test(node: Node) -> Callable[[Any], bool]:
    if isinstance(node, Compare):
        op, literal = _OPS[node.op], node.value
        return lambda v: op(v, literal)
    if isinstance(node, InList):
        options = node.values
        return lambda v: v in options
    if isinstance(node, Between):
        low, high = node.low, node.high
        return lambda v: low <= v <= high
    if isinstance(node, Contains):
        needle = node.value.lower()
        return lambda v: needle in str(v).lower()
    if isinstance(node, StartsWith):
        prefix = node.value.lower()
        return lambda v: str(v).lower().startswith(prefix)
    raise TypeError(f"not a query node: {node!r}")


def _and(results: Any) -> bool | None:
    unknown = False
    for result in results:
        if result is False:
            return False
        if result is None:
            unknown = True
    return None if unknown else True


def _or(results: Any) -> bool | None:
    unknown = False
    for result in results:
        if result is True:
            return True
        if result is None:
            unknown = True
    return None if unknown else False
