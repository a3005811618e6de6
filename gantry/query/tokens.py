"""A hand-written tokenizer for the query language. Every token keeps its 0-based position."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from gantry.query.errors import QueryError

RESERVED = {"and", "or", "not", "in", "contains", "startswith", "between", "is", "null"}

_TAG = re.compile(r"\(\s*[0-9A-Fa-f]{4}\s*,\s*[0-9A-Fa-f]{4}\s*\)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\w.])")
_NUMBER = re.compile(r"(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?(?![\w.])")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("==", "!=", "<=", ">=", "<", ">", "=")
_PUNCT = {"(": "LPAREN", ")": "RPAREN", "[": "LBRACKET", "]": "RBRACKET", ",": "COMMA"}


@dataclass(frozen=True)
class Token:
    """One token: ``kind`` (``IDENT``, ``KEYWORD``, ``TAG``, ``STRING``, ``NUMBER``, ``DATE``,
    ``OP``, ``MINUS``, punctuation, ``END``), its value and its position."""

    kind: str
    value: Any
    position: int


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens, ending with an ``END`` token; raise :class:`QueryError`."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "(":
            match = _TAG.match(text, i)
            if match:
                tokens.append(Token("TAG", match.group(0), i))
                i = match.end()
                continue
        if ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i))
            i += 1
            continue
        if ch in "'\"":
            value, end = _read_string(text, i)
            tokens.append(Token("STRING", value, i))
            i = end
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op:
            tokens.append(Token("OP", "==" if op == "=" else op, i))
            i += len(op)
            continue
        if ch == "-":
            tokens.append(Token("MINUS", "-", i))
            i += 1
            continue
        if ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
            match = _DATE.match(text, i)
            if match:
                tokens.append(Token("DATE", _parse_date(match.group(0), i, text), i))
                i = match.end()
                continue
            match = _NUMBER.match(text, i)
            if not match:
                raise QueryError(f"malformed number starting {text[i:i + 12]!r}",
                                 text=text, position=i)
            raw = match.group(0)
            value: int | float = float(raw) if any(c in raw for c in ".eE") else int(raw)
            tokens.append(Token("NUMBER", value, i))
            i = match.end()
            continue
        match = _IDENT.match(text, i)
        if match:
            word = match.group(0)
            if word.lower() in RESERVED:
                tokens.append(Token("KEYWORD", word.lower(), i))
            else:
                tokens.append(Token("IDENT", word, i))
            i = match.end()
            continue
        raise QueryError(f"unexpected character {ch!r}", text=text, position=i)
    tokens.append(Token("END", None, n))
    return tokens


def _read_string(text: str, start: int) -> tuple[str, int]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in (quote, "\\"):
            out.append(text[i + 1])
            i += 2
            continue
        if ch == quote:
            if i + 1 < len(text) and text[i + 1] == quote:  # doubled quote, as in SQL
                out.append(quote)
                i += 2
                continue
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QueryError("string not closed", text=text, position=start)


def _parse_date(raw: str, position: int, text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise QueryError(f"invalid date {raw!r}", text=text, position=position) from None
