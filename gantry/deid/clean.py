"""The C (clean) action on text: remove identifying values and identifier-shaped patterns.

Two strengths: :meth:`Cleaner.scrub` removes only the values known to identify this patient
(used on text the profile keeps, as defence in depth); :meth:`Cleaner.clean` also removes
anything *shaped* like a date, time stamp, phone number, e-mail address or ID token (used for the
C action, Clean Descriptors and Clean Structured Content).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gantry.deid.identifiers import IdentifierSet
    from gantry.profiles import CleanSettings

REPLACEMENT = "***"

_MONTHS = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
           r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
#: Built-in patterns: dates in common formats, phone numbers, e-mails, ID-like tokens.
PATTERNS: tuple[str, ...] = (
    r"\b\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}\b",                      # 03/14/2019, 2019-03-14
    r"\b(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d*\b",  # 20190314, DT
    rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS}\.?,?\s+\d{{2,4}}\b",   # 14 March 2019
    rf"\b{_MONTHS}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{2,4}}\b",   # March 14, 2019
    r"(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{2,4}\)[\s.\-]?)?\d{2,4}[\s.\-]\d{2,4}[\s.\-]\d{2,5}\b",
    r"\b[\w.+\-]+@[\w\-]+\.[\w.\-]+\b",                             # e-mail
    r"\b(?=[A-Za-z\-]*\d)(?=(?:[^\d\s]*\d){4})[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*\b",  # ID-like
)


class Cleaner:
    """Removes identifiers from text; built once per engine."""

    def __init__(self, settings: CleanSettings | None = None) -> None:
        extra = list(settings.patterns) if settings else []
        words = [rf"\b{re.escape(w)}\b" for w in (settings.words if settings else [])]
        self._patterns = re.compile("|".join((*PATTERNS, *extra, *words)), re.IGNORECASE)

    def scrub(self, text: str, identifiers: IdentifierSet | None, *, coded: bool = False,
              replacement: str = REPLACEMENT) -> str:
        """Remove known identifying values only (``coded``: only the strong kinds, for CS)."""
        if not text or identifiers is None:
            return text
        return identifiers.sub(text, replacement, coded=coded)

    def clean(self, text: str, identifiers: IdentifierSet | None) -> str:
        """Remove known identifying values, then identifier-shaped patterns."""
        if not text:
            return text
        text = self.scrub(text, identifiers)
        return self._patterns.sub(REPLACEMENT, text)
