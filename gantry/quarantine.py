"""``--quarantine DIR``: copies of the inputs a run did not write, each with a reason file.

Inputs are *copied*, never moved (the originals are never touched), into
``DIR/<kind>/<name>`` where kind is ``rejected`` (not DICOM, truncated...), ``withheld``
(filters, ``--query``, lookup refusals) or ``failed`` (the export failed or the gate refused
it), with ``<name>.reason.txt`` beside each copy: the source, the kind and the reason. What is
copied comes from the store's state, so a resumed run quarantines what the first run found;
a copy already there is left as it is. DIR holds original files (PHI): it is created 0700.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gantry.workstore import private_dir

if TYPE_CHECKING:
    from gantry.session import Session


@dataclass
class QuarantineReport:
    """How many inputs were copied (new) and were there already, per kind."""

    copied: dict[str, int]
    present: int = 0
    unreadable: list[str] | None = None


def _name_for(source: str) -> str:
    """A flat, unique file name for a source (its base name plus a short hash of it)."""
    base = source.rstrip("/").replace("!", "/").rsplit("/", 1)[-1] or "input"
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{digest}-{base}"


def _failures(session: Session) -> list[tuple[str, str]]:
    """``(source, reason)`` of the instances whose status is ``failed`` (reason from the
    audit log's last ``failed`` event of the instance)."""
    failed = [inst for inst in session.store.iter_instances()
              if session.store.get_status(inst.sop_instance_uid) == "failed"]
    if not failed:
        return []
    reasons: dict[str, str] = {}
    for event in session.store.iter_events():
        if event.kind == "failed":
            detail = event.detail or {}
            reasons[event.subject] = f"{detail.get('stage', '')}: {detail.get('error', '')}"
    return [(inst.source, reasons.get(session.run.map_uid(inst.sop_instance_uid), "failed"))
            for inst in failed]


def quarantine(session: Session, folder: str | os.PathLike[str]) -> QuarantineReport:
    """Copy every rejected, withheld and failed input of the session's store into ``folder``."""
    root = private_dir(folder)
    items: list[tuple[str, str, str]] = []
    for rejection in session.store.iter_rejected():
        if rejection.stage == "index":
            continue
        kind = "withheld" if rejection.stage == "withheld" else "rejected"
        items.append((kind, rejection.source, rejection.reason))
    items.extend(("failed", source, reason) for source, reason in _failures(session))
    report = QuarantineReport(copied={}, unreadable=[])
    for kind, source, reason in items:
        target = private_dir(root / kind) / _name_for(source)
        if target.exists():
            report.present += 1
            continue
        try:
            _copy(session, source, target)
        except OSError as exc:
            assert report.unreadable is not None
            report.unreadable.append(f"{source}: cannot copy ({exc.strerror or exc})")
            continue
        note = target.with_name(target.name + ".reason.txt")
        fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(f"source: {source}\nkind: {kind}\nreason: {reason}\n"
                     f"run: {session.run.run_id}\n")
        report.copied[kind] = report.copied.get(kind, 0) + 1
    return report


def _copy(session: Session, source: str, target: Path) -> None:
    """Copy one input's bytes (a local file with its times; anything else through its
    ingestor's opener) to ``target``, owner-only, atomically."""
    tmp = target.with_name(target.name + ".part")
    if "://" not in source and Path(source).is_file():
        shutil.copyfile(source, tmp)
        shutil.copystat(source, tmp)
    else:
        opener = session.hooks.ingestor_for(source).open
        with opener(source) as fh, open(tmp, "wb") as out:
            shutil.copyfileobj(fh, out)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


__all__ = ["QuarantineReport", "quarantine"]
