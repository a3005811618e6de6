"""Every identifying value of an original header, with the variants it may reappear as.

:func:`collect_identifiers` reads the *original* dataset (and its patient) before any redactor
runs. The resulting :class:`IdentifierSet` feeds the cleaner, the auditor and the export gate.
It is picklable (compiled patterns are rebuilt lazily) and never written anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gantry.deid.vr import TEXT_VRS

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.profiles import Profile
    from gantry.records import PatientKey

#: Shortest token kept: shorter values (sex ``M``, ``JO``) match by chance everywhere.
MIN_TOKEN = 3
#: Shortest token kept in scripts written without spaces (Han, kana, Hangul): two characters
#: are a whole name there (李娜), and a name is matched without word boundaries.
MIN_TOKEN_CJK = 2


def unspaced_script(text: str) -> bool:
    """Whether ``text`` is written in a script without spaces between words (every
    character Han, Hiragana, Katakana or Hangul)."""
    return bool(text) and all(
        "\u3040" <= c <= "\u30ff" or "\u3400" <= c <= "\u4dbf" or "\u4e00" <= c <= "\u9fff"
        or "\uac00" <= c <= "\ud7af" or "\u1100" <= c <= "\u11ff" or "\uf900" <= c <= "\ufaff"
        or "\u3130" <= c <= "\u318f" or "\uff66" <= c <= "\uff9f" for c in text)


def _too_short(text: str) -> bool:
    return len(text) < (MIN_TOKEN_CJK if unspaced_script(text) else MIN_TOKEN)
#: Tokens shorter than this must stand alone (not inside a longer alphanumeric run) to match.
BOUNDED_BELOW = 8


#: Words of letters this long or longer (and shorter than :data:`BOUNDED_BELOW`) may touch digits.
WORD_TOUCHES_DIGITS = 4


def boundary_group(value: str) -> int:
    """How a value must be bounded to match: ``0`` standing alone (shorter than
    :data:`BOUNDED_BELOW`), ``1`` not inside a longer number (a long numeric value), ``2``
    anywhere (a long value, or a name in a script written without spaces: 王小東 is matched
    inside 所見王小東様, and after the designation an ISO 2022 decoder may leave), ``3`` not
    inside a longer word, digits may touch it (a word of :data:`WORD_TOUCHES_DIGITS` letters
    or more: a name glued to a number, ``Winawer01``, is still that name)."""
    if unspaced_script(value):
        return 2
    if len(value) < BOUNDED_BELOW:
        if len(value) >= WORD_TOUCHES_DIGITS and value.isascii() and value.isalpha():
            return 3
        return 0
    return 1 if value[:1].isdigit() and value[-1:].isdigit() else 2

# keyword → kind; kinds retained by a profile option are skipped (see _RETAINED_KINDS).
KINDS: dict[str, str] = {}
for _kind, _keywords in {
    "PatientID": ("PatientID", "OtherPatientIDs", "MedicalRecordLocator", "PatientBirthName",
                  "PatientMotherBirthName", "MilitaryRank", "BranchOfService",
                  "PatientInsurancePlanCodeSequence", "IssuerOfPatientID",
                  "ClinicalTrialSubjectID", "ClinicalTrialSubjectReadingID", "PatientAlias"),
    "AccessionNumber": ("AccessionNumber", "StudyID", "RequestedProcedureID",
                        "ScheduledProcedureStepID", "PerformedProcedureStepID", "AdmissionID",
                        "ServiceEpisodeID", "PlacerOrderNumberImagingServiceRequest",
                        "FillerOrderNumberImagingServiceRequest", "VisitComments",
                        "PlacerOrderNumberProcedure", "FillerOrderNumberProcedure",
                        "StudyIDIssuer", "IssuerOfAdmissionID", "ContainerIdentifier",
                        "SpecimenIdentifier", "BarcodeValue", "ReasonForStudy"),
    "Address": ("PatientAddress", "ReferringPhysicianAddress", "PersonAddress",
                "RegionOfResidence", "CountryOfResidence"),
    "Phone": ("PatientTelephoneNumbers", "ReferringPhysicianTelephoneNumbers",
              "PersonTelephoneNumbers", "PersonTelecomInformation",
              "PatientTelecomInformation"),
    "Institution": ("InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName",
                    "InstitutionCodeSequence"),
    "Device": ("StationName", "DeviceSerialNumber", "DetectorID", "DeviceUID",
               "GantryID", "PlateID", "CassetteID", "GeneratorID", "SourceSerialNumber",
               "TreatmentMachineName", "DeviceLabel"),
}.items():
    for _kw in _keywords:
        KINDS[_kw] = _kind

_RETAINED_KINDS = {
    "retain-institution-identity": {"Institution"},
    "retain-device-identity": {"Device"},
    "retain-longitudinal-full-dates": {"Date"},
    "retain-uids": {"UID"},
}
_PATIENT_NAME_KEYWORDS = frozenset({"PatientName", "OtherPatientNames", "PatientBirthName",
                                    "PatientMotherBirthName"})
#: Sequences whose CodeValue/CodeMeaning identify a person or place.
_IDENTIFYING_CODE_SEQUENCES = frozenset({"PersonIdentificationCodeSequence",
                                         "InstitutionCodeSequence",
                                         "PatientInsurancePlanCodeSequence"})
_GENERIC_WORDS = frozenset([
    "anon", "name", "first", "last", "middle", "text", "enter", "other", "given", "family",
    "prefix", "suffix", "test", "value", "empty", "null", "yes", "no",
    "hospital", "hospitals", "medical", "center", "centre", "clinic", "clinics", "university",
    "institute", "memorial", "saint", "general", "regional", "county", "city", "state",
    "national", "street", "road", "lane", "avenue", "drive", "suite", "floor", "building",
    "department", "radiology", "imaging", "health", "healthcare", "care", "services", "group",
    "north", "south", "east", "west", "the", "and", "for", "of", "dr", "mr", "mrs", "ms",
    "doctor", "unknown", "anonymous", "anonymized", "none", "patient", "physician",
])
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*", re.UNICODE)


#: Kinds matched everywhere, coded strings (CS) included. Names, institutions, addresses and
#: devices are also common words ("PERFUSION", "BRAIN"), so they are not matched inside CS
#: values (ImageType, BodyPartExamined...), where they are vocabulary, not identity.
STRONG_KINDS = frozenset({"PatientID", "AccessionNumber", "PersonID", "Phone", "Date", "UID",
                          "PrivateText", "extra"})
def code_vocabulary(found: Iterable[str], kind_of: Callable[[str], str]) -> frozenset[str]:
    """Of the values ``found`` in a standard code's value or meaning, those that may be the
    code's own vocabulary: one word of a name, institution, address or device ("Long" of
    the SR concept "Long Axis"), when it is the only one found there. A whole name — two
    words or more, two words of one person ("Long^Wei"), a name in a script written without
    spaces — in a code is a person's, not the standard's; IDs and dates never are
    vocabulary."""
    words = {value for value in found if kind_of(value) not in STRONG_KINDS}
    if len(words) != 1:
        return frozenset()
    word = next(iter(words))
    if " " in word.strip() or unspaced_script(word):
        return frozenset()
    return frozenset(words)


#: Values that are Gantry's own dummies: never identifying, even when an original held them.
_DUMMIES = frozenset({"19000101", "19000101000000", "000000", "anonymized", "anonymous"})


@dataclass
class IdentifierSet:
    """Identifying values (lower-cased) and their kinds (``PatientName``, ``PatientID``...)."""

    values: dict[str, str] = field(default_factory=dict)
    #: VRs whose values the profile keeps verbatim on purpose (``UI`` under Retain UIDs: a
    #: retained UID may embed a date or serial number); the gate does not flag hits there.
    exempt_vrs: frozenset[str] = frozenset()
    #: Name of the profile whose retained kinds were left out ("" when collected without one).
    profile: str = ""
    _text_re: Any = field(default=None, repr=False, compare=False)
    _bytes_re: Any = field(default=None, repr=False, compare=False)
    _strong_re: Any = field(default=None, repr=False, compare=False)
    _uids: Any = field(default=None, repr=False, compare=False)
    _keys: Any = field(default=None, repr=False, compare=False)
    #: ``(the uids() list it was built for, finder)``: see :meth:`uid_hits`
    _uid_scan: Any = field(default=None, repr=False, compare=False)

    def add(self, value: Any, kind: str) -> None:
        """Add one value (ignored when shorter than :data:`MIN_TOKEN` or purely generic)."""
        text = str(value).strip().strip("\x00").strip()
        if _too_short(text) or text.lower() in _GENERIC_WORDS or text.lower() in _DUMMIES:
            return
        if text.replace(".", "").replace("-", "").isdigit() and len(text) < 4:
            return
        self.values.setdefault(text.lower(), kind)
        self._text_re = self._bytes_re = self._strong_re = self._uids = self._keys = None

    def update(self, other: IdentifierSet) -> None:
        """Merge another set into this one."""
        for value, kind in other.values.items():
            self.values.setdefault(value, kind)
        self._text_re = self._bytes_re = self._strong_re = self._uids = self._keys = None

    def share_matchers(self, other: IdentifierSet) -> None:
        """Use ``other``'s match keys and compiled patterns (built when first needed): the
        caller knows both sets hold the same non-UID values with the same kinds, all these
        depend on (UIDs are matched by substring search)."""
        self._keys, self._text_re, self._bytes_re, self._strong_re = \
            other._keys, other._text_re, other._bytes_re, other._strong_re

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, value: object) -> bool:
        return str(value).strip().lower() in self.values

    def kind_of(self, value: str) -> str:
        """The kind of a matched value (any case)."""
        return self.values.get(value.lower(), "identifier")

    def _key(self, kinds: frozenset[str] | None) -> tuple[tuple[str, ...], ...]:
        """The values to match, by boundary group, longest first (all kinds but UIDs, or
        :data:`STRONG_KINDS` only when ``kinds`` is given). Both are built in one pass."""
        if self._keys is None:
            every: tuple[list[str], ...] = ([], [], [], [])
            strong: tuple[list[str], ...] = ([], [], [], [])
            for value, kind in self.values.items():
                if kind == "UID":
                    continue
                group = boundary_group(value)
                every[group].append(value)
                if kind in STRONG_KINDS:
                    strong[group].append(value)
            self._keys = (_ordered(every), _ordered(strong))
        if kinds is None:
            return self._keys[0]
        if kinds is STRONG_KINDS:
            return self._keys[1]
        groups: dict[int, list[str]] = {0: [], 1: [], 2: [], 3: []}
        for value, kind in self.values.items():
            if kind == "UID" or kind not in kinds:
                continue
            groups[boundary_group(value)].append(value)
        return tuple(tuple(sorted(g, key=lambda v: (-len(v), v))) for g in groups.values())

    def text_pattern(self) -> re.Pattern[str] | None:
        """A case-insensitive regex matching any non-UID value in text (``None`` when empty).

        UIDs are matched by :meth:`matches`/:meth:`sub` with plain substring search: they
        differ per instance, and compiling them would dominate the cost.
        """
        if self._text_re is None:
            self._text_re = _compile_text(self._key(None)) or False
        return self._text_re or None

    def strong_pattern(self) -> re.Pattern[str] | None:
        """Like :meth:`text_pattern`, for :data:`STRONG_KINDS` only (used on CS values)."""
        if self._strong_re is None:
            self._strong_re = _compile_text(self._key(STRONG_KINDS)) or False
        return self._strong_re or None

    def bytes_pattern(self) -> re.Pattern[bytes] | None:
        """:meth:`text_pattern` over bytes (UTF-8 and Latin-1 encodings)."""
        if self._bytes_re is None:
            self._bytes_re = _compile_bytes(self._key(None)) or False
        return self._bytes_re or None

    def lower_bytes_scanner(self) -> Callable[[bytes], bool] | None:
        """``occurs(data)``: whether any literal of :meth:`lower_bytes_pattern` (each non-UID
        value in UTF-8 and Latin-1) occurs anywhere in ``data`` (lower-cased bytes), boundaries
        aside: one Aho-Corasick pass, where the pattern tries its alternation at every byte.
        Wherever the pattern matches, one of those literals occurs, so ``False`` means the
        pattern has nothing to find. ``None`` without values, or without ``pyahocorasick``."""
        key = self._key(None)
        return _scanner(key) if any(key) else None

    def has_non_ascii(self) -> bool:
        """Whether any value (UIDs aside) holds a non-ASCII character: such a value may be
        written in a form the byte literals do not cover (another case of a non-ASCII letter,
        a multi-byte or escape-sequence character set), so the gate also reads the decoded
        text (:func:`gantry.deid.gate.find_leaks`)."""
        return not _all_ascii(self._key(None))

    def has_text_values(self) -> bool:
        """Whether the set holds any value besides UIDs (what the patterns match)."""
        return any(self._key(None))

    def lower_bytes_pattern(self) -> re.Pattern[bytes] | None:
        """:meth:`bytes_pattern` without ``IGNORECASE``, for bytes already lower-cased with
        ``bytes.lower()``: the same matches (both fold ASCII letters only), several times
        faster."""
        key = self._key(None)
        return _compile_bytes(key, False) if any(key) else None

    def uids(self) -> list[str]:
        """The original UIDs in the set."""
        if self._uids is None:
            self._uids = [v for v, k in self.values.items() if k == "UID"]
        return self._uids

    def _ascii_pattern(self, coded: bool) -> re.Pattern[str] | None:
        """The case-sensitive twin of :meth:`text_pattern`/:meth:`strong_pattern` for ASCII
        text lower-cased with ``str.lower()`` (``None`` if a value is not ASCII). On ASCII text
        and ASCII values, case-insensitive matching is exactly ASCII case folding."""
        return _compile_ascii(self._key(STRONG_KINDS if coded else None))

    def _case_pattern(self, coded: bool) -> re.Pattern[str] | None:
        """:meth:`strong_pattern` (``coded``) or :meth:`text_pattern`."""
        return self.strong_pattern() if coded else self.text_pattern()

    def matches(self, text: str, *, coded: bool = False) -> list[str]:
        """Every identifying value found in ``text`` (lower-cased), UIDs included."""
        if not text:
            return []
        found: list[str] = []
        key = self._key(STRONG_KINDS if coded else None)
        if any(key):
            if text.isascii() and _all_ascii(key):
                # ASCII text and values: the lower-case twin of the pattern, compiled only
                # when one Aho-Corasick pass (over every value's literal) finds one at all
                low = text.lower()
                occurs = None if coded else self.lower_bytes_scanner()
                fast = self._ascii_pattern(coded) if occurs is None or occurs(low) else None
                if fast is not None:
                    found = [m.group(0) for m in fast.finditer(low)]
            else:
                pattern = self._case_pattern(coded)
                if pattern is not None:  # (always: there are values to match)
                    found = [m.group(0).lower() for m in pattern.finditer(text)]
        found.extend(uid for _start, uid in self.uid_hits(text))
        return found

    def uid_hits(self, text: str) -> list[tuple[int, str]]:
        """``(offset, uid)`` of every original UID standing alone in ``text`` (not part of a
        longer UID), in the order of :meth:`uids`, then by offset: one Aho-Corasick pass
        over ``text`` for all of them (a value is not searched once per UID: a sequence of
        100,000 references would make that quadratic)."""
        return [hit for hit in self.uid_occurrences(text)
                if uid_alone(text, hit[0], len(hit[1]))]

    def uid_occurrences(self, text: str) -> list[tuple[int, str]]:
        """``(offset, uid)`` of every occurrence of an original UID in ``text``, alone or
        inside a longer one (bytes are searched as their Latin-1 text): one pass."""
        uids = self.uids()
        if not uids:
            return []
        scan = self._uid_scan
        if scan is None or scan[0] is not uids:
            scan = self._uid_scan = (uids, _uid_finder(uids))
        return scan[1](text)

    def sub(self, text: str, replacement: str, *, coded: bool = False) -> str:
        """``text`` with every identifying value replaced."""
        if any(self._key(STRONG_KINDS if coded else None)):
            fast = self._ascii_pattern(coded) if text.isascii() else None
            if fast is None or fast.search(text.lower()) is not None:
                pattern = self._case_pattern(coded)
                if pattern is not None:  # (always: there are values to match)
                    text = pattern.sub(replacement, text)
        present = {uid for _start, uid in self.uid_hits(text)}
        for uid in self.uids():
            if uid in present:
                text = re.sub(rf"(?<![0-9.]){re.escape(uid)}(?![0-9.])", replacement, text)
        return text

    def for_profile(self, profile: Profile, ds: Dataset | None = None) -> IdentifierSet:
        """This set without what ``profile`` keeps on purpose: the kinds its options retain and
        the values of attributes it overrides to ``K`` (read from ``ds``). ``self`` if done."""
        if self.profile == profile.name:
            return self
        skip = _skipped_kinds(profile)
        kept: set[str] = set()
        if ds is not None:
            from pydicom.dataset import Dataset as Plain

            only = Plain()
            for key, rule in profile.tags.items():
                if "x" not in key and rule.action == "K" and int(key, 16) in ds:
                    only.add(ds[int(key, 16)])
            if len(only):
                kept = set(collect_identifiers(only).values)
        values = {v: k for v, k in self.values.items() if k not in skip and v not in kept}
        exempt = self.exempt_vrs | ({"UI"} if profile.has("retain-uids") else set())
        return IdentifierSet(values=values, exempt_vrs=frozenset(exempt), profile=profile.name)

    def find(self, text: str, *, coded: bool = False) -> list[str]:
        """The kinds of the identifying values found in ``text`` (:data:`STRONG_KINDS` only
        when ``coded``: the text of a coded string)."""
        return [self.kind_of(value) for value in self.matches(text, coded=coded)]

    def __getstate__(self) -> dict[str, Any]:
        return {"values": self.values, "exempt_vrs": self.exempt_vrs, "profile": self.profile}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.values = state["values"]
        self.exempt_vrs = state.get("exempt_vrs", frozenset())
        self.profile = state.get("profile", "")
        self._text_re = self._bytes_re = self._strong_re = self._uids = self._keys = None


def _ordered(groups: tuple[list[str], ...]) -> tuple[tuple[str, ...], ...]:
    """Each group sorted longest first, then alphabetically (``key=(-len(v), v)``)."""
    out = []
    for group in groups:
        group.sort()
        group.sort(key=len, reverse=True)  # stable: ties keep the alphabetical order
        out.append(tuple(group))
    return tuple(out)


def _uid_finder(uids: list[str]) -> Callable[[str], list[tuple[int, str]]]:
    """``find(text)``: ``(offset, uid)`` of every occurrence of every UID of ``uids`` in
    ``text`` (overlapping ones too), sorted by the UID's place in ``uids``, then by offset."""
    order = {uid: n for n, uid in enumerate(uids)}
    try:
        import ahocorasick
    except ImportError:  # one search per UID (quadratic on long sequences)
        def find_each(text: str) -> list[tuple[int, str]]:
            hits = []
            for uid in uids:
                start = text.find(uid)
                while start >= 0:
                    hits.append((start, uid))
                    start = text.find(uid, start + 1)
            return hits

        return find_each
    automaton = ahocorasick.Automaton()
    for uid in uids:
        automaton.add_word(uid, uid)
    automaton.make_automaton()
    search = automaton.iter

    def find(text: str) -> list[tuple[int, str]]:
        hits = [(end - len(uid) + 1, uid) for end, uid in search(text)]
        if len(hits) > 1:
            hits.sort(key=lambda hit: (order[hit[1]], hit[0]))
        return hits

    return find


def uid_alone(text: Any, start: int, length: int) -> bool:
    """Whether the UID at ``text[start:start+length]`` is not part of a longer UID."""
    digits = "0123456789." if isinstance(text, str) else b"0123456789."
    before = text[start - 1:start] if start else text[:0]
    after = text[start + length:start + length + 1]
    return not (before and before in digits) and not (after and after in digits)


_BEFORE = (r"(?<![0-9a-z])", r"(?<![0-9])", "", r"(?<![a-z])")
_AFTER = (r"(?![0-9a-z])", r"(?![0-9])", "", r"(?![a-z])")


@lru_cache(maxsize=32)
def _compile_text(key: tuple[tuple[str, ...], ...]) -> re.Pattern[str] | None:
    """One alternation per boundary group: short tokens must stand alone; long numeric tokens
    (dates, numeric IDs) must not sit inside a longer number (a date inside a UID is not that
    date). Cached: instances of one patient share their identifiers."""
    parts = [f"{_BEFORE[i]}(?:{'|'.join(map(re.escape, group))}){_AFTER[i]}"
             for i, group in enumerate(key) if group]
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


@lru_cache(maxsize=32)
def _all_ascii(key: tuple[tuple[str, ...], ...]) -> bool:
    """Whether every value of a pattern key is ASCII (:func:`_compile_ascii` compiles)."""
    return all(value.isascii() for group in key for value in group)


@lru_cache(maxsize=32)
def _compile_ascii(key: tuple[tuple[str, ...], ...]) -> re.Pattern[str] | None:
    """:func:`_compile_text` without ``IGNORECASE``, for lower-cased ASCII text; ``None`` when
    a value is not ASCII (or there is none)."""
    if not _all_ascii(key):
        return None
    parts = [f"{_BEFORE[i]}(?:{_alternation(group)}){_AFTER[i]}"
             for i, group in enumerate(key) if group]
    return re.compile("|".join(parts)) if parts else None


#: Longest value written as a prefix tree (longer ones make the flat alternation).
_TRIE_MAX = 128


def _alternation(values: Iterable[Any]) -> Any:
    """The literal alternation of ``values`` (``str`` or ``bytes``) as a prefix tree:
    ``(?:ab(?:c)?|d)`` for ``abc|ab|d``. At any position it matches exactly what the flat,
    longest-first alternation matches, preferring the same (longest) literal and backtracking
    to the same shorter ones, but several times faster (one branch per next character)."""
    values = list(values)
    empty: Any = values[0][:0] if values else ""
    if not values or max(len(v) for v in values) > _TRIE_MAX:
        ordered = sorted(values, key=lambda v: (-len(v), v))
        return (b"|" if isinstance(empty, bytes) else "|").join(map(re.escape, ordered))
    trie: dict[Any, Any] = {}
    for value in values:
        node = trie
        for i in range(len(value)):
            node = node.setdefault(value[i:i + 1], {})
        node[None] = True
    return _emit(trie, empty)


def _emit(node: dict[Any, Any], empty: Any) -> Any:
    bar, open_, close, opt = ("|", "(?:", ")", ")?") if isinstance(empty, str) else \
        (b"|", b"(?:", b")", b")?")
    branches = [re.escape(char) + _emit(child, empty)
                for char, child in sorted((k, v) for k, v in node.items() if k is not None)]
    if not branches:
        return empty
    body = branches[0] if len(branches) == 1 else open_ + bar.join(branches) + close
    return open_ + body + opt if None in node else body


@lru_cache(maxsize=32)
def _compile_bytes(key: tuple[tuple[str, ...], ...],
                   ignore_case: bool = True) -> re.Pattern[bytes] | None:
    """:func:`_compile_text` over bytes, each value in UTF-8 and Latin-1 (``ignore_case``
    false: for lower-cased bytes; values are lower-case already)."""
    parts = []
    for i, group in enumerate(key):
        encoded = _encoded(group)
        if encoded:
            # the case-insensitive pattern keeps its flat form; the one for lower-cased bytes
            # (the gate's) is a prefix tree when every value is ASCII (one encoding, so byte
            # length order is character length order): the same matches, faster
            alternation = b"|".join(map(re.escape, encoded))
            if not ignore_case and all(value.isascii() for value in group):
                alternation = _alternation(encoded)
            parts.append(_BEFORE[i].encode() + b"(?:" + alternation + b")" +
                         _AFTER[i].encode())
    if not parts:
        return None
    return re.compile(b"|".join(parts), re.IGNORECASE if ignore_case else 0)


#: The encodings a value is looked for in as bytes: any value may be written as text in UTF-8
#: or Latin-1, and a binary value (OB, UN) may hold UTF-16 text.
BYTE_ENCODINGS = ("utf-8", "latin-1", "utf-16-le", "utf-16-be")


def _encoded(values: Iterable[str]) -> dict[bytes, None]:
    """Each value in every encoding of :data:`BYTE_ENCODINGS` it can be written in, once, in
    order: the byte literals the gate looks for (:func:`byte_forms`)."""
    encoded: dict[bytes, None] = {}
    for value in values:
        for literal in byte_forms(value):
            encoded[literal] = None
    return encoded


def byte_forms(value: str) -> list[bytes]:
    """The lower-cased byte literals of one lower-case value: the value in every encoding of
    :data:`BYTE_ENCODINGS` it can be written in and, for a non-ASCII value, the same of its
    upper-case and capitalized forms (``bytes.lower()`` folds ASCII letters only: ``MÜLLER``
    in Latin-1 is not ``müller`` lower-cased)."""
    forms = [value] if value.isascii() else list(dict.fromkeys(
        (value, value.upper(), value.capitalize(), value.title())))
    out: list[bytes] = []
    for form in forms:
        for encoding in BYTE_ENCODINGS:
            try:
                literal = form.encode(encoding).lower()
            except UnicodeEncodeError:
                continue
            if literal not in out:
                out.append(literal)
    return out


@lru_cache(maxsize=32)
def _scanner(key: tuple[tuple[str, ...], ...]) -> Callable[[bytes], bool] | None:
    """The automaton behind :meth:`IdentifierSet.lower_bytes_scanner` (bytes are searched as
    Latin-1 text: one character per byte, so byte literals stay exact)."""
    try:
        import ahocorasick
    except ImportError:  # (an optional speed-up: the pattern alone gives the same answer)
        return None
    automaton = ahocorasick.Automaton()
    for group in key:
        for literal in _encoded(group):
            automaton.add_word(literal.decode("latin-1"), None)
    automaton.make_automaton()
    search = automaton.iter

    def occurs(data: bytes | str) -> bool:
        for _ in search(data if type(data) is str else data.decode("latin-1")):
            return True
        return False

    return occurs


# --------------------------------------------------------------------------- variants
def name_variants(value: str) -> Iterator[str]:
    """A PN value, each component, and the components joined in other orders — for each
    component group (alphabetic, ideographic, phonetic); in scripts written without spaces
    (Han, kana, Hangul) also joined without a space (王小東, 小東王)."""
    for group in str(value).split("="):
        parts = [p.strip() for p in group.split("^")]
        family, given = [*parts, "", ""][:2]
        if group.strip("^ "):
            yield group
        for part in parts[:3]:
            yield part
            for word in _WORD.findall(part):
                if word.lower() not in _GENERIC_WORDS:
                    yield word
        if family and given:
            yield f"{given} {family}"
            yield f"{family} {given}"
            yield f"{family}, {given}"
            yield f"{family},{given}"
            yield f"{given}^{family}"
            if len(parts) > 2 and parts[2]:
                yield f"{given} {parts[2]} {family}"
            if unspaced_script(family + given):
                yield f"{family}{given}"
                yield f"{given}{family}"
                if len(parts) > 2 and unspaced_script(parts[2]):
                    yield f"{family}{given}{parts[2]}"


def date_variants(value: str) -> Iterator[str]:
    """A DA value and its common written forms (ISO, US, European, dotted)."""
    text = str(value).strip()[:8]
    if len(text) != 8 or not text.isdigit():
        return
    y, m, d = text[:4], text[4:6], text[6:8]
    yield text
    yield f"{y}-{m}-{d}"
    yield f"{y}/{m}/{d}"
    yield f"{y}.{m}.{d}"
    yield f"{m}/{d}/{y}"
    yield f"{d}/{m}/{y}"
    yield f"{d}.{m}.{y}"
    yield f"{d}-{m}-{y}"
    yield f"{m}-{d}-{y}"


def text_variants(value: str) -> Iterator[str]:
    """An address/institution value, its comma parts, and its distinctive words and bigrams."""
    text = str(value)
    yield text
    yield from re.split(r"[,;\n\r^]+", text)
    words = [w for w in _WORD.findall(text)]
    for i, word in enumerate(words):
        if word.lower() not in _GENERIC_WORDS and not word.isdigit() and len(word) >= 4:
            yield word
        if i + 1 < len(words):
            yield f"{word} {words[i + 1]}"


# --------------------------------------------------------------------------- collection
def _walk(ds: Dataset, in_code_seq: bool = False) -> Iterator[tuple[Any, str, bool]]:
    for elem in ds:
        if elem.VR == "SQ":
            keyword = elem.keyword or ""
            inner = in_code_seq or keyword in _IDENTIFYING_CODE_SEQUENCES
            for item in elem.value or ():
                yield from _walk(item, inner)
            continue
        yield elem, elem.keyword or "", in_code_seq


_BINARY_VRS = ("OB", "OW", "OF", "OD", "OL", "OV")
CODE_VALUE_KEYWORDS = ("CodeValue", "CodeMeaning", "LongCodeValue")


#: VRs whose values may be identifiers whatever the attribute (see collect_identifiers).
IDENTIFYING_VRS = frozenset({"PN", "DA", "DT", "UI"})
_Item = tuple[str, Any, int, str, bool]  # VR, value, tag, keyword, in an identifying code seq


def element_items(ds: Dataset, in_code_seq: bool, out: list[_Item]) -> None:
    """:func:`_walk` into ``out`` as ``(vr, value, tag, keyword, in_code_seq)``, decoding only
    what may hold an identifier, and without decoding into ``ds`` what the engine may leave
    raw (see :mod:`gantry.dicom.values`): values come from the shared decode cache."""
    from gantry.dicom.values import RawDataElement, decoded, keyword_of, ui_text

    elements = ds._dict
    for key in sorted(elements):
        raw = elements[key]
        tag = int(key)
        keyword = keyword_of(tag)
        if type(raw) is RawDataElement:
            vr = raw.VR
            if vr is not None and vr != "UN" and vr != "SQ":
                if vr not in IDENTIFYING_VRS and keyword not in KINDS and \
                        keyword not in CODE_VALUE_KEYWORDS and \
                        not (tag >> 16 & 1 and vr in TEXT_VRS):
                    continue  # cannot hold an identifier here; never decoded
                if vr == "UI":  # differ per instance: read directly, not through the cache
                    text = ui_text(raw)
                    if text:
                        out.append((vr, text, tag, keyword, in_code_seq))
                        continue
                else:
                    found = decoded(ds, raw)
                    if found is not None:
                        out.append((vr, found[0], tag, keyword, in_code_seq))
                        continue
        elem = ds[key]
        if elem.VR == "SQ":
            inner = in_code_seq or keyword in _IDENTIFYING_CODE_SEQUENCES
            for item in elem.value or ():
                element_items(item, inner, out)
            continue
        out.append((elem.VR, elem.value, tag, keyword, in_code_seq))


def accepted_value(value: Any, kind: str) -> tuple[str, str] | None:
    """:meth:`IdentifierSet.add`'s filter: the lower-cased value to store, or ``None``."""
    text = str(value).strip().strip("\x00").strip()
    if _too_short(text):
        return None
    low = text.lower()
    if low in _GENERIC_WORDS or low in _DUMMIES:
        return None
    if text.replace(".", "").replace("-", "").isdigit() and len(text) < 4:
        return None
    return (low, kind)


def _accept_all(pairs: Iterable[tuple[Any, str]]) -> tuple[tuple[str, str], ...]:
    out = []
    for value, kind in pairs:
        found = accepted_value(value, kind)
        if found is not None:
            out.append(found)
    return tuple(out)


@lru_cache(maxsize=8192)
def _derived(vr: str, keyword: str, in_code_seq: bool, private: bool,
             text: str) -> tuple[tuple[str, str], ...]:
    """The ``(value, kind)`` pairs one non-UID text value of an element contributes, in the
    order :func:`collect_identifiers` adds them. Cached: the same values recur on every
    instance of a patient and series (names, dates, institutions, IDs)."""
    pairs: list[tuple[Any, str]] = []
    if vr == "PN":
        kind = "PatientName" if keyword in _PATIENT_NAME_KEYWORDS else "PersonName"
        pairs.extend((variant, kind) for variant in name_variants(text))
    elif vr == "DA":
        pairs.extend((variant, "Date") for variant in date_variants(text))
    elif vr == "DT":
        pairs.extend((variant, "Date") for variant in date_variants(text[:8]))
    elif vr == "UN" and "^" in text:  # a PN whose VR the reader does not know (private)
        for name in un_person_names(text):
            pairs.extend((variant, "PersonName") for variant in name_variants(name))
    elif in_code_seq and keyword in CODE_VALUE_KEYWORDS:
        pairs.append((text, "PersonID" if keyword != "CodeMeaning" else "PersonName"))
        pairs.extend((variant, "PersonName") for variant in text_variants(text))
    elif keyword in KINDS and vr not in ("SQ",):
        kind = KINDS[keyword]
        if kind in ("Address", "Institution"):
            pairs.extend((variant, kind) for variant in text_variants(text))
        else:
            pairs.append((text, kind))
            if kind == "Phone":
                pairs.append((re.sub(r"\D", "", text), kind))
    elif private and vr in TEXT_VRS and _distinctive(text):
        pairs.append((text, "PrivateText"))
    return _accept_all(pairs)


#: Longest value of one PN (three component groups of 64 characters and their separators).
_PN_MAX = 3 * 64 + 2


def un_person_names(text: str) -> list[str]:
    """The person names a UN value holds as PN text: each of its values (``\\``-separated)
    that is printable text with a component separator (``^``), as a PN value is written. In
    implicit VR files, a private element's VR is unknown unless its creator's dictionary is:
    a private OperatorsName-like element reads as UN, and the name it gives is a person's
    like any PN value's."""
    names = []
    for value in text.strip("\x00 ").split("\\"):
        value = value.strip("\x00 ")
        if "^" in value and len(value) <= _PN_MAX and value.isprintable() and \
                value.strip("^= "):
            names.append(value)
    return names


@lru_cache(maxsize=4096)
def _patient_pairs(name: str, patient_id: str, birth_date: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[Any, str]] = [(variant, "PatientName") for variant in name_variants(name)]
    pairs.append((patient_id, "PatientID"))
    pairs.extend((variant, "Date") for variant in date_variants(birth_date))
    return _accept_all(pairs)


def _is_multi(value: Any, vr: str) -> bool:
    return isinstance(value, (list, tuple)) or (
        hasattr(value, "__iter__") and not isinstance(value, (str, bytes)) and
        vr != "PN" and type(value).__name__ == "MultiValue")


def collect_identifiers(ds: Dataset, patient: PatientKey | None = None,
                        extra: Iterable[str] = (), *,
                        profile: Profile | None = None) -> IdentifierSet:
    """Every identifying value in the original header, with its variants.

    Names (any PN anywhere; patient names as ``PatientName``), IDs, accession and procedure
    numbers, dates (DA, date part of DT, except ``retain-longitudinal-full-dates``), addresses,
    phone numbers, institutions and devices (unless retained by an option), instance UIDs
    (unless ``retain-uids``), person/institution codes, and distinctive private-tag text; plus
    the ``patient``'s identity and ``extra`` values.
    """
    elements: list[_Item] = []
    element_items(ds, False, elements)
    meta = getattr(ds, "file_meta", None)
    if meta is not None:
        element_items(meta, False, elements)
    return identifiers_from_items(elements, patient, extra, profile=profile)


def identifiers_from_items(elements: list[_Item], patient: PatientKey | None = None,
                           extra: Iterable[str] = (), *, profile: Profile | None = None,
                           plans: dict[int, Any] | None = None) -> IdentifierSet:
    """:func:`collect_identifiers` from the ``(vr, value, tag, keyword, in_code_seq)`` items
    its walk yields (dataset elements in tag order, then the file meta's).

    ``plans``: a memo of what each item contributes, by the item's identity, for a caller
    that hands the same item objects again (under the same profile): the memoized export
    pass, whose items repeat for every instance of a series."""
    options = set(profile.options) if profile is not None else set()
    skip = _skipped_kinds(profile) if profile is not None else set()
    out = IdentifierSet(exempt_vrs=frozenset({"UI"}) if "retain-uids" in options else frozenset(),
                        profile=profile.name if profile is not None else "")
    values = out.values
    kept_tags: frozenset[int] = _kept_tags(profile) if profile is not None else frozenset()
    item_plans = []
    for item in elements:
        found = plans.get(id(item)) if plans is not None else None
        if found is None:
            found = (item, *_item_plan(item, kept_tags, skip))
            if plans is not None:
                if len(plans) >= _PLANS_MAX:
                    plans.clear()
                plans[id(item)] = found  # (holding the item: its id stays its own)
        item_plans.append(found)
    # UIDs that name software or standards (kept by the engine) are not identifiers even when
    # some other element repeats them.
    kept_uids = {plan[1] for plan in item_plans if plan[1] is not None}
    kept_uids.add(_pydicom_uid())
    uid_kind = "UID" not in skip
    setdefault = values.setdefault
    for _item, _kept_uid, pairs, uids in item_plans:
        for pair in pairs:
            setdefault(*pair)
        if uids and uid_kind:
            for stripped, accepted in uids:
                if stripped not in kept_uids:
                    setdefault(*accepted)
    if patient is not None:
        for low, kind in _patient_pairs(patient.patient_name, patient.patient_id,
                                        patient.birth_date):
            if kind not in skip:
                setdefault(low, kind)
    for low, kind in _accept_all((value, "extra") for value in extra):
        if kind not in skip:
            setdefault(low, kind)
    return out


#: Items remembered at most by one memo of :func:`identifiers_from_items`.
_PLANS_MAX = 8192


def _item_plan(item: _Item, kept_tags: frozenset[int], skip: set[str]
               ) -> tuple[str | None, tuple[tuple[str, str], ...],
                          tuple[tuple[str, tuple[str, str]], ...]]:
    """What one item contributes: the kept (class or syntax) UID it names, if any; its
    ``(value, kind)`` pairs (kinds the profile retains left out); and, for a UI element, its
    candidate instance UIDs as ``(stripped text, accepted pair)``, each added unless another
    element names it as a kept UID."""
    from gantry.deid.uids import is_well_known, keeps_uid

    vr, value, tag, keyword, in_code_seq = item
    kept_uid = str(value).strip("\x00 ") if vr == "UI" and keeps_uid(keyword) and value \
        else None
    if value is None or value == "" or vr in _BINARY_VRS:
        return kept_uid, (), ()
    if kept_tags and tag in kept_tags:
        return kept_uid, (), ()  # the profile keeps this attribute on purpose
    items = list(value) if _is_multi(value, vr) else (value,)
    private = bool(tag >> 16 & 1) and not 0x0010 <= (tag & 0xFFFF) <= 0x00FF
    pairs: list[tuple[str, str]] = []
    uids: list[tuple[str, tuple[str, str]]] = []
    for v in items:
        text = v.decode("latin-1", "ignore") if isinstance(v, bytes) else str(v)
        if not text.strip():
            continue
        if vr == "UI":
            if not keeps_uid(keyword) and not is_well_known(text):
                stripped = text.strip("\x00 ")
                accepted = accepted_value(stripped, "UID")
                if accepted is not None:
                    uids.append((stripped, accepted))
            continue
        pairs.extend(pair for pair in _derived(vr, keyword, in_code_seq, private, text)
                     if pair[1] not in skip)
    return kept_uid, tuple(pairs), tuple(uids)


def _pydicom_uid() -> str:
    from pydicom.uid import PYDICOM_IMPLEMENTATION_UID

    return PYDICOM_IMPLEMENTATION_UID


def _kept_tags(profile: Profile) -> frozenset[int]:
    """Tags a profile override keeps (``K``) on purpose."""
    return frozenset(int(key, 16) for key, rule in profile.tags.items()
                     if "x" not in key and rule.action == "K")


def _skipped_kinds(profile: Profile) -> set[str]:
    skip: set[str] = set()
    for option, kinds in _RETAINED_KINDS.items():
        if profile.has(option):
            skip |= kinds
    return skip


def _distinctive(text: str) -> bool:
    """Private text worth treating as an identifier: a name, or a token with digits."""
    text = text.strip()
    if "^" in text:
        return True
    return len(text) >= 6 and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)
