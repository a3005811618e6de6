"""How the DICOM-folder sink puts a file in place: whole or not at all, over an older output,
on file systems with and without unnamed files, leaving nothing behind when interrupted."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
from pydicom import Dataset

from gantry.builtins import dicom_export
from gantry.builtins.dicom_export import DicomFolderSink
from gantry.components import ExportTarget
from gantry.errors import ExportError


def _sink(root: Path) -> DicomFolderSink:
    return DicomFolderSink(ExportTarget(to=str(root), format="dicom", options={}))


def _dataset() -> Dataset:
    ds = Dataset()
    ds.SOPInstanceUID = "2.25.1"
    return ds


def _context(uid: str = "1.2.3") -> SimpleNamespace:
    return SimpleNamespace(instance=SimpleNamespace(sop_instance_uid=uid))


def _names(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed-file", "temporary-file"])
def test_write_then_overwrite(tmp_path: Path, monkeypatch, unnamed: bool) -> None:
    """A new file, then a second write of the same path (a re-export): the newer bytes win,
    and only the outputs are in the folder."""
    if unnamed and not dicom_export._UNNAMED_FILES:
        pytest.skip("no O_TMPFILE here")
    monkeypatch.setattr(dicom_export, "_UNNAMED_FILES", unnamed)
    linked: list[str] = []
    real = dicom_export._write_linked

    def spy(*args):
        try:
            mtime = real(*args)
        except FileExistsError:
            linked.append("exists")
            raise
        linked.append("linked" if mtime else repr(mtime))
        return mtime

    monkeypatch.setattr(dicom_export, "_write_linked", spy)
    sink = _sink(tmp_path)
    first = sink.write("p/st/se/a.dcm", b"first", _dataset(), _context())
    assert (tmp_path / "p/st/se/a.dcm").read_bytes() == b"first" and first.size == 5
    second = sink.write("p/st/se/a.dcm", b"second!", _dataset(), _context())
    assert (tmp_path / "p/st/se/a.dcm").read_bytes() == b"second!"
    assert second.size == 7 and second.sha256 != first.sha256
    assert _names(tmp_path) == ["p/st/se/a.dcm"]
    assert sink._unnamed is unnamed  # a taken name falls back for that file only
    assert linked == (["linked", "exists"] if unnamed else [])
    # the record knows the file as written: same size and modification time
    stat = os.stat(tmp_path / "p/st/se/a.dcm")
    assert (second.size, second.mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert first.mtime_ns > 0
    mode = os.stat(tmp_path / "p/st/se/a.dcm").st_mode & 0o777
    assert mode == 0o644 & ~_umask()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_file_system_without_unnamed_files_falls_back_for_good(tmp_path: Path,
                                                               monkeypatch) -> None:
    """``O_TMPFILE`` refused (an older kernel, a network file system): the sink writes a
    temporary file and renames it, and stops trying unnamed files."""
    calls: list[str] = []

    def refuse(folder: str, path: str, data: bytes) -> None:
        calls.append(path)
        return None

    monkeypatch.setattr(dicom_export, "_UNNAMED_FILES", True)
    monkeypatch.setattr(dicom_export, "_write_linked", refuse)
    sink = _sink(tmp_path)
    for name in ("a", "b", "c"):
        sink.write(f"x/{name}.dcm", name.encode(), _dataset(), _context())
    assert len(calls) == 1 and sink._unnamed is False
    assert _names(tmp_path) == ["x/a.dcm", "x/b.dcm", "x/c.dcm"]
    assert (tmp_path / "x/b.dcm").read_bytes() == b"b"


@pytest.mark.skipif(not dicom_export._UNNAMED_FILES, reason="no O_TMPFILE here")
def test_interrupted_unnamed_write_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C while the bytes are written: no file under the name, no stray file at all."""
    real_write = os.write

    def interrupted(fd: int, data) -> int:
        raise KeyboardInterrupt

    sink = _sink(tmp_path)
    monkeypatch.setattr(dicom_export.os, "write", interrupted)
    with pytest.raises(KeyboardInterrupt):
        sink.write("p/a.dcm", b"data", _dataset(), _context())
    monkeypatch.setattr(dicom_export.os, "write", real_write)
    assert _names(tmp_path) == [] and (tmp_path / "p").is_dir()


@pytest.mark.skipif(not dicom_export._UNNAMED_FILES, reason="no O_TMPFILE here")
def test_full_disk_is_an_export_error_naming_the_file(tmp_path: Path, monkeypatch) -> None:
    import errno

    def full(fd: int, data) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    sink = _sink(tmp_path)
    monkeypatch.setattr(dicom_export.os, "write", full)
    with pytest.raises(ExportError, match=r"p/a\.dcm: write failed \(No space left"):
        sink.write("p/a.dcm", b"data", _dataset(), _context())
    assert _names(tmp_path) == []


@pytest.mark.parametrize("unnamed", [True, False], ids=["unnamed-file", "temporary-file"])
def test_streamed_file_is_written_in_one_writev_resuming_short_writes(
        tmp_path: Path, monkeypatch, unnamed: bool) -> None:
    """A :class:`Streamed` file (header, pixel value as read, tail) goes to the file in one
    ``writev`` of its pieces, never joined; a short write resumes mid-piece; the record's size
    and sha256 are those of the joined bytes."""
    import hashlib

    from gantry.dicom.streamed import Streamed

    if not hasattr(os, "writev"):
        pytest.skip("no writev here")
    if unnamed and not dicom_export._UNNAMED_FILES:
        pytest.skip("no O_TMPFILE here")
    monkeypatch.setattr(dicom_export, "_UNNAMED_FILES", unnamed)
    source = bytes(range(256)) * 300
    streamed = Streamed(b"head" + b"\x00\x2c\x01\x00", memoryview(source)[:76800], b"tail!")
    whole = bytes(streamed)
    calls: list[int] = []
    real_write = os.write

    def short_writev(fd: int, buffers: list) -> int:  # at most 1,000 bytes at a time
        calls.append(len(buffers))
        budget, taken = 1000, []
        for buf in buffers:
            piece = bytes(buf[:budget - sum(map(len, taken))])
            taken.append(piece)
            if sum(map(len, taken)) >= budget:
                break
        return real_write(fd, b"".join(taken))

    def no_write(fd: int, data: object) -> int:
        raise AssertionError("a Streamed file is not written piece by piece with write()")

    monkeypatch.setattr(dicom_export, "_WRITEV", short_writev)
    monkeypatch.setattr(dicom_export.os, "write", no_write)
    monkeypatch.setattr(Streamed, "__bytes__", lambda self: pytest.fail("joined"))
    record = _sink(tmp_path).write("p/st/se/a.dcm", streamed, _dataset(), _context())
    assert (tmp_path / "p/st/se/a.dcm").read_bytes() == whole
    assert record.size == len(whole) and record.sha256 == hashlib.sha256(whole).hexdigest()
    assert calls[0] == 3 and len(calls) == -(-len(whole) // 1000)
    assert _names(tmp_path) == ["p/st/se/a.dcm"]
