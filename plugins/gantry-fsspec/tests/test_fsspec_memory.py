"""The fsspec ingestor on fsspec's in-memory file system: discovery, order, counts, errors, and
a whole ``deidentify`` whose output equals the same files' from a folder."""

from __future__ import annotations

import uuid
from pathlib import Path

import fsspec
import pytest
from gantry_fsspec import ingest, plugin

from gantry import Session
from gantry.errors import ExportError, InputError, PluginError
from gantry.testing.factory import write_cohort

SECRET = bytes(range(32))


@pytest.fixture
def root():
    """A fresh ``memory://`` folder, removed afterwards."""
    fs = fsspec.filesystem("memory")
    base = f"/t-{uuid.uuid4().hex}"
    yield fs, base
    if fs.exists(base):
        fs.rm(base, recursive=True)


def _put(fs, base: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        fs.pipe_file(f"{base}/{name}", data)


def _cohort_in_memory(fs, prefix: str, folder: Path, **sizes: int) -> Path:
    """A cohort written to ``folder`` and copied under ``prefix`` of the memory file system."""
    cohort = write_cohort(folder, studies=1, rows=16, cols=16, **sizes)
    for path in sorted(p for p in cohort.root.rglob("*") if p.is_file()):
        fs.pipe_file(f"{prefix}/{path.relative_to(cohort.root).as_posix()}", path.read_bytes())
    return cohort.root


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_discover_walks_levels_in_name_order(root):
    fs, base = root
    _put(fs, base, {"b/2.dcm": b"22", "b/1.dcm": b"1", "a.dcm": b"aaa", "c/d/e.dcm": b"e",
                    "z.dcm": b"z"})
    items = list(ingest.discover(f"memory://{base}"))
    assert [i.source for i in items] == [f"memory://{base}/{n}" for n in
                                         ("a.dcm", "z.dcm", "b/1.dcm", "b/2.dcm", "c/d/e.dcm")]
    assert [i.size for i in items] == [3, 1, 1, 2, 1]
    assert all(i.mtime > 0 for i in items)  # the memory store's creation time
    assert ingest.count(f"memory://{base}") == 5
    single = list(ingest.discover(f"memory://{base}/b/2.dcm"))
    assert [(i.source, i.size) for i in single] == [(f"memory://{base}/b/2.dcm", 2)]
    assert ingest.count(f"memory://{base}/b/2.dcm") == 1
    assert ingest.open_source(f"memory://{base}/b/2.dcm").read() == b"22"


def test_missing_input_and_unknown_protocol_are_named(root):
    _fs, base = root
    with pytest.raises(FileNotFoundError, match=f"input not found: memory://{base}/nope"):
        list(ingest.discover(f"memory://{base}/nope"))
    assert ingest.count(f"memory://{base}/nope") is None
    with pytest.raises(OSError, match=f"memory://{base}/gone.dcm"):
        ingest.open_source(f"memory://{base}/gone.dcm")
    with pytest.raises(PluginError, match="nosuchproto://x"):
        list(ingest.discover("nosuchproto://x/y"))


def test_a_store_that_cannot_be_listed_is_an_input_error(root, monkeypatch):
    fs, base = root
    _put(fs, base, {"a.dcm": b"a"})

    def refuse(*args, **kwargs):
        raise ConnectionError("connection refused")

    def deny(*args, **kwargs):
        raise RuntimeError("the store said no")

    monkeypatch.setattr(type(fs), "ls", refuse)
    with pytest.raises(InputError, match=r"cannot list.*ConnectionError: connection refused"):
        list(ingest.discover(f"memory://{base}"))
    monkeypatch.setattr(type(fs), "cat_file", deny)  # a store's own error type
    with pytest.raises(OSError, match=r"a\.dcm: RuntimeError: the store said no"):
        ingest.open_source(f"memory://{base}/a.dcm")
    monkeypatch.setattr(type(fs), "cat_file", refuse)
    with pytest.raises(OSError, match=r"a\.dcm: connection refused"):
        ingest.open_source(f"memory://{base}/a.dcm")


@pytest.mark.parametrize(("info", "expected"), [
    ({"mtime": 12.5}, 12.5),
    ({"LastModified": __import__("datetime").datetime(2024, 1, 2, tzinfo=__import__(
        "datetime").timezone.utc)}, 1704153600.0),
    ({"updated": "2024-01-02T00:00:00Z"}, 1704153600.0),
    ({"updated": "not a date", "created": 7}, 7.0),
    ({"size": 3}, 0.0),
])
def test_modification_times_of_the_usual_stores(info, expected):
    assert ingest._mtime(info) == expected


def test_the_plugin_claims_remote_schemes_only():
    assert "s3" in plugin.SCHEMES and "memory" in plugin.SCHEMES
    assert not {"file", "zip", "http", "https"} & set(plugin.SCHEMES)
    with Session("memory://", profile="ps3.15/basic", workers=1, secret=SECRET) as s:
        assert s.hooks.ingestor_for("s3://bucket/prefix").name == "fsspec"
        assert s.hooks.ingestor_for("/some/folder").name == "folder"


def test_deidentify_from_memory_equals_from_a_folder(root, tmp_path):
    fs, base = root
    cohort = _cohort_in_memory(fs, base, tmp_path / "in", patients=2, series=2, instances=3)
    fs.pipe_file(f"{base}/zz-broken.dcm", b"not dicom")
    outs = {}
    for name, src in (("folder", str(cohort)), ("memory", f"memory://{base}")):
        with Session(f"sqlite:///{tmp_path / name}.db", profile="ps3.15/basic", workers=1,
                     secret=SECRET) as s:
            ingested, exported = s.deidentify(src, tmp_path / f"out-{name}")
            outs[name] = (ingested, exported)
            assert exported.failed == 0
            if name == "memory":  # the same command again: everything is already done
                again = s.deidentify(src, tmp_path / f"out-{name}")
                assert again[0].done == 0 and again[0].skipped == ingested.done + 1
    assert outs["memory"][0].done == outs["folder"][0].done == 12
    assert outs["memory"][0].rejected == 1  # the non-DICOM object, recorded and skipped
    assert outs["memory"][1].done == 12
    assert _tree(tmp_path / "out-memory") == _tree(tmp_path / "out-folder")


def test_deidentify_into_memory_writes_the_folder_layout(root, tmp_path):
    fs, base = root
    cohort = write_cohort(tmp_path / "in", patients=1, studies=1, series=2, instances=2,
                          rows=16, cols=16)
    with Session(f"sqlite:///{tmp_path / 'a.db'}", profile="ps3.15/basic", workers=1,
                 secret=SECRET) as s:
        _ingested, to_folder = s.deidentify(cohort.root, tmp_path / "out")
    with Session(f"sqlite:///{tmp_path / 'b.db'}", profile="ps3.15/basic", workers=1,
                 secret=SECRET) as s:
        _ingested, exported = s.deidentify(cohort.root, f"memory://{base}/out")
        assert exported.done == 4 and exported.failed == 0
        records = list(s.store.iter_exports(f"memory://{base}/out"))
    local = _tree(tmp_path / "out")
    remote = {p[len(f"{base}/out/"):]: fs.cat_file(p) for p in fs.find(f"{base}/out")}
    # the manifests too, put through the same sink: the folder run's bytes
    assert len([k for k in local if k.endswith(".dcm")]) == 4 and remote == local
    assert sorted(r.path for r in records) == sorted(k for k in local if k.endswith(".dcm"))
    # both runs took the byte pass, none fell back to the full pipeline
    assert (to_folder.byte_pass, exported.byte_pass, to_folder.fallbacks, exported.fallbacks) \
        == (4, 4, 0, 0)


def test_the_sink_refuses_paths_outside_its_destination(root):
    from gantry_fsspec.export import FsspecDicomSink

    from gantry.components import ExportTarget
    from gantry.errors import ExportError

    _fs, base = root
    sink = FsspecDicomSink(ExportTarget(to=f"memory://{base}/out", format="dicom"))
    for bad in ("../x.dcm", "/abs.dcm", "a/../../x.dcm", "a\\b.dcm", "a//b.dcm", ""):
        with pytest.raises(ExportError, match="not a file path inside"):
            sink.write(bad, b"x", None, None)


def test_an_export_into_or_over_its_input_url_is_refused(root, tmp_path):
    fs, base = root
    _cohort_in_memory(fs, f"{base}/in", tmp_path / "in", patients=1, series=1, instances=1)
    with Session("memory://", profile="ps3.15/basic", workers=1, secret=SECRET) as s:
        for dest in (f"memory://{base}/in/out", f"memory://{base}/in/", f"memory://{base}"):
            with pytest.raises(ExportError, match="refusing to export into or over the input"):
                s.deidentify(f"memory://{base}/in", dest)
        assert s.deidentify(f"memory://{base}/in", f"memory://{base}/in-out")[1].done == 1
    assert len(fs.find(f"{base}/in")) == 1  # the input holds only what it held
