"""Reviewers' decisions in force: which instances are withheld from every export.

A :class:`~gantry.records.Decision` (``approve`` or ``withhold``, with a reason, who and when)
is appended to the store by :meth:`gantry.session.Session.decide`; the last decision of an
instance is the one in force. :meth:`~gantry.session.Session.export` and the resume pass of
:meth:`~gantry.session.Session.deidentify` leave withheld instances out before any work is
sent to the workers, so nothing of theirs reaches the encoder, the export gate or a sink; they
count as ``withheld`` in the stage summary, get the status ``withheld`` and an audit event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gantry.protocols import Store
    from gantry.records import Decision


def decisions_in_force(store: Store) -> dict[str, Decision]:
    """The last decision of every instance that has one, by original SOP Instance UID."""
    latest: dict[str, Decision] = {}
    for decision in store.iter_decisions():
        latest[decision.sop_instance_uid] = decision
    return latest


def withheld_uids(store: Store) -> set[str]:
    """Original SOP Instance UIDs whose decision in force is ``withhold``."""
    return {uid for uid, d in decisions_in_force(store).items() if d.action == "withhold"}
