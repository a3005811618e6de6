"""A small, safe query language over DICOM headers.

``Modality == 'CT' and SliceThickness < 1.0 and Manufacturer contains 'GE'`` is tokenized and
parsed by hand into a typed syntax tree (never ``eval``), then compiled to a Python predicate.
The tree (:mod:`gantry.query.syntax`) is public, so plugins compile it for other engines (a
DuckDB ``WHERE`` clause, a ``pyarrow.compute.Expression``). See ``docs/query.md``.
"""

from __future__ import annotations

from gantry.query.errors import QueryError
from gantry.query.names import name_for_column, spec_for_tag
from gantry.query.parser import parse_query
from gantry.query.predicate import to_predicate
from gantry.query.syntax import Name, Node, iter_names
from gantry.query.values import INVALID_COLUMN, coerce, header_row


def referenced_keywords(tree: Node) -> set[str]:
    """The column names (DICOM keywords, or hex for tags without one) a query reads."""
    return {name.column for name in iter_names(tree)}


__all__ = [
    "INVALID_COLUMN", "Name", "Node", "QueryError", "coerce", "header_row", "name_for_column",
    "parse_query", "referenced_keywords", "spec_for_tag", "to_predicate",
]
