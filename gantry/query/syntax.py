"""The syntax tree of a query: small frozen dataclasses, built only by :mod:`gantry.query.parser`.

Every node that names an attribute holds a resolved :class:`Name` (column name, value kind,
whether the attribute is multi-valued), so compilers never look at the user's text again.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal as TypingLiteral

#: Value kinds a column can hold (see :mod:`gantry.query.names`).
Kind = TypingLiteral["int", "float", "string", "date", "sequence", "binary"]
Value = str | int | float | dt.date
CompareOp = TypingLiteral["==", "!=", "<", "<=", ">", ">="]


@dataclass(frozen=True)
class Name:
    """A resolved attribute: its column name (DICOM keyword, or 8 hex digits for tags without
    one), its value kind, and whether it holds a list (value multiplicity above 1)."""

    column: str
    kind: Kind
    multi: bool = False
    position: int = 0

    @property
    def is_number(self) -> bool:
        """Whether the column holds numbers."""
        return self.kind in ("int", "float")


@dataclass(frozen=True)
class Compare:
    """``name op value``."""

    name: Name
    op: CompareOp
    value: Value


@dataclass(frozen=True)
class InList:
    """``name in [v1, v2, ...]``."""

    name: Name
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Contains:
    """``name contains 'text'`` (case-insensitive substring; any element for lists)."""

    name: Name
    value: str


@dataclass(frozen=True)
class StartsWith:
    """``name startswith 'text'`` (case-insensitive prefix; any element for lists)."""

    name: Name
    value: str


@dataclass(frozen=True)
class Between:
    """``name between low and high`` (both ends included)."""

    name: Name
    low: Value
    high: Value


@dataclass(frozen=True)
class IsNull:
    """``name is null`` (absent or empty); ``name is not null`` is ``Not(IsNull(name))``."""

    name: Name


@dataclass(frozen=True)
class And:
    """All of ``items``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    """Any of ``items``."""

    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    """The negation of ``item``."""

    item: Node


Node = Compare | InList | Contains | StartsWith | Between | IsNull | And | Or | Not
Leaf = Compare | InList | Contains | StartsWith | Between | IsNull


def iter_names(node: Node) -> list[Name]:
    """Every :class:`Name` in a tree, in order of appearance."""
    if isinstance(node, (And, Or)):
        return [name for item in node.items for name in iter_names(item)]
    if isinstance(node, Not):
        return iter_names(node.item)
    return [node.name]
