"""Decide whether OCR'd text identifies someone: it matches the instance's own identifiers, or
it looks like a name, a date or an ID.

Matching tolerates OCR errors: text is compared upper-cased with punctuation removed, and words
of five characters or more also match at one edit per five characters. The identifiers come
from ``context.identifiers`` (the engine's ``IdentifierSet``, read from the original header);
when a run has none, :func:`fallback_identifiers` reads them from the dataset and the patient.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry_ocr.engine import Word

_DATE = re.compile(
    r"""^(?:\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}      # 01/30/1986, 30.01.86
        |\d{4}[/.\-]\d{1,2}[/.\-]\d{1,2}            # 1986-01-30
        |\d{1,2}[\-\s]?[A-Za-z]{3}[\-\s]?\d{2,4}    # 30-Jan-1986
        |(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))$  # 19860130
    """, re.VERBOSE)
_TIME = re.compile(r"^\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?$")
#: A time of day as scanners stamp it: with seconds (01:07:45, 13:05:42.5) or with AM/PM.
_CLOCK = re.compile(r"^(?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?\s*(?:[AaPp][Mm])?"
                    r"|\s*[AaPp][Mm])$")
_MONTHS = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"}
_NON_NAME_WORDS = frozenset([
    "CM", "MM", "HZ", "DB", "MHZ", "KHZ", "FPS", "BPM", "HR", "MS", "SEC", "MIN", "CMS", "GAIN",
    "DEPTH", "FREQ", "FR", "MI", "TIS", "TIB", "TIC", "PWR", "DR", "AUTO", "MODE", "LEFT",
    "RIGHT", "AXIAL", "SAG", "COR", "TRANS", "LONG", "MID", "UPPER", "LOWER", "ANT", "POST",
    "SUP", "INF", "MED", "LAT", "PROX", "DIST", "AP", "PA", "ABD", "PELVIS", "CHEST", "HEAD",
    "NECK", "LIVER", "KIDNEY", "RT", "LT", "RUQ", "LUQ", "THE", "AND", "OF", "FOR", "WITH",
])


@dataclass
class Identifiers:
    """Normalised identifying strings of one instance, for matching OCR words and lines."""

    tokens: set[str] = field(default_factory=set)
    phrases: set[str] = field(default_factory=set)
    source: Any = None

    @property
    def empty(self) -> bool:
        """Whether nothing identifying is known."""
        return not self.tokens and not self.phrases


def normalise(text: str) -> str:
    """Upper case, letters and digits only."""
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def from_values(values: Iterable[str], source: Any = None) -> Identifiers:
    """Build :class:`Identifiers` from raw identifying strings (names, IDs, dates...)."""
    out = Identifiers(source=source)
    for value in values:
        text = str(value or "").strip()
        if not text:
            continue
        whole = normalise(text)
        if len(whole) >= 3:
            out.phrases.add(whole)
        for part in re.split(r"[\s\^,;/\\\-.]+", text):
            token = normalise(part)
            if len(token) >= 3 and not (token.isdigit() and len(token) < 4):
                out.tokens.add(token)
    return out


def from_context(identifiers: Any, ds: Dataset | None = None, patient: Any = None) -> Identifiers:
    """Identifiers from the engine's ``IdentifierSet`` (its ``values``) or, when absent, from
    the dataset and patient key (:func:`fallback_identifiers`)."""
    values: list[str] = []
    raw = getattr(identifiers, "values", None)
    if isinstance(raw, dict):
        values = [str(k) for k in raw]
    elif raw is not None and callable(raw):
        values = [str(v) for v in raw()]
    elif isinstance(identifiers, (set, list, tuple, frozenset)):
        values = [str(v) for v in identifiers]
    if values:
        return from_values(values, source=identifiers)
    return from_values(fallback_identifiers(ds, patient))


#: Header attributes read when no identifier set is available.
FALLBACK_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "PatientBirthDate", "AccessionNumber",
    "StudyID", "InstitutionName", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "PatientAddress", "PatientTelephoneNumbers", "StudyDate",
)


def fallback_identifiers(ds: Dataset | None, patient: Any = None) -> list[str]:
    """Identifying strings read directly from a dataset and a ``PatientKey``."""
    values: list[str] = []
    if patient is not None:
        for attr in ("patient_id", "patient_name", "birth_date"):
            values.append(str(getattr(patient, attr, "") or ""))
    if ds is not None:
        for keyword in FALLBACK_KEYWORDS:
            value = ds.get(keyword)
            if value is None:
                continue
            items = value if isinstance(value, (list, tuple)) or type(
                value).__name__ == "MultiValue" else [value]
            values += [str(v) for v in items]
    dates = [v for v in values if len(v) == 8 and v.isdigit()]
    for d in dates:
        y, m, day = d[:4], d[4:6], d[6:]
        values += [f"{m}/{day}/{y}", f"{day}/{m}/{y}", f"{day}.{m}.{y}", f"{y}-{m}-{day}"]
    return values


def _close(a: str, b: str) -> bool:
    if a == b:
        return True
    if min(len(a), len(b)) < 5 or abs(len(a) - len(b)) > max(1, len(b) // 5):
        return False
    from difflib import SequenceMatcher

    allowed = max(1, len(b) // 5)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    edits = max(len(a), len(b)) - sum(block.size for block in matcher.get_matching_blocks())
    return edits <= allowed


def matches_identifiers(text: str, ids: Identifiers) -> bool:
    """Whether a word or line matches one of the identifiers (tolerating OCR errors)."""
    norm = normalise(text)
    if len(norm) < 3:
        return False
    if norm in ids.tokens or norm in ids.phrases:
        return True
    for phrase in ids.phrases:
        if len(phrase) >= 5 and (phrase in norm or (len(norm) >= 5 and norm in phrase)):
            return True
    return any(_close(norm, token) for token in ids.tokens if len(token) >= 5)


def looks_like(text: str) -> str | None:
    """``date``, ``time`` (of day: the study's, as identifying as its date), ``id`` or
    ``name`` when a word or line has that shape, else ``None``. A duration such as ``00:12``
    is not a time of day."""
    stripped = text.strip().strip(",;:")
    if _DATE.match(stripped) and (
            any(m in stripped.upper() for m in _MONTHS) or any(ch.isdigit() for ch in stripped)):
        return "date"
    if _CLOCK.match(stripped):
        return "time"
    alnum = re.sub(r"[^0-9A-Za-z]", "", stripped)
    digits = sum(ch.isdigit() for ch in alnum)
    single = not any(ch.isspace() for ch in stripped) and not _TIME.match(stripped)
    number = re.fullmatch(r"\d+(?:[.,]\d+)?", stripped)
    if single and len(alnum) >= 5 and digits >= 4 and not number:
        return "id"
    if single and re.fullmatch(r"\d{6,}", stripped):
        return "id"
    if single and len(alnum) >= 6 and digits >= 2 and any(ch.isalpha() for ch in alnum):
        return "id"
    if re.fullmatch(r"[A-Za-z'\-]{2,}\s*[,^]\s*[A-Za-z'\-]{2,}(?:\s+[A-Za-z]\.?)?", stripped):
        words = re.split(r"[\s,^]+", stripped.upper())
        if not any(w in _NON_NAME_WORDS for w in words):
            return "name"
    return None


@dataclass(frozen=True)
class Verdict:
    """Why a word counts as identifying: ``identifier`` (matches the header) or a shape."""

    identifying: bool
    reason: str = ""


def classify_words(words: list[Word], ids: Identifiers) -> dict[int, Verdict]:
    """A verdict for every word (by index): its own text, its line and neighbour pairs count.

    A name written ``TEST, ADL`` is two words; the pair is checked as well as each word, and a
    line that matches an identifier marks all its words.
    """
    verdicts: dict[int, Verdict] = {}
    lines: dict[tuple[int, int, int, int], list[int]] = {}
    for i, word in enumerate(words):
        lines.setdefault((word.frame, *word.line), []).append(i)
        if not ids.empty and matches_identifiers(word.text, ids):
            verdicts[i] = Verdict(True, "identifier")
        elif (shape := looks_like(word.text)) is not None:
            verdicts[i] = Verdict(True, shape)
    for members in lines.values():
        members.sort(key=lambda i: words[i].x)
        for a, b in pairwise(members):
            pair = f"{words[a].text} {words[b].text}"
            reason = "identifier" if not ids.empty and matches_identifiers(pair, ids) else (
                looks_like(pair))
            if reason:
                for i in (a, b):
                    if not verdicts.get(i, Verdict(False)).identifying:
                        verdicts[i] = Verdict(True, reason)
    for i in range(len(words)):
        verdicts.setdefault(i, Verdict(False))
    return verdicts
