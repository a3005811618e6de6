"""The one-shot pass's roster read (``pipeline.patient_identities``): the patients of every
input that ingest would take, read through the raw header reader for small files (one read
of the file's size, no pydicom dataset), the same as the dataset reader finds."""

from __future__ import annotations

import os
from pathlib import Path

from gantry import pipeline
from gantry.context import RunSpec
from gantry.records import SourceItem
from gantry.sources import open_source
from gantry.testing import hostile
from gantry.testing.factory import make_instance, write_cohort

SECRET = bytes(range(32))


def _inputs(root: Path) -> list[SourceItem]:
    write_cohort(root, patients=3, series=1, instances=2)
    (root / "not-dicom.dcm").write_bytes(b"hello, not an image")
    (root / "empty.dcm").write_bytes(b"")
    (root / "truncated.dcm").write_bytes(hostile.short_pixel_data())
    (root / "garbled.dcm").write_bytes(hostile.unknown_vr())
    ds = make_instance(patient=7)
    del ds.SOPInstanceUID  # rejected: missing a required UID
    ds.save_as(root / "no-uid.dcm", enforce_file_format=False)
    other = make_instance(patient=5)  # no preamble, no file meta: read by the dataset reader
    del other.file_meta
    other.save_as(root / "bare.dcm", enforce_file_format=False, implicit_vr=True,
                  little_endian=True)
    return [SourceItem(str(p), size=p.stat().st_size)
            for p in sorted(root.rglob("*")) if p.is_file()]


def _reference(items: list[SourceItem]) -> list[tuple[str, str]]:
    """What reading each header with the dataset reader finds (rejected inputs left out)."""
    from gantry.reading import read_header

    found = set()
    for item in items:
        try:
            instance, _ = read_header(item, open_source)
        except Exception:
            continue
        found.add((instance.patient_id or "", instance.patient_name or ""))
    return sorted(found)


def _unit(items: list[SourceItem]) -> pipeline.IdentityUnit:
    return pipeline.IdentityUnit(RunSpec(profile="ps3.15/basic", secret=SECRET), "folder", items)


def test_same_patients_as_the_dataset_reader_without_building_datasets(tmp_path, monkeypatch):
    from gantry.dicom.rawheader import RawHeader

    items = _inputs(tmp_path / "src")
    expected = _reference(items)
    assert len(expected) == 4  # the cohort's three patients and the bare file's
    parsed: list[int] = []
    real_parse = RawHeader.parse.__func__
    monkeypatch.setattr(RawHeader, "parse",
                        classmethod(lambda cls, data: parsed.append(1) or real_parse(cls, data)))
    assert pipeline.patient_identities(_unit(items)) == expected
    assert len(parsed) >= 6  # every Part 10 file of the cohort went through the raw reader
    monkeypatch.setattr(pipeline, "_WHOLE_READ_MAX", 0)  # every file: its header only
    parsed.clear()
    assert pipeline.patient_identities(_unit(items)) == expected and not parsed


def test_a_small_file_is_read_in_one_buffer_of_its_size(tmp_path):
    """No 16 MiB buffer per file: one read of the listed size (and one byte more, to see the
    end); a file grown since it was listed is read on, up to the limit."""
    path = tmp_path / "a.dcm"
    path.write_bytes(b"x" * 1000)
    asked: list[int] = []

    def opener(source: str):  # type: ignore[no-untyped-def]
        fh = open(source, "rb")  # noqa: SIM115 (closed by the caller's with)
        real = fh.read
        fh_read = lambda n=-1: asked.append(n) or real(n)  # noqa: E731
        return _Reading(fh, fh_read)

    assert pipeline._small_file(SourceItem(str(path), size=1000), opener) == b"x" * 1000
    assert asked == [1001]
    asked.clear()
    grown = pipeline._small_file(SourceItem(str(path), size=600), opener)
    assert grown == b"x" * 1000 and asked[0] == 601 and len(asked) == 2
    assert pipeline._small_file(SourceItem(str(path), size=0), opener) is None
    os.unlink(path)
    assert pipeline._small_file(SourceItem(str(path), size=1000), opener) is None


class _Reading:
    """A file object whose ``read`` is observed."""

    def __init__(self, fh, read) -> None:  # type: ignore[no-untyped-def]
        self._fh, self.read = fh, read

    def __enter__(self):  # type: ignore[no-untyped-def]
        return self

    def __exit__(self, *exc) -> None:  # type: ignore[no-untyped-def]
        self._fh.close()
