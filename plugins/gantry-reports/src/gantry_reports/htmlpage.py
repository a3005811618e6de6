"""A tiny, dependency-free HTML page builder: every value is escaped, the CSS is inline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2330;
max-width:80rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:1px solid #d7dbe3;padding-bottom:.2rem}
.meta{color:#5a6272;font-size:.9rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.88rem}
th,td{border:1px solid #d7dbe3;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;gap:1rem;flex-wrap:wrap}.card{border:1px solid #d7dbe3;border-radius:6px;
padding:.6rem 1rem;min-width:8rem}.card b{display:block;font-size:1.4rem}
.pass{color:#146c2e;font-weight:600}.fail{color:#b3261e;font-weight:600}
.warn{color:#8a5a00;font-weight:600}code{font-size:.85rem}
img.thumb{image-rendering:auto;border:1px solid #d7dbe3;background:#000}
"""


def esc(value: Any) -> str:
    """Escaped text of any value (``None`` → empty)."""
    return "" if value is None else escape(str(value), quote=True)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]],
          numeric: Sequence[int] = (), raw: Sequence[int] = ()) -> str:
    """An HTML table; cells in ``raw`` columns are trusted HTML made by this package."""
    out = ["<table><thead><tr>", *(f"<th>{esc(h)}</th>" for h in headers), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for i, cell in enumerate(row):
            cls = ' class="num"' if i in numeric else ""
            out.append(f"<td{cls}>{cell if i in raw else esc(cell)}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def cards(items: Iterable[tuple[str, Any]]) -> str:
    """A row of big numbers with labels."""
    return '<div class="cards">' + "".join(
        f'<div class="card"><b>{esc(v)}</b>{esc(k)}</div>' for k, v in items) + "</div>"


def page(title: str, body: str, subtitle: str = "") -> str:
    """A whole HTML document."""
    sub = f'<p class="meta">{esc(subtitle)}</p>' if subtitle else ""
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
            f"<h1>{esc(title)}</h1>{sub}{body}</body></html>\n")
