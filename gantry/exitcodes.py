"""The exit codes of every ``gantry`` command, and how a run's code is computed.

A run's code comes from the *store's state* after the run, not from what this one process
happened to do: a resumed run that skips the inputs an earlier run rejected exits as that run
did. Any component that withholds an instance (a profile filter, a refusal of the export
gate's kind that is not a failure) records it so: a rejected input with a stage other than
``index``, or an instance whose status is one of :data:`WITHHELD_STATUSES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gantry.protocols import Store

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3
EXIT_REJECTED = EXIT_INCOMPLETE  # the older name
EXIT_NOTHING = 4
EXIT_INTERRUPTED = 130
EXIT_PIPE = 141

#: instance statuses that mean "not written, on purpose" (exit code 3, not 1)
WITHHELD_STATUSES = frozenset({"withheld", "refused"})
#: rejected-input stages that are not rejections (a DICOMDIR is an index; FIFOs, devices,
#: sockets and links to folders are not inputs: both skipped)
NOT_REJECTED = frozenset({"index", "skipped"})
#: rejected-input stages of inputs that are DICOM but were withheld before indexing
WITHHELD_STAGES = frozenset({"withheld"})

TABLE: tuple[tuple[int, str], ...] = (
    (EXIT_OK, "success: everything selected was written (or, for a read command, printed)"),
    (EXIT_FAILURE, "failure: an error, or instances that failed (`gantry status` lists "
                   "them)"),
    (EXIT_USAGE, "usage error: a bad option, a missing input, an unknown store or an invalid "
                 "profile; nothing was done"),
    (EXIT_INCOMPLETE, "finished, but some inputs were rejected (not DICOM, truncated), lost "
                      "to a UID conflict (another file with the same SOP Instance UID and "
                      "another content was kept) or instances withheld (filters, lookup "
                      "refusals, the export gate's refusals: identifying values, the pass's "
                      "own audit verdict, burned-in text no pixel redactor cleaned): "
                      "`gantry status --rejected`; computed "
                      "from the store, so a resumed run exits as the first did"),
    (EXIT_NOTHING, "nothing to do: no DICOM found in the input, an empty store, or a query "
                   "that selects nothing"),
    (EXIT_INTERRUPTED, "interrupted (Ctrl-C): finished work is kept; the same command "
                       "resumes"),
    (EXIT_PIPE, "the reader of the output went away (a pipe into `head`): the command "
                "stopped quietly"),
)


def table_markdown() -> str:
    """The exit-code table as Markdown (docs/cli.md and the README carry it)."""
    rows = ["| code | meaning |", "| --- | --- |"]
    rows.extend(f"| `{code}` | {meaning} |" for code, meaning in TABLE)
    return "\n".join(rows)


@dataclass(frozen=True)
class StoreOutcome:
    """What a store says about the instances and inputs it holds."""

    instances: int
    failed: int
    withheld: int
    rejected: int
    #: inputs not added: another file with the same SOP Instance UID and another content
    #: was kept (the store's ``conflicts``)
    conflicts: int = 0

    def to_dict(self) -> dict[str, int]:
        """A plain dict (for ``--json``)."""
        return dict(self.__dict__)


def status_counts(store: Store) -> dict[str, int]:
    """Instances per status (``ingested`` when none was set); a store may offer its own
    ``status_counts()`` (one query instead of one look-up per instance)."""
    own = getattr(store, "status_counts", None)
    if own is not None:
        return dict(own())
    counts: dict[str, int] = {}
    for inst in store.iter_instances():
        status = store.get_status(inst.sop_instance_uid) or "ingested"
        counts[status] = counts.get(status, 0) + 1
    return counts


def store_outcome(store: Store) -> StoreOutcome:
    """Count what the exit code depends on."""
    per_status = status_counts(store)
    rejected = withheld = 0
    for rejection in store.iter_rejected():
        if rejection.stage in WITHHELD_STAGES:
            withheld += 1
        elif rejection.stage not in NOT_REJECTED:
            rejected += 1
    return StoreOutcome(instances=sum(per_status.values()),
                        failed=per_status.get("failed", 0),
                        withheld=withheld + sum(per_status.get(s, 0) for s in WITHHELD_STATUSES),
                        rejected=rejected, conflicts=store.counts().conflicts)


def exit_code_for(store: Store, summaries: Iterable[Any] = (), *,
                  nothing_selected: bool = False) -> int:
    """The exit code of a run that just finished on ``store``: ``1`` when an instance of the
    store failed (or a plugin failed during this run), ``4`` when there was nothing to do
    (no instance at all, or ``nothing_selected``: a query that selected none), ``3`` when
    inputs were rejected or lost to a UID conflict, or instances withheld, else ``0``."""
    summaries = list(summaries)
    outcome = store_outcome(store)
    if outcome.failed or any(s.failed or s.plugin_errors for s in summaries):
        return EXIT_FAILURE
    if (outcome.instances == 0 and not outcome.withheld) or nothing_selected:
        return EXIT_NOTHING  # no DICOM found (or every input rejected), or none selected
    if outcome.withheld or outcome.rejected or outcome.conflicts:
        return EXIT_INCOMPLETE
    return EXIT_OK


__all__ = [
    "EXIT_FAILURE", "EXIT_INCOMPLETE", "EXIT_INTERRUPTED", "EXIT_NOTHING", "EXIT_OK",
    "EXIT_PIPE", "EXIT_REJECTED", "EXIT_USAGE", "NOT_REJECTED", "StoreOutcome", "TABLE",
    "WITHHELD_STAGES", "WITHHELD_STATUSES", "exit_code_for", "status_counts", "store_outcome",
    "table_markdown",
]
