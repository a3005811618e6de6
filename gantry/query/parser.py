"""A recursive-descent parser from query text to a typed syntax tree.

Grammar (keywords are case-insensitive)::

    query      := or_expr END
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | predicate
    predicate  := name cmp literal
                | name ["not"] "in" "[" literal ("," literal)* "]"
                | name ["not"] "contains" string
                | name ["not"] "startswith" string
                | name ["not"] "between" literal "and" literal
                | name "is" ["not"] "null"
    name       := KEYWORD_NAME | "(" gggg "," eeee ")"
    literal    := string | ["-"] number | date (YYYY-MM-DD)

Names are checked against the DICOM data dictionary and literals against the attribute's type,
so a compiled query never meets a type it does not expect.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from gantry.query import names
from gantry.query.errors import QueryError
from gantry.query.syntax import (
    And,
    Between,
    Compare,
    Contains,
    InList,
    IsNull,
    Kind,
    Name,
    Node,
    Not,
    Or,
    StartsWith,
    Value,
)
from gantry.query.tokens import Token, tokenize

_KIND_WORDS = {"int": "numbers", "float": "numbers", "string": "text", "date": "dates",
               "sequence": "a sequence (JSON text)", "binary": "binary data"}


def parse_query(text: str, *, extra_names: dict[str, Kind] | None = None) -> Node:
    """Parse a query into a syntax tree; raise :class:`QueryError` naming the column.

    ``extra_names`` maps additional, non-DICOM column names to their kind (e.g.
    ``{"status": "string"}``) for callers whose tables carry such columns.
    """
    if not isinstance(text, str):
        raise QueryError(f"a query must be text, not {type(text).__name__}")
    if not text.strip():
        raise QueryError("empty query", text=text, position=0)
    return _Parser(text, extra_names or {}).parse()


class _Parser:
    def __init__(self, text: str, extra: dict[str, Kind]) -> None:
        self.text = text
        self.extra = extra
        self.tokens = tokenize(text)
        self.index = 0

    # -- token helpers ----------------------------------------------------------------------
    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "END":
            self.index += 1
        return token

    def at_keyword(self, *words: str) -> bool:
        return self.current.kind == "KEYWORD" and self.current.value in words

    def expect_keyword(self, word: str) -> Token:
        if not self.at_keyword(word):
            self.fail(f"expected '{word}', found {self.describe(self.current)}")
        return self.advance()

    def expect(self, kind: str, what: str) -> Token:
        if self.current.kind != kind:
            self.fail(f"expected {what}, found {self.describe(self.current)}")
        return self.advance()

    def fail(self, message: str, position: int | None = None) -> None:
        raise QueryError(message, text=self.text,
                         position=self.current.position if position is None else position)

    @staticmethod
    def describe(token: Token) -> str:
        if token.kind == "END":
            return "end of query"
        if token.kind == "STRING":
            return f"string {token.value!r}"
        return repr(str(token.value))

    # -- grammar ------------------------------------------------------------------------------
    def parse(self) -> Node:
        node = self.or_expr()
        if self.current.kind != "END":
            self.fail(f"unexpected {self.describe(self.current)}; expected 'and', 'or' or the "
                      "end of the query")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.at_keyword("not"):
            self.advance()
            return Not(self.not_expr())
        if self.current.kind == "LPAREN":
            self.advance()
            node = self.or_expr()
            self.expect("RPAREN", "')'")
            return node
        return self.predicate()

    def name(self) -> Name:
        token = self.current
        if token.kind == "TAG":
            self.advance()
            return names.resolve_tag(token.value, token.position)
        if token.kind == "IDENT":
            self.advance()
            found = names.resolve_keyword(token.value, token.position, self.extra)
            if found is None:
                hint = names.suggest(token.value)
                extra = f"; did you mean '{hint}'?" if hint else ""
                self.fail(f"unknown keyword '{token.value}'{extra}", token.position)
            assert found is not None
            return found
        if token.kind == "KEYWORD":
            self.fail(f"expected an attribute name, found the word '{token.value}'")
        self.fail(f"expected an attribute name (a DICOM keyword or a tag like (0018,0050)), "
                  f"found {self.describe(token)}")
        raise AssertionError  # unreachable

    def predicate(self) -> Node:
        name = self.name()
        token = self.current
        if token.kind == "OP":
            self.advance()
            self.check_comparable(name, token)
            return Compare(name, token.value, self.literal(name))
        if self.at_keyword("is"):
            self.advance()
            negated = self.at_keyword("not")
            if negated:
                self.advance()
            self.expect_keyword("null")
            node: Node = IsNull(name)
            return Not(node) if negated else node
        negated = False
        if self.at_keyword("not"):
            self.advance()
            negated = True
            if not self.at_keyword("in", "contains", "startswith", "between"):
                self.fail(f"expected 'in', 'contains', 'startswith' or 'between' after 'not', "
                          f"found {self.describe(self.current)}")
        token = self.current
        if self.at_keyword("in"):
            self.advance()
            self.check_comparable(name, token)
            node = InList(name, self.literal_list(name))
        elif self.at_keyword("contains", "startswith"):
            self.advance()
            if name.kind not in ("string", "sequence") or (
                    token.value == "startswith" and name.kind == "sequence"):
                self.fail(f"'{token.value}' needs text, but {name.column} holds "
                          f"{_KIND_WORDS[name.kind]}", token.position)
            literal = self.current
            if literal.kind != "STRING":
                self.fail(f"'{token.value}' needs a quoted string, found "
                          f"{self.describe(literal)}")
            self.advance()
            node = (Contains if token.value == "contains" else StartsWith)(name, literal.value)
        elif self.at_keyword("between"):
            self.advance()
            self.check_comparable(name, token)
            low = self.literal(name)
            self.expect_keyword("and")
            high = self.literal(name)
            node = Between(name, low, high)
        else:
            self.fail(f"expected a comparison (==, !=, <, <=, >, >=), 'in', 'contains', "
                      f"'startswith', 'between' or 'is' after {name.column}, found "
                      f"{self.describe(token)}")
            raise AssertionError  # unreachable
        return Not(node) if negated else node

    def check_comparable(self, name: Name, token: Token) -> None:
        if name.kind in ("sequence", "binary"):
            self.fail(f"{name.column} holds {_KIND_WORDS[name.kind]}: it can only be tested with "
                      f"'is null'{' or contains' if name.kind == 'sequence' else ''}",
                      token.position)

    def literal_list(self, name: Name) -> tuple[Value, ...]:
        self.expect("LBRACKET", "'[' to start a list")
        values = [self.literal(name)]
        while self.current.kind == "COMMA":
            self.advance()
            values.append(self.literal(name))
        self.expect("RBRACKET", "',' or ']'")
        return tuple(values)

    def literal(self, name: Name) -> Value:
        token = self.advance()
        sign = 1
        if token.kind == "MINUS":
            sign = -1
            token = self.advance()
            if token.kind != "NUMBER":
                self.fail("'-' must be followed by a number", token.position)
        if token.kind == "IDENT":
            self.fail(f"expected a value, found the name {token.value}; quote text values: "
                      f"'{token.value}'", token.position)
        if token.kind not in ("STRING", "NUMBER", "DATE"):
            self.fail(f"expected a value (a quoted string, a number or a date YYYY-MM-DD), "
                      f"found {self.describe(token)}", token.position)
        value: Any = token.value * sign if token.kind == "NUMBER" else token.value
        return self.typed(name, token, value)

    def typed(self, name: Name, token: Token, value: Any) -> Value:
        kind = name.kind
        what = _KIND_WORDS[kind]
        if kind in ("int", "float"):
            if token.kind == "NUMBER":
                return value
            hint = f"; write {token.value} without quotes" if _is_number(token.value) else ""
            self.fail(f"type mismatch: {name.column} holds numbers, not "
                      f"{'a date' if token.kind == 'DATE' else 'text'}{hint}", token.position)
        if kind == "date":
            if token.kind == "DATE":
                return value
            if token.kind == "STRING":
                parsed = _parse_dicom_date(value)
                if parsed is not None:
                    return parsed
            self.fail(f"type mismatch: {name.column} holds dates; write them as YYYY-MM-DD "
                      f"(e.g. 2020-01-31) or 'YYYYMMDD'", token.position)
        if kind in ("string", "sequence"):
            if token.kind == "STRING":
                return value
            self.fail(f"type mismatch: {name.column} holds {what}; quote the value: "
                      f"'{token.value}'", token.position)
        self.fail(f"{name.column} holds {what} and cannot be compared with a value",
                  token.position)
        raise AssertionError  # unreachable


def _is_number(text: str) -> bool:
    try:
        float(text)
    except (TypeError, ValueError):
        return False
    return True


def _parse_dicom_date(text: str) -> dt.date | None:
    text = text.strip()
    for fmt in ("%Y%m%d", "%Y-%m-%d", "%Y.%m.%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None
