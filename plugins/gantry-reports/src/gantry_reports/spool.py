"""Export records of the running export, spooled to a temporary file (memory stays flat)."""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
from collections.abc import Iterator
from typing import IO

from gantry.api import ExportRecord

_LOCK = threading.Lock()
_SPOOLS: dict[tuple[str, str], IO[str]] = {}
#: One spooled line is the JSON list of these fields' values (no ``asdict`` deep copy).
_FIELDS = tuple(f.name for f in dataclasses.fields(ExportRecord))


def add(run_id: str, record: ExportRecord) -> None:
    """Remember one export record of a run."""
    key = (run_id, record.destination)
    with _LOCK:
        fh = _SPOOLS.get(key)
        if fh is None:
            # lives across hook calls until the export finishes: closed by take()/discard()
            fh = _SPOOLS[key] = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        fh.write(json.dumps([getattr(record, name) for name in _FIELDS]) + "\n")


def take(run_id: str, destination: str) -> Iterator[ExportRecord]:
    """The records remembered for a run and destination (forgotten once read)."""
    with _LOCK:
        fh = _SPOOLS.pop((run_id, destination), None)
    if fh is None:
        return
    try:
        fh.seek(0)
        for line in fh:
            values = dict(zip(_FIELDS, json.loads(line), strict=True))
            if "fields" in values:  # JSON lists back to the record's pairs
                values["fields"] = tuple(tuple(pair) for pair in values["fields"])
            yield ExportRecord(**values)
    finally:
        fh.close()


def discard(run_id: str, destination: str) -> None:
    """Forget a run's records for a destination."""
    with _LOCK:
        fh = _SPOOLS.pop((run_id, destination), None)
    if fh is not None:
        fh.close()
