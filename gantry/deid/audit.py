"""The ``ps315-audit`` auditor: what the active profile would change, and what would remain.

Per instance it reports (never quoting an identifying value):

* ``planned-change`` (info): one finding per change the profile would make (before redaction);
* ``applied-changes`` (info): how many changes the redaction stack made, by action, when the
  kernel audits in the export pass (after redaction, with ``notes["applied_changes"]``; the
  changes themselves are stored by the kernel);
* ``phi-in-text`` (warning): a text-bearing attribute holding an identifying value of this
  instance or patient (before redaction: what cleaning must catch);
* ``phi-remaining`` (error): an identifying value still present after the profile is applied
  (or, on an already de-identified instance, present now);
* ``unknown-private-tag`` (warning/info): a private block whose creator is neither safe nor
  named by the profile (it will be removed);
* ``missing-marker`` (warning): a de-identified instance without the PS3.15 markers;
* ``verdict`` (info when clean, error otherwise): the summary.

Usable before redaction (to review: the plan is computed on a light copy whose pixel data is
shared, never copied), right after it in the same pass (``notes["redacted"]``: the applied
changes are reported and the result verified, no second plan), and on already de-identified
files (``PatientIdentityRemoved=YES``: checked as they are).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gantry.deid.vr import TEXT_VRS, binary_text
from gantry.records import Change, Finding

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.context import InstanceContext, Run
    from gantry.deid.identifiers import IdentifierSet

COMPONENT = "ps315-audit"
#: Attributes whose whole value *is* an identifier (expected to match; not "PHI in text").
_DIRECT = frozenset({"PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber",
                     "StudyID", "IssuerOfPatientID", "PatientAddress", "InstitutionName",
                     "InstitutionAddress", "StationName", "PatientTelephoneNumbers"})


_SCANNED_VRS = TEXT_VRS | {"UI", "DA", "DT", "CS", "UN", "OB"}


def text_hits(ds: Dataset, identifiers: IdentifierSet, prefix: str = "",
               include_direct: bool = True, others_only: bool = False,
               ) -> list[tuple[str, str, str, list[str]]]:
    """Text-bearing elements holding identifying values. Elements still raw are decoded only
    when their VR is scanned, and through the shared decode cache (never into ``ds``).

    ``others_only``: ``identifiers`` were collected from ``ds`` itself (an instance already
    de-identified, checked as it is), so an element's own value (its pseudonym, its UID, its
    date) is not counted in it; a value found in another element still is."""
    from gantry.deid.engine import standard_code_text
    from gantry.deid.identifiers import code_vocabulary
    from gantry.dicom.values import RawDataElement, decoded, keyword_of

    out: list[tuple[str, str, str, list[str]]] = []
    if not len(identifiers):
        return out
    elements = ds._dict
    for key in sorted(elements):
        raw = elements[key]
        tag = int(key)
        keyword = keyword_of(tag)
        value: Any = _UNREAD
        if type(raw) is RawDataElement:
            vr = raw.VR
            if vr is not None and vr != "UN" and vr != "SQ":
                if vr not in _SCANNED_VRS:
                    continue
                if vr == "OB":
                    value = raw.value  # bytes, as decoded
                else:
                    found = decoded(ds, raw)
                    if found is not None:
                        value = found[0]
        if value is _UNREAD:
            elem = ds[key]
            vr = elem.VR
            if vr == "SQ":
                for i, item in enumerate(elem.value or ()):
                    out.extend(text_hits(item, identifiers, f"{prefix}{keyword or key}[{i}].",
                                          include_direct, others_only))
                continue
            if vr not in _SCANNED_VRS:
                continue
            value = elem.value
        if not include_direct and keyword in _DIRECT:
            continue
        if value is None or vr in identifiers.exempt_vrs:
            continue  # (UI under Retain UIDs: kept verbatim on purpose, as the gate has it)
        text = bytes_text(tag, value, not prefix, ds._character_set) \
            if isinstance(value, bytes) else str(value)
        # a name, institution, address or device word in a coded string or a standard code is
        # vocabulary (ImageType PERFUSION, BodyPartExamined BRAIN, the SR concept Long Axis):
        # the engine keeps it, the gate passes it
        # (one word of it, in a standard code: a whole name there is a person's)
        cs = vr == "CS"
        found = identifiers.matches(text, coded=cs)
        if found and not cs and standard_code_text(ds, keyword):
            words = code_vocabulary(found, identifiers.kind_of)
            found = [v for v in found if v not in words]
        if others_only and found:
            own = _own_values(tag, vr, value)
            found = [v for v in found if v not in own]
        kinds = [identifiers.kind_of(v) for v in found]
        if kinds:
            out.append((f"({tag >> 16:04X},{tag & 0xFFFF:04X})", keyword, prefix,
                        sorted(set(kinds))))
    return out


_UNREAD = object()


def _own_values(tag: int, vr: str, value: Any) -> frozenset[str]:
    """The identifying values (lower-cased) one element yields on its own."""
    from pydicom.dataelem import DataElement
    from pydicom.dataset import Dataset as Plain

    from gantry.deid.identifiers import collect_identifiers

    alone = Plain()
    alone.add(DataElement(tag, vr, value))
    return frozenset(collect_identifiers(alone).values)


def bytes_text(tag: int, value: bytes, top: bool,
               encodings: list[str] | str | None = None) -> str:
    """The text the audit reads in a binary value: for the top-level Pixel Data, only the
    text segments of compressed frames (native pixels are numbers); else the bytes in the
    data set's character set (``encodings``), as Latin-1, UTF-8 and UTF-16 text
    (:func:`gantry.deid.vr.binary_text`)."""
    if top and tag == 0x7FE00010:
        from gantry.deid.pixeltext import pixel_text

        return pixel_text(value)
    return binary_text(value, encodings)


class DeidAuditor:
    """Audits instances against the run's profile (an ``AuditorImpl``)."""

    def __init__(self, run: Run) -> None:
        from gantry.deid.engine import DeidEngine

        self.run = run
        self.engine = DeidEngine(run.profile, run)
        self._known_creators = frozenset(c for c, _, _ in self.engine.rules.safe_private)

    def audit(self, dataset: Dataset, context: InstanceContext) -> list[Finding]:
        """Findings for ``dataset`` (not modified).

        When the kernel audits in the export pass it calls this *after* the redaction stack,
        on the redacted dataset, with ``context.notes["redacted"] = True`` and the applied
        :class:`~gantry.records.Change` list in ``context.notes["applied_changes"]``: the
        changes are counted (``applied-changes``) and the dataset is verified
        as it is — nothing is planned or copied again.
        """
        identifiers = context.identifiers
        if identifiers is None:
            from gantry.deid.identifiers import collect_identifiers

            identifiers = collect_identifiers(dataset, context.patient, profile=self.run.profile)
        elif getattr(identifiers, "profile", None) != self.run.profile.name:
            identifiers = identifiers.for_profile(self.run.profile, dataset)
        notes = context.notes
        if notes.get("redacted") and notes.get("applied_changes") is not None:
            return self._verify(dataset, context, identifiers, notes["applied_changes"])
        findings: list[Finding] = []
        already = str(dataset.get("PatientIdentityRemoved", "")).upper() == "YES"
        if already:
            result = dataset
            findings.extend(_missing_markers(dataset))
            changes = []
        else:
            for tag, keyword, path, kinds in text_hits(dataset, identifiers,
                                                        include_direct=False):
                findings.append(Finding(
                    "phi-in-text", f"{keyword or tag} holds {', '.join(kinds)}",
                    tag=tag, keyword=keyword, path=path, component=COMPONENT,
                    extra={"kinds": kinds}))
            findings.extend(self._private(dataset))
            from gantry.context import InstanceContext as Ctx
            from gantry.deid.engine import header_copy

            result = header_copy(dataset)
            ctx = Ctx(instance=context.instance, run=context.run, patient=context.patient,
                      identifiers=identifiers, notes=dict(context.notes))
            changes = self.engine.apply(result, ctx)
            findings.extend(_change_findings("planned-change", changes))
        remaining = text_hits(result, identifiers, others_only=already)
        for tag, keyword, path, kinds in remaining:
            findings.append(Finding(
                "phi-remaining", f"{keyword or tag} would still hold {', '.join(kinds)}"
                if not already else f"{keyword or tag} holds {', '.join(kinds)}",
                severity="error", tag=tag, keyword=keyword, path=path, component=COMPONENT,
                extra={"kinds": kinds}))
        what = "is de-identified" if already else \
            f"would be de-identified by {len(changes)} change(s)"
        findings.append(self._verdict(remaining, changes, what))
        return findings

    def _verify(self, dataset: Dataset, context: InstanceContext, identifiers: IdentifierSet,
                changes: list[Change]) -> list[Finding]:
        """Findings for a dataset the redaction stack has just processed (no copy, no plan)."""
        creators = context.notes.get("private_creators")
        if creators is None:
            from gantry.deid.engine import private_creators

            creators = private_creators(dataset)
        return self.verified(changes, creators, _missing_markers(dataset),
                             text_hits(dataset, identifiers))

    def verified(self, changes: list[Change], creators: list[tuple[int, int, str]],
                 missing: list[Finding], remaining: list[tuple[str, str, str, list[str]]],
                 ) -> list[Finding]:
        """The findings of a just-redacted instance from what was established about it: the
        applied ``changes``, the original's private ``creators`` (``(group, element,
        creator)``), its ``missing``-marker findings and the ``remaining`` text hits (as
        :func:`text_hits` returns them)."""
        findings = [_applied_summary(changes)]
        findings.extend(self._unknown_creators(creators))
        findings.extend(missing)
        for tag, keyword, path, kinds in remaining:
            findings.append(Finding(
                "phi-remaining", f"{keyword or tag} holds {', '.join(kinds)}",
                severity="error", tag=tag, keyword=keyword, path=path, component=COMPONENT,
                extra={"kinds": kinds}))
        findings.append(self._verdict(remaining, changes,
                                      f"was de-identified by {len(changes)} change(s)"))
        return findings

    def _verdict(self, remaining: list, changes: list, what: str) -> Finding:
        if not remaining:  # the common verdict: one object per change count and wording
            key = ("verdict", len(changes), what)
            found = _SHARED.get(key)
            if found is None:
                found = _shared(key, Finding(
                    "verdict", f"instance {what} under {self.run.profile.name}",
                    severity="info", component=COMPONENT,
                    extra={"remaining": 0, "changes": len(changes)}))
            return found
        return Finding("verdict", f"identifying values remain in {len(remaining)} "
                       "attribute(s)", severity="error", component=COMPONENT,
                       extra={"remaining": len(remaining), "changes": len(changes)})

    def _private(self, ds: Dataset) -> list[Finding]:
        from gantry.deid.engine import private_creators

        return self._unknown_creators(private_creators(ds))

    def _unknown_creators(self, creators: list[tuple[int, int, str]]) -> list[Finding]:
        """``unknown-private-tag`` for each ``(group, element, creator)`` the profile does not
        know (neither a profile rule nor the safe list): the block is removed."""
        out = []
        rules = self.engine.rules
        known = self._known_creators
        for group, element, creator in creators:
            if creator not in rules.private and creator not in known:
                key = ("unknown-private-tag", group, element)
                found = _SHARED.get(key)
                if found is None:
                    found = _shared(key, Finding(
                        "unknown-private-tag", f"private block ({group:04X},{element:02X}xx) "
                        "of an unknown creator will be removed", severity="info",
                        tag=f"({group:04X},{element:04X})", component=COMPONENT))
                out.append(found)
        return out


def _applied_summary(changes: list[Change]) -> Finding:
    """One ``applied-changes`` finding counting the changes by action (the changes themselves
    are recorded by the kernel as changes; repeating each as a finding doubled the store)."""
    by_action: dict[str, int] = {}
    for change in changes:
        by_action[change.action] = by_action.get(change.action, 0) + 1
    key = ("applied-changes", *by_action.items())  # (the actions in the order met)
    found = _SHARED.get(key)
    if found is None:
        summary = ", ".join(f"{action} x{count}" for action, count in sorted(by_action.items()))
        found = _shared(key, Finding(
            "applied-changes", f"{len(changes)} change(s): {summary or 'none'}",
            severity="info", component=COMPONENT,
            extra={"count": len(changes), "by_action": by_action}))
    return found


#: Findings that repeat from instance to instance, one object each (findings are read-only
#: records): a batch of results then carries, and pickles, each of them once.
_SHARED: dict[tuple[Any, ...], Finding] = {}


def _shared(key: tuple[Any, ...], finding: Finding) -> Finding:
    if len(_SHARED) >= 4096:
        _SHARED.clear()
    _SHARED[key] = finding
    return finding


def _change_findings(code: str, changes: list[Change]) -> list[Finding]:
    out = []
    for change in changes:
        message = _MESSAGES.get(change)
        if message is None:
            if len(_MESSAGES) >= 100_000:
                _MESSAGES.clear()
            message = _MESSAGES[change] = f"{change.action} {change.keyword or change.tag}" \
                f"{' (' + change.detail + ')' if change.detail else ''}"
        out.append(Finding(code, message, severity="info", tag=change.tag,
                           keyword=change.keyword, path=change.path, component=COMPONENT,
                           extra={"action": change.action}))
    return out


_MESSAGES: dict[Change, str] = {}


def _missing_markers(ds: Dataset) -> list[Finding]:
    return [Finding("missing-marker", f"{keyword} is missing", keyword=keyword,
                    component=COMPONENT)
            for keyword in ("DeidentificationMethod", "DeidentificationMethodCodeSequence")
            if keyword not in ds]
