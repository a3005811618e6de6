"""``--dry-run``: what a run would write, withhold and change, with nothing written.

The command exits with the code the run itself would give (``3`` when inputs would be
withheld or rejected, ``4`` when nothing would be written...).

Each selected instance goes through the profile's redaction stack, the encoder, the export
gate (its roster of every patient and its withholding: the audit's verdict, burned-in text no
pixel redactor cleaned) and the auditors as an export would take it, in the session's workers,
but no sink is opened (output paths are not known, so not scanned) and nothing is recorded:
the store is left as it was. What the gate would refuse is counted as ``refused``.
``deidentify --dry-run`` first indexes SRC into a ``memory://`` store (never the working
store); ``export --dry-run`` reads the store it is given.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gantry.pipeline import WorkUnit, process_unit

if TYPE_CHECKING:
    from gantry.model import Instance
    from gantry.session import Session, StageSummary

SAMPLE = 3


@dataclass
class DryRunReport:
    """Counts of a dry run and a sample of the changes per attribute."""

    would_write: int = 0
    would_fail: int = 0
    #: instances the export gate would refuse (identifying values, its audit's verdict,
    #: burned-in text no pixel redactor cleaned): withheld, exit code 3, as in the run
    refused: int = 0
    already_written: int = 0
    withheld: int = 0
    rejected: int = 0
    #: attribute -> action/detail -> instances it would be applied to
    changes: dict[str, Counter[str]] = field(default_factory=dict)
    findings: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (for ``--json``): counts, changes per attribute, findings."""
        return {"dry_run": True, "would_write": self.would_write,
                "would_fail": self.would_fail, "refused": self.refused,
                "already_written": self.already_written,
                "withheld": self.withheld, "rejected": self.rejected,
                "changes": {k: dict(v) for k, v in sorted(self.changes.items())},
                "findings": dict(self.findings), "problems": self.problems[:50]}

    def exit_code(self) -> int:
        """The code the run itself would exit with (see :mod:`gantry.exitcodes`)."""
        from gantry.exitcodes import EXIT_FAILURE, EXIT_INCOMPLETE, EXIT_NOTHING, EXIT_OK

        if self.would_fail:
            return EXIT_FAILURE
        if not (self.would_write or self.already_written or self.withheld or self.refused):
            return EXIT_NOTHING
        if self.withheld or self.rejected or self.refused:
            return EXIT_INCOMPLETE
        return EXIT_OK

    def lines(self) -> Iterator[str]:
        """The report for a terminal."""
        yield (f"dry run: {self.would_write} would be written, {self.would_fail} would fail, "
               f"{self.refused} refused, {self.withheld} withheld, {self.rejected} rejected, "
               f"{self.already_written} already written; nothing was written")
        if self.changes:
            yield "changes per attribute (instances):"
            ranked = sorted(self.changes.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
            for attribute, actions in ranked[:40]:
                sample = ", ".join(f"{a} {n}" for a, n in actions.most_common(SAMPLE))
                yield f"  {attribute}: {sample}"
            if len(ranked) > 40:
                yield f"  ... {len(ranked) - 40} more attributes (--json lists them all)"
        if self.findings:
            yield "findings: " + ", ".join(f"{k} {n}" for k, n in self.findings.most_common())
        for problem in self.problems[:20]:
            yield f"  {problem}"


def _describe(change: Any) -> str:
    detail = f" ({change.detail})" if change.detail else ""
    return f"{change.action}{detail}"


def preview(session: Session, instances: Iterator[Instance], *,
            done_uids: set[str] = frozenset(),  # type: ignore[assignment]
            ingest: StageSummary | None = None) -> DryRunReport:
    """Run ``instances`` through the redaction stack, the gate and the audit without writing
    or recording anything; ``done_uids`` are counted as already written."""
    report = DryRunReport()
    if ingest is not None:
        report.withheld = ingest.withheld
        report.rejected = ingest.rejected
        report.problems.extend(ingest.errors)

    def pending() -> Iterator[Instance]:
        for inst in instances:
            if inst.sop_instance_uid in done_uids:
                report.already_written += 1
                continue
            yield inst

    roster = session._roster_file()  # the gate matches every patient, as the export's does

    def make(batch: list[Instance]) -> WorkUnit:
        return WorkUnit(session.spec, "redact", batch, with_audit=True, dry_run=True,
                        roster=roster)

    sources = {}
    for results in session._executor().map_unordered(process_unit,
                                                     session._units(pending(), make)):
        for res in results:
            if not res.ok:
                inst = session.store.get_instance(res.sop_instance_uid)
                where = inst.source if inst is not None else session.run.map_uid(
                    res.sop_instance_uid)
                sources[res.sop_instance_uid] = where
                if res.stage == "gate":  # withheld by the gate, as the run counts it
                    report.refused += 1
                    report.problems.append(f"{where}: would be refused: {res.error}")
                else:
                    report.would_fail += 1
                    report.problems.append(f"{where}: would fail: {res.stage}: {res.error}")
                continue
            report.would_write += 1
            for change in res.changes:
                attribute = change.path + (change.keyword or change.tag)
                report.changes.setdefault(attribute, Counter())[_describe(change)] += 1
            for finding in res.findings:
                report.findings[f"{finding.severity} {finding.code}"] += 1
    return report


__all__ = ["DryRunReport", "preview"]
