"""``header_from_bytes`` builds the dataset ``dcmread(..., stop_before_pixels=True)`` builds,
and ``read_header`` gives the same instance and digest either way."""

from __future__ import annotations

import io
import os
from pathlib import Path

from pydicom import dcmread

from gantry.dicom.header import header_from_bytes
from gantry.reading import read_header
from gantry.records import SourceItem
from gantry.testing.factory import bundled_test_files as get_testdata_files
from gantry.testing.factory import write_cohort


def _elements(ds) -> list:
    from pydicom.dataelem import RawDataElement

    out = []
    for tag, elem in list(ds._dict.items()):
        if isinstance(elem, RawDataElement) and elem.length != 0xFFFFFFFF:
            out.append((int(tag), tuple(elem)))
        else:  # an undefined-length sequence: parsed by dcmread, decoded on access here
            elem = ds[tag]
            out.append((int(tag), elem.VR, repr(elem.value), elem.file_tell,
                        elem.is_undefined_length,
                        [item.file_tell for item in elem.value] if elem.VR == "SQ" else None))
    return out


def _files(tmp_path: Path) -> list[Path]:
    write_cohort(tmp_path / "cohort", patients=1, series=2, instances=2)
    files = sorted((tmp_path / "cohort").rglob("i*"))
    files += [Path(p) for p in get_testdata_files("*.dcm") if os.path.getsize(p) < 8 << 20]
    return files


def test_same_dataset_as_dcmread(tmp_path):
    built = 0
    for path in _files(tmp_path):
        data = path.read_bytes()
        fast = header_from_bytes(data)
        if fast is None:
            continue
        ds, end = fast
        fh = io.BytesIO(data)
        ref = dcmread(fh, stop_before_pixels=True)
        assert end == fh.tell(), path
        assert _elements(ds) == _elements(ref), path
        assert list(ds.keys()) == list(ref.keys()), path
        assert ds.file_meta == ref.file_meta, path
        assert ds.preamble == ref.preamble, path
        assert ds.original_encoding == ref.original_encoding, path
        assert ds.original_character_set == ref.original_character_set, path
        assert ds._character_set == ref._character_set, path
        assert (ds.filename, ds.fileobj_type) == (ref.filename, ref.fileobj_type), path
        built += 1
    assert built >= 25


def test_read_header_same_instance_either_way(tmp_path):
    for path in _files(tmp_path):
        data = path.read_bytes()
        if header_from_bytes(data) is None:
            continue
        item = SourceItem(str(path), size=len(data))
        opener = lambda _s, data=data: io.BytesIO(data)  # noqa: E731
        fast, full = _outcome(item, opener, data), _outcome(item, opener, None)
        if isinstance(full, str):
            assert fast == full, path  # the same rejection, with the same reason
            continue
        assert fast[0] == full[0], path
        assert fast[0].digest == full[0].digest, path
        assert _elements(fast[1]) == _elements(full[1]), path


def test_raw_header_gives_the_same_instance_and_values(tmp_path):
    """``read_header(..., raw=True)`` reads a file through :class:`RawHeader` where it can:
    the same instance, digest and rejection as through the dataset, and every value
    ``RawHeader.value`` gives is the dataset's."""
    from pydicom.datadict import keyword_for_tag, tag_for_keyword

    from gantry.dicom.rawheader import RawHeader

    taken = 0
    for path in _files(tmp_path):
        data = path.read_bytes()
        if RawHeader.parse(data) is None:
            continue  # (the dataset path reads it)
        assert header_from_bytes(data) is not None, path  # only files that one reads too
        item = SourceItem(str(path), size=len(data))
        opener = lambda _s, data=data: io.BytesIO(data)  # noqa: E731
        raw, full = _outcome(item, opener, data, raw=True), _outcome(item, opener, None)
        if isinstance(full, str):
            assert raw == full, path
            continue
        assert isinstance(raw[1], RawHeader), path
        assert raw[0] == full[0] and raw[0].digest == full[0].digest, path
        header, ds = raw[1], full[1]
        for span in header.spans:
            keyword = keyword_for_tag(span.tag)
            if keyword and tag_for_keyword(keyword) == span.tag:  # (not a repeating group)
                assert header.value(span.tag, keyword) == ds.get(keyword), (path, keyword)
        assert header.dataset().keys() == ds.keys(), path
        taken += 1
    assert taken >= 25


def _outcome(item, opener, data, raw=False):
    from gantry.errors import InputError

    try:
        return read_header(item, opener, data, raw=raw)
    except InputError as exc:
        return f"{type(exc).__name__}: {exc}"


def _ingested(tmp_path: Path, name: str, src: Path) -> tuple[list, list]:
    from gantry.session import Session

    session = Session(f"sqlite:///{tmp_path / name}", profile="ps3.15/basic",
                      secret=bytes(range(32)), workers=1)
    try:
        summary = session.ingest(src)
        assert summary.done == 4 and summary.failed == 0
        store = session.store
        instances = sorted(store.iter_instances(), key=lambda i: i.sop_instance_uid)
        headers = [sorted((e.keyword, repr(e.value)) for e in
                          store.get_header(i.sop_instance_uid) if e.keyword != "PixelData")
                   for i in instances]
        return instances, headers
    finally:
        session.close()


def test_two_step_ingest_reads_small_files_through_raw_header(tmp_path, monkeypatch):
    """``gantry ingest`` (and the ingest half of a series export's ``deidentify``) reads a
    small Part 10 file whole and indexes it through :class:`RawHeader`, as the one-shot pass
    does: the store holds the same instances and headers as through the dataset reader."""
    import gantry.pipeline as pipeline
    from gantry.dicom.rawheader import RawHeader

    src = tmp_path / "cohort"
    write_cohort(src, patients=1, series=2, instances=2)
    parsed = []
    real_parse = RawHeader.parse.__func__
    monkeypatch.setattr(RawHeader, "parse",
                        classmethod(lambda cls, data: parsed.append(1) or real_parse(cls, data)))
    raw = _ingested(tmp_path, "raw.db", src)
    assert len(parsed) == 4
    monkeypatch.setattr(pipeline, "_WHOLE_READ_MAX", 0)  # every file: header only
    parsed.clear()
    dataset = _ingested(tmp_path, "dataset.db", src)
    assert not parsed
    assert raw == dataset
