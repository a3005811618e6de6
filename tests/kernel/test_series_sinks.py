"""Exporters with ``runs_in="series"``: each series reaches one sink whole (however large,
however its files were interleaved), the sink's outcome becomes records or one note per
reason, ``prepare`` and ``finish`` run once in the main process."""

from __future__ import annotations

import json
from pathlib import Path

from gantry import Session
from gantry.testing.factory import make_instance

SECRET = bytes(range(32))

HOOKS = '''
import json, os
from pathlib import Path
from gantry import hookimpl
from gantry.api import Exporter, ExportRecord, SeriesOutcome


class CountingSink:
    def __init__(self, target, run):
        self.destination = target.to
        self.root = Path(target.to)
        self.options = target.options
        self.items = []

    def target_path(self, dataset, context):
        return ""

    def write(self, relpath, data, dataset, context):
        self.items.append((context.instance.sop_instance_uid, str(dataset.SeriesNumber)))

    def finish_series(self):
        number = self.items[0][1]
        if number == "2":
            return SeriesOutcome(skipped={uid: f"series {number}: refused (test)"
                                          for uid, _n in self.items})
        self.root.mkdir(parents=True, exist_ok=True)
        rel = f"series-{number}.json"
        body = json.dumps({"instances": len(self.items), "pid": os.getpid(),
                           "prepared": self.options.get("prepared")}).encode()
        (self.root / rel).write_bytes(body)
        return SeriesOutcome(records={uid: [ExportRecord(uid, uid, self.destination, rel,
                                                         len(body), "0", format="count")]
                                      for uid, _n in self.items})

    def close(self):
        pass


def _prepare(target, run, store):
    return {"prepared": sum(1 for _ in store.iter_series())}


def _finish(target, run):
    Path(target.to, "finished").write_text("yes")
    return ["count: finished"]


@hookimpl
def gantry_exporters():
    yield Exporter("count", factory=CountingSink, runs_in="series", prepare=_prepare,
                   finish=_finish)
'''


def test_whole_series_one_sink_each_with_notes_prepare_and_finish(tmp_path: Path) -> None:
    (tmp_path / "series_hooks.py").write_text(HOOKS)
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nlocal_hooks: [series_hooks.py]\n")
    src = tmp_path / "src"
    src.mkdir()
    counts = {0: 70, 1: 3, 2: 5}  # SeriesNumber 1 (70 > one unit of 64), 2 (refused), 3
    for i in range(max(counts.values())):  # files interleaved: one of each series in turn
        for series, count in counts.items():
            if i < count:
                ds = make_instance(series=series, instance=i, phi=False)
                ds.save_as(src / f"{i:03d}-{series}.dcm", enforce_file_format=True)
    out = tmp_path / "out"
    with Session("memory://", profile=str(profile), secret=SECRET, workers=2) as session:
        _ingest, export = session.deidentify(str(src), str(out), format="count")
        assert export.failed == 0, export.errors
        assert export.done == 75 and export.skipped == 3
        assert export.notes == ["series 2: refused (test)", "count: finished"]
        written = {p.name: json.loads(p.read_text()) for p in out.glob("series-*.json")}
        assert {k: v["instances"] for k, v in written.items()} == \
            {"series-1.json": 70, "series-3.json": 5}
        assert {v["prepared"] for v in written.values()} == {3}
        assert (out / "finished").read_text() == "yes"
        # resumed: nothing is redone, the refused series is tried (and refused) again
        again = session.export(str(out), format="count")
        assert again.done == 0 and again.skipped == 75 + 3


UNIT_HOOKS = '''
from gantry import hookimpl
from gantry.api import Exporter, ExportRecord, SeriesOutcome


class ConfirmingSink:
    """Holds every instance until the unit ends; then confirms odd instance numbers and
    fails even ones (as a PACS's storage commitment report might)."""

    def __init__(self, target, run):
        self.destination = target.to
        self.held = []

    def target_path(self, dataset, context):
        return ""

    def write(self, relpath, data, dataset, context):
        self.held.append((context.instance.sop_instance_uid, int(dataset.InstanceNumber)))

    def finish_series(self):
        out = SeriesOutcome()
        for uid, number in self.held:
            if number % 2:
                out.records[uid] = [ExportRecord(uid, uid, self.destination, "", 0, "0",
                                                 format="confirm")]
            else:
                out.failed[uid] = f"instance {number}: not confirmed (test)"
        self.held = []
        return out

    def close(self):
        pass


@hookimpl
def gantry_exporters():
    yield Exporter("confirm", factory=ConfirmingSink, finish=lambda target, run: ["confirmed"])
'''


def test_a_worker_sink_settles_its_unit_in_finish_series(tmp_path: Path) -> None:
    """A worker sink (not ``runs_in="series"``) that offers ``finish_series``: it is called
    at the end of each unit, by ``deidentify``'s single pass too, and its ``failed``
    instances fail with its reason (not exported), its records are recorded; the
    exporter's ``finish`` runs after that pass too."""
    (tmp_path / "unit_hooks.py").write_text(UNIT_HOOKS)
    profile = tmp_path / "p.yaml"
    profile.write_text("extends: ps3.15/basic\nlocal_hooks: [unit_hooks.py]\n")
    src = tmp_path / "src"
    src.mkdir()
    for i in range(1, 7):
        make_instance(instance=i, phi=False).save_as(src / f"{i}.dcm", enforce_file_format=True)
    out = str(tmp_path / "out")
    with Session("memory://", profile=str(profile), secret=SECRET, workers=1) as session:
        _ingest, export = session.deidentify(str(src), out, format="confirm")
        assert (export.done, export.failed) == (3, 3), export.errors
        assert export.notes == ["confirmed"]  # finish: run by the single pass as by export
        assert len(session.store.exported_uids(out)) == 3
        assert sorted(e.rsplit(": ", 2)[-2] for e in export.errors) == \
            ["instance 2", "instance 4", "instance 6"]
        again = session.export(out, format="confirm")
        assert (again.done, again.failed, again.skipped) == (0, 3, 3)
