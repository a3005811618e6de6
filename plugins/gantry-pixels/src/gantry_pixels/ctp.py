"""Convert RSNA CTP ``DicomPixelAnonymizer`` scripts into ``gantry-pixels`` zone rules.

A CTP script is free text holding *signatures*: a condition in braces followed by regions::

    Logiq US
      { Modality.equals("US") * [0008,1090].containsIgnoreCase("LOGIQ9") }
      (0,0,640,40)

Conditions combine predicates ``ELEMENT.method("value")`` with ``*`` (and), ``+`` (or), ``!``
(not) and parentheses; elements are keywords or ``[gggg,eeee]``. Each condition is rewritten
into disjunctive normal form: every conjunction becomes one zone rule (positive predicates
under ``match``, negated ones under ``exclude``). What cannot be expressed — numeric
comparisons, private or nested elements, unknown methods, malformed regions — is reported and
the signature skipped, never silently dropped.

CTP applies only the first matching signature; Gantry applies every matching rule, which can
only blank more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

_SIGNATURE = re.compile(r"\{([^}]*)\}")
_REGION = re.compile(r"\(([^)]*)\)")
_MAX_TERMS = 64

#: CTP method → how its string argument becomes one of our patterns.
_METHODS = {
    "equals": lambda v: _glob_escape(v),
    "equalsignorecase": lambda v: _glob_escape(v),
    "contains": lambda v: f"*{_glob_escape(v)}*",
    "containsignorecase": lambda v: f"*{_glob_escape(v)}*",
    "startswith": lambda v: f"{_glob_escape(v)}*",
    "startswithignorecase": lambda v: f"{_glob_escape(v)}*",
    "endswith": lambda v: f"*{_glob_escape(v)}",
    "endswithignorecase": lambda v: f"*{_glob_escape(v)}",
    "matches": lambda v: f"re:{v}",
}


class CtpSyntaxError(ValueError):
    """A condition cannot be parsed; the message names the line."""


@dataclass
class Literal:
    """One predicate, possibly negated: ``key`` matches ``pattern``."""

    key: str
    pattern: str
    negated: bool = False


@dataclass
class Untranslated:
    """A signature (or part) that could not be converted, with the reason and script line."""

    line: int
    reason: str
    text: str = ""


@dataclass
class CtpImport:
    """The result of :func:`convert`: zone rules (plain dicts) and what was left out."""

    rules: list[dict[str, Any]] = field(default_factory=list)
    untranslated: list[Untranslated] = field(default_factory=list)
    signatures: int = 0

    def to_yaml(self, source: str = "") -> str:
        """The rules as a ``plugins: {gantry-pixels: {zones: ...}}`` YAML fragment with a header
        comment listing what was not translated."""
        import yaml

        head = [f"# Zone rules converted from CTP DicomPixelAnonymizer script {source}".rstrip(),
                f"# {self.signatures} signature(s) read, {len(self.rules)} rule(s) written, "
                f"{len(self.untranslated)} item(s) not translated.",
                "# Review every rule against sample images before use."]
        for item in self.untranslated:
            head.append(f"# NOT TRANSLATED (line {item.line}): {item.reason}")
        body = yaml.safe_dump({"plugins": {"gantry-pixels": {"zones": self.rules}}},
                              sort_keys=False, width=100, default_flow_style=None)
        return "\n".join(head) + "\n" + body


# --------------------------------------------------------------------------- tokenizer / parser
_TOKEN = re.compile(r"""
    \s*(?:
      (?P<lp>\() | (?P<rp>\)) | (?P<and>\*) | (?P<or>\+) | (?P<not>!)
    | (?P<bool>true\.|false\.)
    | (?P<pred>(?P<elem>\[[^\]]*\](?:::\[[^\]]*\])*|[A-Za-z][A-Za-z0-9]*)
        \s*\.\s*(?P<method>[A-Za-z]+)\s*\(\s*(?P<arg>"(?:[^"\\]|\\.)*")?\s*\))
    )""", re.VERBOSE)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[tuple[str, re.Match[str]]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise CtpSyntaxError(f"cannot read condition near {text[pos:pos + 30]!r}")
            kind = next(k for k in ("lp", "rp", "and", "or", "not", "bool", "pred") if m.group(k))
            self.tokens.append((kind, m))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self) -> str | None:
        return self.tokens[self.i][0] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, re.Match[str]]:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Any:
        if not self.tokens:
            raise CtpSyntaxError("empty condition")
        node = self.expr()
        if self.peek() is not None:
            raise CtpSyntaxError(f"unexpected {self.tokens[self.i][1].group(0).strip()!r}")
        return node

    def expr(self) -> Any:
        nodes = [self.term()]
        while self.peek() == "or":
            self.take()
            nodes.append(self.term())
        return ("or", nodes) if len(nodes) > 1 else nodes[0]

    def term(self) -> Any:
        nodes = [self.factor()]
        while self.peek() == "and":
            self.take()
            nodes.append(self.factor())
        return ("and", nodes) if len(nodes) > 1 else nodes[0]

    def factor(self) -> Any:
        kind = self.peek()
        if kind is None:
            raise CtpSyntaxError("condition ends too early")
        if kind == "not":
            self.take()
            return ("not", self.factor())
        if kind == "lp":
            self.take()
            node = self.expr()
            if self.peek() != "rp":
                raise CtpSyntaxError("missing ')'")
            self.take()
            return node
        if kind == "bool":
            return ("const", self.take()[1].group("bool") == "true.")
        if kind == "pred":
            m = self.take()[1]
            arg = m.group("arg")
            value = bytes(arg[1:-1], "utf-8").decode("unicode_escape") if arg else ""
            return ("pred", m.group("elem"), m.group("method"), value)
        raise CtpSyntaxError(f"unexpected {self.take()[1].group(0).strip()!r}")


# --------------------------------------------------------------------------- translation
class _Unsupported(Exception):
    pass


def _glob_escape(value: str) -> str:
    return re.sub(r"([\[\]*?])", lambda m: "[]]" if m.group(1) == "]" else f"[{m.group(1)}]",
                  value)


def element_key(elem: str) -> str:
    """A CTP element name (``[0028,0010]`` or ``Rows``) as our match key (a keyword if known)."""
    from pydicom.datadict import keyword_for_tag, tag_for_keyword

    if elem.startswith("["):
        if "::" in elem:
            raise _Unsupported(f"element {elem} is inside a sequence")
        m = re.fullmatch(r"\[\s*([0-9a-fA-F]{4})\s*,\s*([0-9a-fA-F]{4})\s*\]", elem)
        if not m:
            group_text = re.match(r"\[\s*([0-9a-fA-F]{4})", elem)
            if group_text and int(group_text.group(1), 16) % 2:
                raise _Unsupported(f"private element {elem}")
            raise _Unsupported(f"element {elem} is not a (group,element) reference")
        group, element = int(m.group(1), 16), int(m.group(2), 16)
        if group % 2:
            raise _Unsupported(f"private element {elem}")
        keyword = keyword_for_tag((group << 16) | element)
        return keyword or f"({m.group(1).upper()},{m.group(2).upper()})"
    if tag_for_keyword(elem) is None:
        raise _Unsupported(f"unknown element name {elem!r}")
    return elem


def _literal(node: Any, negated: bool) -> Literal:
    _, elem, method, value = node
    key = element_key(elem)
    make = _METHODS.get(method.lower())
    if make is None:
        raise _Unsupported(f"method {method}() has no equivalent")
    if method.lower() == "matches":
        try:
            re.compile(value)
        except re.error as exc:
            raise _Unsupported(f"regular expression {value!r}: {exc}") from None
    return Literal(key=key, pattern=make(value), negated=negated)


def to_dnf(node: Any, negated: bool = False) -> list[list[Literal]] | bool:
    """Disjunctive normal form of a parsed condition: a list of conjunctions of literals.

    ``True``/``False`` stand for constant conditions.
    """
    kind = node[0]
    if kind == "const":
        return node[1] != negated
    if kind == "pred":
        return [[_literal(node, negated)]]
    if kind == "not":
        return to_dnf(node[1], not negated)
    is_or = (kind == "or") != negated
    parts = [to_dnf(child, negated) for child in node[1]]
    if is_or:
        out: list[list[Literal]] = []
        for part in parts:
            if part is True:
                return True
            if part is False:
                continue
            out.extend(part)
        return out or False
    terms: list[list[Literal]] = [[]]
    for part in parts:
        if part is False:
            return False
        if part is True:
            continue
        terms = [a + b for a in terms for b in part]
        if len(terms) > _MAX_TERMS:
            raise _Unsupported(f"condition expands to more than {_MAX_TERMS} alternatives")
    return terms


def _rule(name: str, conjunction: list[Literal], boxes: list[list[int]]) -> dict[str, Any]:
    match: dict[str, Any] = {}
    exclude: dict[str, Any] = {}
    for lit in conjunction:
        target = exclude if lit.negated else match
        if lit.key in target:
            previous = target[lit.key]
            if lit.negated:  # not a and not b: skip when any matches
                target[lit.key] = [*(previous if isinstance(previous, list) else [previous]),
                                   lit.pattern]
            else:  # a and b on one attribute: both must match
                target[lit.key] = _both(previous, lit.pattern)
        else:
            target[lit.key] = lit.pattern
    rows, cols = match.get("Rows"), match.get("Columns")
    if _is_number(rows) and _is_number(cols):
        match["size"] = f"{int(rows)}x{int(cols)}"
        del match["Rows"], match["Columns"]
    rule: dict[str, Any] = {"name": name, "match": match}
    if exclude:
        rule["exclude"] = exclude
    rule["boxes"] = [list(b) for b in boxes]
    return rule


def _is_number(pattern: Any) -> bool:
    return isinstance(pattern, str) and pattern.isdigit()


def _both(a: str, b: str) -> str:
    def as_regex(p: str) -> str:
        if p.startswith("re:"):
            return p[3:]
        import fnmatch

        return fnmatch.translate(p).removesuffix(r"\Z").removeprefix("(?s:").removesuffix(")")
    return f"re:(?=(?:{as_regex(a)})$){as_regex(b)}"


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40].strip("-")


def _label_before(text: str, start: int) -> str:
    lines = [ln.strip() for ln in text[:start].splitlines()]
    for line in reversed(lines):
        if line and not line.startswith("*") and not re.fullmatch(r"[\s()0-9,]*", line):
            return line
    return ""


def convert(text: str) -> CtpImport:
    """Convert the text of a CTP DicomPixelAnonymizer script into zone rules."""
    result = CtpImport()
    matches = list(_SIGNATURE.finditer(text))
    for n, m in enumerate(matches):
        result.signatures += 1
        line = text.count("\n", 0, m.start()) + 1
        end = matches[n + 1].start() if n + 1 < len(matches) else len(text)
        label = _label_before(text, m.start()) if n == 0 else _label_before(
            text[matches[n - 1].end():m.start()], m.start() - matches[n - 1].end())
        name = f"ctp-{line}" + (f"-{_slug(label)}" if _slug(label) else "")
        boxes: list[list[int]] = []
        region_text = text[m.end():end]
        for r in _REGION.finditer(region_text):
            parts = [p.strip() for p in r.group(1).split(",")]
            r_line = line + text.count("\n", m.start(), m.end() + r.start())
            if len(parts) != 4:
                if any(ch.isdigit() for ch in r.group(1)) and "," in r.group(1):
                    result.untranslated.append(Untranslated(
                        r_line, f"region ({r.group(1).strip()}) needs 4 numbers", r.group(0)))
                continue
            try:
                x, y, w, h = (int(p) for p in parts)
            except ValueError:
                result.untranslated.append(Untranslated(
                    r_line, f"region ({r.group(1).strip()}) is not four integers", r.group(0)))
                continue
            if w <= 0 or h <= 0 or x < 0 or y < 0:
                result.untranslated.append(Untranslated(
                    r_line, f"region ({r.group(1).strip()}) is empty or negative", r.group(0)))
                continue
            boxes.append([x, y, w, h])
        condition = " ".join(m.group(1).split())
        if not boxes:
            result.untranslated.append(Untranslated(line, "signature has no usable region",
                                                    condition))
            continue
        try:
            dnf = to_dnf(_Parser(m.group(1)).parse())
        except CtpSyntaxError as exc:
            result.untranslated.append(Untranslated(line, f"syntax: {exc}", condition))
            continue
        except _Unsupported as exc:
            result.untranslated.append(Untranslated(line, str(exc), condition))
            continue
        if dnf is False:
            result.untranslated.append(Untranslated(line, "condition can never match", condition))
            continue
        conjunctions = [[]] if dnf is True else dnf
        for k, conjunction in enumerate(conjunctions):
            suffix = f"-{k + 1}" if len(conjunctions) > 1 else ""
            result.rules.append(_rule(name + suffix, conjunction, boxes))
    return result


def convert_file(path: str) -> CtpImport:
    """Read and convert a script file (UTF-8, as CTP reads it)."""
    from pathlib import Path

    return convert(Path(path).read_text(encoding="utf-8", errors="replace"))
