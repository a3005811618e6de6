"""The ``ps315-audit`` auditor: what the active profile would change, and what would remain.

Per instance it reports (never quoting an identifying value):

* ``planned-change`` (info): one finding per change the profile would make (before redaction);
* ``phi-in-text`` (warning): a text-bearing attribute holding an identifying value of this
  instance or patient (before redaction: what cleaning must catch);
* ``phi-remaining`` (error): an identifying value still present after the profile is applied
  (or, on an already de-identified instance, present now);
* ``unknown-private-tag`` (warning/info): a private block whose creator is neither safe nor
  named by the profile (it will be removed);
* ``missing-marker`` (warning): a de-identified instance without the PS3.15 markers;
* ``verdict`` (info when clean, error otherwise): the summary.

Usable before redaction (to review) and after (to verify: an instance already marked
``PatientIdentityRemoved=YES`` is checked as it is).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

from gantry.deid.vr import TEXT_VRS
from gantry.records import Finding

if TYPE_CHECKING:
    from pydicom import Dataset

    from gantry.context import InstanceContext, Run
    from gantry.deid.identifiers import IdentifierSet

COMPONENT = "ps315-audit"
#: Attributes whose whole value *is* an identifier (expected to match; not "PHI in text").
_DIRECT = frozenset({"PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber",
                     "StudyID", "IssuerOfPatientID", "PatientAddress", "InstitutionName",
                     "InstitutionAddress", "StationName", "PatientTelephoneNumbers"})


def _text_hits(ds: Dataset, identifiers: IdentifierSet, prefix: str = "",
               include_direct: bool = True) -> list[tuple[str, str, str, list[str]]]:
    out = []
    if not len(identifiers):
        return out
    for elem in ds:
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value or ()):
                out.extend(_text_hits(item, identifiers,
                                      f"{prefix}{elem.keyword or elem.tag}[{i}].",
                                      include_direct))
            continue
        if elem.VR not in TEXT_VRS and elem.VR not in ("UI", "DA", "DT", "CS", "UN", "OB"):
            continue
        if not include_direct and elem.keyword in _DIRECT:
            continue
        value = elem.value
        if value is None:
            continue
        text = value.decode("latin-1", "ignore") if isinstance(value, bytes) else str(value)
        kinds = identifiers.find(text)
        if kinds:
            tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
            out.append((tag, elem.keyword or "", prefix, sorted(set(kinds))))
    return out


class DeidAuditor:
    """Audits instances against the run's profile (an ``AuditorImpl``)."""

    def __init__(self, run: Run) -> None:
        from gantry.deid.engine import DeidEngine

        self.run = run
        self.engine = DeidEngine(run.profile, run)

    def audit(self, dataset: Dataset, context: InstanceContext) -> list[Finding]:
        """Findings for ``dataset`` (not modified)."""
        from gantry.deid.identifiers import collect_identifiers

        findings: list[Finding] = []
        already = str(dataset.get("PatientIdentityRemoved", "")).upper() == "YES"
        identifiers = context.identifiers
        if identifiers is None:
            identifiers = collect_identifiers(dataset, context.patient, profile=self.run.profile)
        elif getattr(identifiers, "profile", None) != self.run.profile.name:
            identifiers = identifiers.for_profile(self.run.profile, dataset)
        if already:
            result = dataset
            for keyword in ("DeidentificationMethod", "DeidentificationMethodCodeSequence"):
                if keyword not in dataset:
                    findings.append(Finding("missing-marker", f"{keyword} is missing",
                                            keyword=keyword, component=COMPONENT))
            changes = []
        else:
            for tag, keyword, path, kinds in _text_hits(dataset, identifiers,
                                                        include_direct=False):
                findings.append(Finding(
                    "phi-in-text", f"{keyword or tag} holds {', '.join(kinds)}",
                    tag=tag, keyword=keyword, path=path, component=COMPONENT,
                    extra={"kinds": kinds}))
            findings.extend(self._private(dataset))
            result = copy.deepcopy(dataset)
            from gantry.context import InstanceContext as Ctx

            ctx = Ctx(instance=context.instance, run=context.run, patient=context.patient,
                      identifiers=identifiers, notes=dict(context.notes))
            changes = self.engine.apply(result, ctx)
            for change in changes:
                findings.append(Finding(
                    "planned-change", f"{change.action} {change.keyword or change.tag}"
                    f"{' (' + change.detail + ')' if change.detail else ''}",
                    severity="info", tag=change.tag, keyword=change.keyword, path=change.path,
                    component=COMPONENT, extra={"action": change.action}))
        remaining = [(t, k, p, kinds) for t, k, p, kinds in _text_hits(result, identifiers)]
        for tag, keyword, path, kinds in remaining:
            findings.append(Finding(
                "phi-remaining", f"{keyword or tag} would still hold {', '.join(kinds)}"
                if not already else f"{keyword or tag} holds {', '.join(kinds)}",
                severity="error", tag=tag, keyword=keyword, path=path, component=COMPONENT,
                extra={"kinds": kinds}))
        if remaining:
            verdict = Finding("verdict", f"identifying values remain in {len(remaining)} "
                              "attribute(s)", severity="error", component=COMPONENT,
                              extra={"remaining": len(remaining), "changes": len(changes)})
        else:
            what = "is de-identified" if already else \
                f"would be de-identified by {len(changes)} change(s)"
            verdict = Finding("verdict", f"instance {what} under {self.run.profile.name}",
                              severity="info", component=COMPONENT,
                              extra={"remaining": 0, "changes": len(changes)})
        findings.append(verdict)
        return findings

    def _private(self, ds: Dataset) -> list[Finding]:
        out = []
        rules = self.engine.rules
        for tag in ds.keys():  # noqa: SIM118 - a Dataset iterates elements
            group, element = tag >> 16, tag & 0xFFFF
            if not group & 1 or not 0x10 <= element <= 0xFF:
                continue
            creator = str(ds[tag].value or "").strip()
            known = creator in rules.private or any(
                c == creator for c, _, _ in rules.safe_private)
            if not known:
                out.append(Finding(
                    "unknown-private-tag", f"private block ({group:04X},{element:02X}xx) of "
                    "an unknown creator will be removed", severity="info",
                    tag=f"({group:04X},{element:04X})", component=COMPONENT))
        return out
