"""A redactor with ``runs_in="series"`` is handed each whole series before its instances are
redacted (``begin_series``), in every stage that runs the stack, past the 64-instance units
and in ``deidentify``'s two passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gantry import Session
from gantry.testing.factory import write_cohort

HOOKS = '''
import json
from pathlib import Path
from gantry import hookimpl
from gantry.api import Redactor

LOG = Path(__file__).with_name("calls.jsonl")


class Volume:
    def __init__(self):
        self.series = None

    def begin_series(self, instances):
        uids = {inst.series_instance_uid for inst in instances}
        loaded = all(inst.load(pixels=False) is not None for inst in instances)
        with LOG.open("a") as fh:
            fh.write(json.dumps({"begin": len(instances), "series": len(uids),
                                 "loaded": loaded}) + "\\n")
        self.series = (uids.pop(), len(instances))

    def redact(self, ds, context):
        uid = context.instance.series_instance_uid
        if self.series is None or self.series[0] != uid:
            raise RuntimeError("redacted before its series was begun")
        return []


@hookimpl
def gantry_redactors():
    yield Redactor("volume-check", factory=lambda run: Volume(), runs_in="series")
'''


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    write_cohort(tmp_path / "in", patients=1, series=2, instances=70, rows=8, cols=8)
    (tmp_path / "volume.py").write_text(HOOKS)
    (tmp_path / "p.yaml").write_text("extends: ps3.15/basic\nredact: [ps315-tags, volume-check]\n"
                                     "local_hooks: [volume.py]\n")
    return tmp_path


def _calls(root: Path) -> list[dict]:
    path = root / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_deidentify_hands_each_whole_series(cohort: Path) -> None:
    with Session("memory://", profile=str(cohort / "p.yaml"), workers=1) as session:
        _, export = session.deidentify(cohort / "in", cohort / "out")
    assert export.done == 140 and not export.failed, export.errors
    assert _calls(cohort) == [{"begin": 70, "series": 1, "loaded": True}] * 2


def test_export_and_redact_stages_hand_each_whole_series(cohort: Path) -> None:
    with Session("memory://", profile=str(cohort / "p.yaml"), workers=1) as session:
        session.ingest(cohort / "in")
        redacted = session.redact()
        exported = session.export(cohort / "out")
        verified = session.audit(after_redaction=True)
    assert redacted.done == exported.done == verified.done == 140, exported.errors
    assert _calls(cohort) == [{"begin": 70, "series": 1, "loaded": True}] * 6
