"""Issue 20: no input aborts the run, hangs it, exhausts memory, or is written incomplete.

Every case is built here (``gantry.testing.hostile``), de-identified beside a valid file, and
must end as a rejection with a one-line reason (or, for what is not a file, a listed skip)
while the valid file is still exported.
"""

from __future__ import annotations

import os
import signal
import socket
import zipfile
from pathlib import Path

import pytest

from gantry.dicom.structure import check
from gantry.session import Session
from gantry.testing import hostile

SECRET = bytes(range(32))


class Run:
    """What one ``deidentify`` of a folder did."""

    def __init__(self, root: Path, files: dict[str, bytes], store: str = "memory://") -> None:
        src = root / "in"
        src.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (src / name).write_bytes(data)
        (src / "good.dcm").write_bytes(hostile.valid_file(patient=5))
        self.src, self.out = src, root / "out"
        with _alarm(120), Session(store, workers=1, secret=SECRET) as session:
            self.ingest, self.export = session.deidentify(src, self.out)
            self.rejected = {r.source: r.reason for r in session.store.iter_rejected()
                             if r.stage == "ingest"}
            self.skipped = {r.source: r.reason for r in session.store.iter_rejected()
                            if r.stage == "skipped"}
            self.exports = list(session.store.iter_exports())

    def reasons(self) -> list[str]:
        return list(self.rejected.values())

    def reason_of(self, name: str) -> str:
        found = [reason for source, reason in self.rejected.items() if name in source]
        assert len(found) == 1, (name, self.rejected)
        return found[0]


class _alarm:
    """Fail (instead of hanging the suite) when the block takes more than ``seconds``."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        def hung(*_: object) -> None:
            raise TimeoutError(f"hung for {self.seconds} s")

        self.previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, self.previous)


def _only_good_written(run: Run) -> None:
    assert run.export.done == 1, (run.ingest.errors, run.export.errors)
    assert len(run.exports) == 1
    check(Path(run.exports[0].path).read_bytes()
          if Path(run.exports[0].path).is_absolute() else
          (run.out / run.exports[0].path).read_bytes())


def _cuts() -> list[int]:
    data = hostile.valid_file()
    first_uid = hostile.element_offset(data, 0x00080016)
    pixels = hostile.pixel_offset(data)
    step = max((pixels - first_uid) // 10, 1)
    return [*range(first_uid + 3, pixels, step), pixels + 2, pixels + 8, pixels + 11,
            pixels + 12 + 100, len(data) - 1]


# ----------------------------------------------------------------------- silent data loss
@pytest.mark.parametrize("cut", _cuts())
def test_truncated_file_is_rejected_never_written(tmp_path, cut):
    run = Run(tmp_path, {"cut.dcm": hostile.truncated(hostile.valid_file(), cut)})
    reason = run.reason_of("cut.dcm")
    assert reason.startswith("truncated at byte "), reason
    assert "missing required attribute" not in reason
    _only_good_written(run)


def test_cut_into_the_pixel_data_header_is_rejected(tmp_path):
    run = Run(tmp_path, {"cut.dcm": hostile.cut_into_pixel_header(8)})
    assert run.reason_of("cut.dcm").startswith("truncated at byte ")
    _only_good_written(run)


def test_a_length_past_the_end_of_the_file_is_rejected(tmp_path):
    data = hostile.lying_ut_length(2 * 1024**3)
    assert 9_000 < len(data) < 12_000
    run = Run(tmp_path, {"ut.dcm": data})
    reason = run.reason_of("ut.dcm")
    assert reason.startswith("truncated at byte ") and "2147483648 bytes" in reason
    _only_good_written(run)


def test_a_length_running_into_the_next_elements_is_rejected(tmp_path):
    # found by the fuzzer: the swallowed ReferringPhysicianName was never an identifier,
    # and the reader took up again at a CodeMeaning of the physician's code sequence
    run = Run(tmp_path, {"swallow.dcm": hostile.swallowing_length()})
    reason = run.reason_of("swallow.dcm")
    assert "(0008,0023) DA value of 318 bytes holds a control byte" in reason, reason
    assert "runs into the elements after it" in reason
    _only_good_written(run)


def test_pixel_data_shorter_than_the_image_is_rejected(tmp_path):
    run = Run(tmp_path, {"short.dcm": hostile.short_pixel_data(0.5)})
    reason = run.reason_of("short.dcm")
    assert reason.startswith("truncated at byte ") and "the image needs 2048" in reason
    _only_good_written(run)


def test_unclosed_sequence_is_rejected_at_ingest(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "open.dcm").write_bytes(hostile.unclosed_sequence())
    with Session("memory://", workers=1, secret=SECRET) as session:
        summary = session.ingest(src)
        (reason,) = [r.reason for r in session.store.iter_rejected()]
    assert summary.rejected == 1 and summary.done == 0
    assert reason.startswith("truncated at byte ") and "has no end" in reason


# ----------------------------------------------------------------------------- aborts
@pytest.mark.parametrize("depth", [1000, 20000])
@pytest.mark.parametrize("undefined", [True, False])
def test_deep_nesting_is_rejected_with_a_reason(tmp_path, depth, undefined):
    run = Run(tmp_path, {"deep.dcm": hostile.nested(depth, undefined=undefined)})
    reason = run.reason_of("deep.dcm")
    assert reason.startswith("malformed at byte ") and "nested deeper than 64" in reason
    _only_good_written(run)


def test_nesting_within_the_limit_is_exported(tmp_path):
    run = Run(tmp_path, {"nested.dcm": hostile.nested(20)})
    assert run.rejected == {} and run.export.done == 2


def test_unknown_vr_is_rejected(tmp_path):
    run = Run(tmp_path, {"xx.dcm": hostile.unknown_vr(b"XX")})
    assert run.reason_of("xx.dcm") == "malformed at byte 876: unknown VR 'XX' in (0008,1030)"
    _only_good_written(run)


def test_a_wrong_vr_is_one_reason_at_ingest(tmp_path):
    """Found by the fuzzer: (0010,2154) rewritten as FD escaped the run from the memory store
    (BytesLengthException); now the file is refused once, with one line, at ingest."""
    data = hostile.valid_file()
    pos = hostile.element_offset(data, 0x00102154)
    run = Run(tmp_path, {"fd.dcm": data[:pos + 4] + b"FD" + data[pos + 6:]})
    assert run.reason_of("fd.dcm") == ("malformed at byte 1408: (0010,2154) FD value of 14 "
                                       "bytes is not a multiple of 8")
    assert run.export.failed == 0 and run.export.errors == []
    _only_good_written(run)


def test_an_image_attribute_of_a_text_vr_is_rejected(tmp_path):
    """Found by the fuzzer: BitsAllocated rewritten as PN was written back as text, so the
    output described an image 16 times larger than its pixel data; now refused at ingest."""
    data = hostile.valid_file()
    pos = hostile.element_offset(data, 0x00280100)
    run = Run(tmp_path, {"pn.dcm": data[:pos + 4] + b"PN" + data[pos + 6:]})
    assert run.reason_of("pn.dcm") == (f"malformed at byte {pos}: (0028,0100) has VR PN, not "
                                       "US: the image cannot be read as it is described")
    _only_good_written(run)


@pytest.mark.parametrize("memo", ["1", "0"])
def test_an_overlay_group_without_data_is_removed(tmp_path, monkeypatch, memo):
    """Found by the fuzzer: an overlay group whose Overlay Data was never there kept its
    description (a name in it) where one whose data is removed goes whole; both go whole, on
    the byte pass and on the full pipeline alike."""
    from pydicom import dcmread

    from gantry.testing.factory import make_instance

    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)
    ds = make_instance(patient=3)  # (its overlay group says "Overlay by <surname>")
    description = ds[0x60000022].value.encode()
    del ds[0x60003000]
    run = Run(tmp_path, {"overlay.dcm": hostile.encode(ds)})
    assert run.rejected == {} and run.export.done == 2
    for record in run.exports:
        written = dcmread(run.out / record.path)
        assert not [elem for elem in written if elem.tag >> 16 == 0x6000]
        assert description not in (run.out / record.path).read_bytes()


@pytest.mark.parametrize("value", ["ISO 2022 IR 87", "ISO 2022 IR 159", "NO SUCH CHARSET"])
def test_odd_character_sets_never_abort_the_run(tmp_path, value):
    run = Run(tmp_path, {"cs.dcm": hostile.charset(value)})
    assert run.ingest.done + run.ingest.rejected == 2
    assert all("\n" not in reason for reason in run.reasons())
    assert run.export.done >= 1


def test_zip_with_a_bad_crc_is_rejected(tmp_path):
    run = Run(tmp_path, {"crc.zip": hostile.bad_crc_zip(hostile.valid_file(patient=2))})
    assert run.reason_of("crc.zip").startswith("corrupt zip member (Bad CRC-32")
    _only_good_written(run)


def test_encrypted_zip_is_rejected(tmp_path):
    run = Run(tmp_path, {"enc.zip": hostile.encrypted_zip(hostile.valid_file(patient=2))})
    assert run.reason_of("enc.zip") == "encrypted zip member (password required); not read"
    _only_good_written(run)


def test_truncated_zip_is_not_called_not_dicom(tmp_path):
    members = [("a.dcm", hostile.valid_file(patient=2)), ("b.dcm", hostile.valid_file())]
    run = Run(tmp_path, {"cut.zip": hostile.truncated_zip(members)})
    assert run.reason_of("cut.zip") == ("truncated or corrupt zip archive (its central "
                                        "directory cannot be read)")


def test_zip_members_of_one_name_are_both_read(tmp_path):
    archive = hostile.zip_of([("a.dcm", hostile.valid_file(patient=2)),
                              ("a.dcm", hostile.valid_file(patient=3))])
    run = Run(tmp_path, {"dup.zip": archive})
    assert run.ingest.done == 3 and run.ingest.duplicates == 0
    assert run.export.done == 3


def test_file_name_with_a_latin1_byte_on_sqlite(tmp_path):
    name = os.fsdecode(b"caf\xe9.dcm")
    store = f"sqlite:///{tmp_path / 'store.db'}"
    run = Run(tmp_path, {name: hostile.valid_file(patient=2)}, store=store)
    assert run.export.done == 2 and run.rejected == {}
    with Session(store, workers=1, secret=SECRET) as session:  # the same command resumes
        again = session.deidentify(run.src, run.out)[0]
    assert again.skipped == 2 and again.done == 0


# ---------------------------------------------------------------- the file system walk
def test_only_regular_files_are_opened(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    os.mkfifo(src / "fifo")
    os.symlink("/dev/zero", src / "zero")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "sock"))
        os.symlink("missing-target", src / "dangling")
        os.symlink("loop", src / "loop")
        (src / "sub").mkdir()
        os.symlink("sub", src / "dirlink")
        run = Run(tmp_path, {})
    assert {Path(s).name: r for s, r in run.skipped.items()} == {
        "fifo": "not a regular file (a FIFO); not opened",
        "zero": "not a regular file (a character device); not opened",
        "sock": "not a regular file (a socket); not opened",
        "dirlink": "link to a folder; not followed"}
    assert {Path(s).name: r for s, r in run.rejected.items()} == {
        "dangling": "dangling link (its target 'missing-target' does not exist)",
        "loop": "link loop (the link resolves to itself); not followed"}
    assert run.export.done == 1 and run.ingest.skipped == 4 and run.ingest.rejected == 2


def test_an_unreadable_folder_is_rejected(tmp_path, monkeypatch):
    locked = tmp_path / "in" / "locked"
    locked.mkdir(parents=True)
    (locked / "x.dcm").write_bytes(hostile.valid_file(patient=2))
    if os.geteuid() == 0:  # root reads any folder: make this one fail as it would
        real = os.scandir

        def scandir(path: object = ".") -> object:
            if isinstance(path, str | os.PathLike) and os.fspath(path) == str(locked):
                raise PermissionError(13, "Permission denied", str(path))
            return real(path)  # type: ignore[arg-type]

        monkeypatch.setattr(os, "scandir", scandir)
    else:
        locked.chmod(0)
    try:
        run = Run(tmp_path, {})
    finally:
        locked.chmod(0o755)
    assert run.reason_of("locked") == "cannot read folder (Permission denied)"
    assert run.ingest.rejected == 1 and run.export.done == 1


# ----------------------------------------------------------------- hangs and exhaustion
def test_zip_bomb_is_refused(tmp_path):
    run = Run(tmp_path, {"bomb.zip": hostile.zip_bomb(256 << 20)})
    reason = run.reason_of("bomb.zip")
    assert reason.startswith("zip member inflates to 268435456 bytes from ")
    assert "possible zip bomb" in reason
    _only_good_written(run)


def test_zip_limits_are_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("GANTRY_ZIP_MAX_MEMBER_BYTES", "1000")
    archive = hostile.zip_of([("a.dcm", hostile.valid_file(patient=2))])
    run = Run(tmp_path / "member", {"a.zip": archive})
    assert "limits: 1000 bytes per member" in run.reason_of("a.zip")
    monkeypatch.delenv("GANTRY_ZIP_MAX_MEMBER_BYTES")
    monkeypatch.setenv("GANTRY_ZIP_MAX_TOTAL_BYTES", "4000")
    two = hostile.zip_of([("a.dcm", hostile.valid_file(patient=2)),
                          ("b.dcm", hostile.valid_file(patient=3))])
    run = Run(tmp_path / "total", {"b.zip": two})
    assert run.ingest.done == 2 and run.ingest.rejected == 1
    assert "inflate to more than 4000 bytes in all" in run.reason_of("b.zip!b.dcm")


def test_many_member_zip_opens_the_archive_once(tmp_path, monkeypatch):
    opened = []
    real = zipfile.ZipFile.__init__

    def counting(self: zipfile.ZipFile, file: object, *args: object, **kwargs: object) -> None:
        opened.append(file)
        real(self, file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "__init__", counting)
    members = [(f"m{n:04d}.dcm", hostile.valid_file(instance=n)) for n in range(300)]
    run = Run(tmp_path, {"many.zip": hostile.zip_of(members)})
    assert run.export.done == 301
    archive_opens = [f for f in opened if str(f).endswith("many.zip")]
    assert len(archive_opens) <= 2, len(archive_opens)  # (is_zipfile's probe aside)


@pytest.mark.parametrize("memo", ["1", "0"])
def test_a_file_cut_after_ingest_is_not_exported(tmp_path, monkeypatch, memo):
    monkeypatch.setenv("GANTRY_BYTE_PASS", memo)  # the byte pass, and the full pipeline
    src = tmp_path / "in"
    src.mkdir()
    data = hostile.valid_file(patient=2)
    (src / "a.dcm").write_bytes(data)
    with Session("memory://", workers=1, secret=SECRET) as session:
        assert session.ingest(src).done == 1
        (src / "a.dcm").write_bytes(data[:-100])  # cut since
        summary = session.export(tmp_path / "out")
        assert summary.done == 0 and summary.failed == 1
        (error,) = summary.errors
        assert "truncated at byte " in error and "\n" not in error
        assert list(session.store.iter_exports()) == []
    assert not [p for p in (tmp_path / "out").rglob("*")
                if p.is_file() and not p.name.startswith(("manifest", "."))]
