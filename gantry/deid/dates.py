"""Shift DA and DT values by whole days (TM values are kept: a whole-day shift leaves them)."""

from __future__ import annotations

import datetime as dt


def shift_da(value: str, days: int) -> str:
    """Shift a DA value (``YYYYMMDD``, also old ``YYYY.MM.DD``, or a ``-`` range); ``""`` if
    unparseable."""
    text = value.strip()
    if "-" in text and len(text) > 10:
        low, _, high = text.partition("-")
        return "-".join(shift_da(p, days) if p else "" for p in (low, high))
    text = text.replace(".", "")
    if len(text) != 8 or not text.isdigit():
        return ""
    try:
        day = dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return (day + dt.timedelta(days=days)).strftime("%Y%m%d")
    except (ValueError, OverflowError):
        return ""


def shift_dt(value: str, days: int) -> str:
    """Shift a DT value's date part, keeping time, fraction and UTC offset; partial DTs
    (``YYYY``, ``YYYYMM``) shift from the middle of the year/month they name."""
    text = value.strip()
    if not text:
        return ""
    digits = 0
    while digits < len(text) and text[digits].isdigit():
        digits += 1
    if digits < 4:
        return ""
    date_part, rest = text[:8], text[8:]
    if len(date_part) == 8:
        shifted = shift_da(date_part, days)
        return shifted + rest if shifted else ""
    year = int(date_part[:4])
    month = int(date_part[4:6]) if len(date_part) >= 6 else 7
    try:
        anchor = dt.date(year, month, 15) + dt.timedelta(days=days)
    except (ValueError, OverflowError):
        return ""
    head = anchor.strftime("%Y%m")[: len(date_part)]
    return head + rest
