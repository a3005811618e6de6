"""The progress bar's total: inputs counted beside the run, and every input ticked off."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import pytest

from gantry.builtins.folder_ingest import count, discover
from gantry.input_count import InputCount
from gantry.session import Session
from gantry.testing.factory import write_cohort

SECRET = bytes(range(32))


def _tree(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    (data / "b" / "deep").mkdir(parents=True)
    for rel in ("z.dcm", "b/2.dcm", "b/deep/3.dcm", "b/not-a-zip.zip"):
        (data / rel).write_bytes(b"x")
    with zipfile.ZipFile(data / "b" / "bundle.ZIP", "w") as zf:
        zf.writestr("folder/", b"")
        for name in ("folder/1.dcm", "2.dcm", "3.dcm"):
            zf.writestr(name, b"y")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.dcm").write_bytes(b"o")
    os.symlink(outside, data / "linked-folder")  # not followed: one item, skipped
    os.symlink(outside / "o.dcm", data / "linked.dcm")  # one input
    os.symlink(tmp_path / "missing", data / "broken")  # one item, rejected
    return data


def test_folder_count_is_what_discover_yields(tmp_path: Path):
    data = _tree(tmp_path)
    assert count(str(data)) == len(list(discover(str(data)))) == 10
    assert count(f"file://{data}") == 10
    assert sum(bool(item.refused) for item in discover(str(data))) == 2
    assert count(str(data / "b" / "bundle.ZIP")) == len(list(discover(str(data / "b" /
                                                                          "bundle.ZIP")))) == 3
    assert count(str(data / "z.dcm")) == 1
    assert count(str(tmp_path / "missing")) is None


def test_an_input_count_counts_once_on_a_thread_and_forgives_failures():
    calls: list[str] = []

    def counting(uri: str) -> int:
        calls.append(uri)
        return 42

    counter = InputCount(counting, "/data")
    assert counter.total is None
    counter.start()
    counter.start()
    counter.join(10)
    assert (counter.total, calls) == (42, ["/data"])

    def failing(uri: str) -> int:
        raise PermissionError(uri)

    for fn in (failing, lambda uri: -1, lambda uri: "many"):
        counter = InputCount(fn, "/data")  # type: ignore[arg-type]
        counter.start()
        counter.join(10)
        assert counter.total is None

    class NoCount:
        count = None

    unwanted = InputCount.for_ingestor(object(), "/data", wanted=True)
    for counter in (unwanted, InputCount.for_ingestor(NoCount(), "/data", wanted=True),
                    InputCount.for_ingestor(type("C", (), {"count": counting})(), "/x",
                                            wanted=False)):
        counter.start()
        assert counter._thread is None and counter.total is None


@pytest.mark.parametrize("stage", ["deidentify", "ingest"])
def test_progress_totals_every_input_and_ticks_them_all(tmp_path: Path, monkeypatch, stage):
    """The ingest bar gets the counted total once the first results are in, counts every
    input whatever became of it (rejected, skipped on a resume), and ends at the total."""
    src = tmp_path / "src"
    write_cohort(src, patients=1, series=1, instances=40)
    (src / "README.txt").write_bytes(b"not an image")
    inputs = len(list(discover(str(src))))
    assert inputs == 41
    monkeypatch.setattr(InputCount, "start", InputCount._run)  # counted at once, here
    ticks: list[tuple[int, int | None]] = []

    def progress(name: str, done: int, total: int | None, nbytes: int) -> None:
        if name == "ingest":
            ticks.append((done, total))

    db = f"sqlite:///{tmp_path / 'run.db'}"
    for attempt in range(2):  # the second run resumes: every input is skipped
        ticks.clear()
        with Session(db, workers=1, secret=SECRET, progress=progress) as session:
            if stage == "deidentify":
                session.deidentify(src, tmp_path / "out")
            else:
                session.ingest(src)
        assert ticks[-1] == (inputs, inputs)
        if attempt == 0:  # two units of 32 inputs at most: a tick before the end has it
            assert len(ticks) == 3 and ticks[0] == (32, inputs)
