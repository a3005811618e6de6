"""The run-wide roster: identifying values of every patient the run (or its store) has seen,
matched by the export gate on every instance, so an instance carrying *another* patient's
name or ID (a mislabelled file, a comparison report) is refused like one carrying its own.

Per patient: the patient ID, the name as written (each ``=`` group), its components joined in
the usual orders (``given family``, ``family, given``...) and the family name and middle
components on their own (a lone given name — ``Mark``, ``Grace`` — is too common a word across
thousands of patients to mean one of them). Birth dates are left out (thousands of patients
share every date). Values are kept only where the gate would keep an instance's own
(``IdentifierSet.add``: three characters or more, not a generic word). Hits inside numeric
and date values (IS, DS, TM, DA...) are not counted: a short numeric ID meets a number there
by chance. The matcher is built once per roster and process: one Aho-Corasick automaton
(``pyahocorasick``), boundaries checked per hit.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any

from gantry.deid.identifiers import accepted_value, boundary_group, byte_forms, unspaced_script

#: VRs in which a roster value is not a leak (numbers, dates, times; UIDs are never in it).
ROSTER_EXEMPT_VRS = frozenset({"IS", "DS", "TM", "DA", "DT", "AS", "US", "UL", "SS", "SL",
                               "FL", "FD", "AT", "UI", "SV", "UV"})


def patient_values(patient_id: str, name: str) -> list[tuple[str, str]]:
    """The roster's ``(lower-cased value, kind)`` pairs of one patient."""
    pairs: list[tuple[str, str]] = []

    def add(value: str, kind: str) -> None:
        found = accepted_value(value, kind)
        if found is not None:
            pairs.append(found)

    add(patient_id, "PatientID")
    for group in str(name or "").split("="):
        parts = [p.strip() for p in group.split("^")]
        family, given = [*parts, "", ""][:2]
        if group.strip("^ "):
            add(group, "PatientName")
        add(family, "PatientName")
        for part in parts[2:3]:
            add(part, "PatientName")
        if family and given:
            for variant in (f"{given} {family}", f"{family} {given}", f"{family}, {given}",
                            f"{family},{given}", f"{given}^{family}"):
                add(variant, "PatientName")
            if unspaced_script(family + given):  # 王小東: written without a space
                add(family + given, "PatientName")
                add(given + family, "PatientName")
    return pairs


_ALNUM = frozenset("0123456789abcdefghijklmnopqrstuvwxyz")
_DIGITS = frozenset("0123456789")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")


class RosterSet:
    """The roster's values and one Aho-Corasick automaton over them (each value in UTF-8 and
    Latin-1, searched as Latin-1 text of lower-cased bytes), with the gate's boundary rules
    checked per hit (:func:`~gantry.deid.identifiers.boundary_group`): short values must
    stand alone, long numeric ones must not sit inside a longer number. No regular
    expression: compiling an alternation of 10,000 patients' values takes seconds."""

    def __init__(self, values: dict[str, str], exempt_vrs: frozenset[str] = frozenset()) -> None:
        import ahocorasick

        self.values = values
        self.exempt_vrs = exempt_vrs
        #: whether a value holds a non-ASCII character (the gate then also reads decoded text)
        self.non_ascii = not all(value.isascii() for value in values)
        self.automaton = ahocorasick.Automaton()
        for value in values:
            group = boundary_group(value)
            literals = {value}  # decoded text (the located slow path), and the encoded bytes
            literals.update(form.decode("latin-1") for form in byte_forms(value))
            for literal in literals:
                self.automaton.add_word(literal, (len(literal), group, value))
        if len(self.automaton):
            self.automaton.make_automaton()

    def __len__(self) -> int:
        return len(self.values)

    def kind_of(self, value: str) -> str:
        """The kind of a matched value."""
        return self.values.get(value.lower(), "identifier")

    def hits(self, text: str, start: int = 0, stop: int | None = None) -> list[tuple[int, str]]:
        """``(offset, value)`` of every roster value in lower-cased ``text`` (Latin-1 text of
        bytes, or a string) ending within ``[start, stop)``, boundaries checked."""
        if not len(self.automaton):
            return []
        out = []
        end = len(text) if stop is None else stop
        for last, (length, group, value) in self.automaton.iter(text, start, end):
            first = last - length + 1
            if first < start:
                continue
            if group != 2:
                stop_set = _ALNUM if group == 0 else _DIGITS if group == 1 else _LETTERS
                if first > 0 and text[first - 1] in stop_set:
                    continue
                if last + 1 < len(text) and text[last + 1] in stop_set:
                    continue
            out.append((first, value))
        return out

    def matches(self, text: str) -> list[str]:
        """Every roster value in ``text`` (any case), as :meth:`IdentifierSet.matches`."""
        return [value for _, value in self.hits(text.lower())] if text else []


def roster_leaks(data: bytes, relpath: str, roster: RosterSet) -> list[Any]:
    """The export gate's scan for roster values: ``data``'s header bytes (Pixel Data skipped
    and deflated data inflated, as for the instance's own values) and ``relpath``; hits are
    named by element (and CS vocabulary, numbers and dates exempted) as the gate does."""
    from gantry.deid.gate import (
        Leak,
        dataset_body,
        kept_uids_removed,
        locate_hits,
        non_ascii_text,
        pixel_segment_leaks,
        pixel_span,
    )

    leaks: list[Any] = []
    if relpath:
        if "UI" in roster.exempt_vrs:  # as in the bytes: the path's UID segments are UI values
            relpath = kept_uids_removed(relpath)
        for value in roster.matches(relpath.replace("_", " ")):
            leaks.append(Leak(kind=roster.kind_of(value), where="path"))
    if not data:
        return leaks
    body = dataset_body(data)
    span = pixel_span(body)
    regions = [(0, len(body))] if span is None else [(0, span[0]), (span[1], len(body))]
    found: list[tuple[int, str]] = []
    for start, end in regions:
        text = body[:end].lower().decode("latin-1") if start == 0 else \
            body[start - 1:end].lower().decode("latin-1")
        base = 0 if start == 0 else start - 1
        for offset, value in roster.hits(text, 0 if start == 0 else 1):
            found.append((offset + base, roster.kind_of(value)))
    if found or (roster.non_ascii and non_ascii_text(body, regions)):
        leaks.extend(locate_hits(data, found, roster))
    leaks.extend(pixel_segment_leaks(body, span, roster))
    return leaks


def build_roster(patients: Iterable[tuple[str, str]]) -> RosterSet:
    """A roster from ``(patient_id, patient_name)`` pairs."""
    values: dict[str, str] = {}
    for patient_id, name in patients:
        for value, kind in patient_values(patient_id, name):
            values.setdefault(value, kind)
    return RosterSet(values, ROSTER_EXEMPT_VRS)


def save_roster(path: str, patients: Iterable[tuple[str, str]]) -> int:
    """Write the patients' identities for workers (mode 0600: original identifiers);
    returns how many."""
    rows = [[str(p or ""), str(n or "")] for p, n in patients]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(rows, fh)
    return len(rows)


_LOADED: dict[str, RosterSet] = {}


def roster_at(path: str) -> RosterSet | None:
    """The roster saved at ``path`` (built once per process; ``None`` for no path)."""
    if not path:
        return None
    found = _LOADED.get(path)
    if found is None:
        with open(path, encoding="utf-8") as fh:
            found = build_roster((p, n) for p, n in json.load(fh))
        _LOADED.clear()  # one roster at a time: the newest snapshot
        _LOADED[path] = found
    return found
