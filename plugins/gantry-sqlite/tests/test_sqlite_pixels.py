"""The pixel sidecar: format, verification, recovery without the database, compaction."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from gantry_sqlite import pixels as px
from gantry_sqlite.maintenance import compact
from gantry_sqlite.store import SqliteStore, url_for_path

from gantry.errors import StoreError
from gantry.protocols import PixelMeta

pytestmark = pytest.mark.component


def _meta(arr: np.ndarray, **kw: object) -> PixelMeta:
    return PixelMeta(dtype=arr.dtype.name, shape=arr.shape, frames=1, photometric="MONOCHROME2",
                     **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> SqliteStore:
    s = SqliteStore(url_for_path(tmp_path / "cohort.db"))
    yield s
    s.close()


def test_sidecar_sits_next_to_the_database_with_a_file_header(store: SqliteStore) -> None:
    assert store.pixels_path == store.path.with_name("cohort_pixels.bin")
    head = store.pixels_path.read_bytes()[:16]
    assert head[:8] == b"GANTRYPX" and int.from_bytes(head[8:10], "little") == 1


def test_entries_are_self_describing_and_recoverable_without_the_database(
        store: SqliteStore) -> None:
    a = np.arange(3 * 5 * 4, dtype=np.uint16).reshape(3, 5, 4)
    b = np.full((6, 6, 3), 9, dtype=np.uint8)
    store.put_pixels("1.2.3", a, PixelMeta("uint16", a.shape, 3, "MONOCHROME2",
                                           extra={"why": "mask"}))
    store.put_pixels("1.2.4", b, PixelMeta("uint8", b.shape, 1, "RGB", compression="zlib"))
    store.put_pixels("1.2.3", a + 1, _meta(a))  # replaced: the newer entry wins
    store.checkpoint()
    entries = list(px.scan(store.pixels_path))
    assert [e.key for e in entries] == ["1.2.3", "1.2.4", "1.2.3"]
    assert all(e.ok for e in entries)
    first = entries[0].header
    assert first["dtype"] == "<u2" and first["shape"] == [3, 5, 4] and first["frames"] == 3
    assert first["photometric"] == "MONOCHROME2" and first["compression"] == "none"
    assert len(first["sha256"]) == 64 and first["length"] == a.nbytes
    assert entries[1].header["compression"] == "zlib"
    assert entries[1].header["length"] < b.nbytes
    last = entries[2]
    arr, _ = px.read_at(store.pixels_path, last.offset, last.length)
    assert np.array_equal(arr, a + 1)
    got, got_meta = store.get_pixels("1.2.4")
    assert np.array_equal(got, b) and got_meta.compression == "zlib"


def test_a_flipped_byte_is_a_clear_error_naming_file_key_and_offset(store: SqliteStore) -> None:
    a = np.arange(100, dtype=np.int16)
    store.put_pixels("k", a, _meta(a))
    store.checkpoint()
    (entry,) = list(px.scan(store.pixels_path))
    with open(store.pixels_path, "r+b") as fh:
        fh.seek(entry.offset + entry.length - 3)
        byte = fh.read(1)
        fh.seek(-1, os.SEEK_CUR)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(StoreError) as err:
        store.get_pixels("k")
    text = str(err.value)
    assert "cohort_pixels.bin" in text and "'k'" in text and "sha256" in text
    assert f"offset {entry.offset}" in text
    (damaged,) = list(px.scan(store.pixels_path))
    assert not damaged.ok and "sha256" in damaged.error


def test_a_truncated_tail_is_reported_by_scan(store: SqliteStore) -> None:
    a = np.arange(1000, dtype=np.uint16)
    store.put_pixels("k1", a, _meta(a))
    store.put_pixels("k2", a, _meta(a))
    store.checkpoint()
    size = store.pixels_path.stat().st_size
    os.truncate(store.pixels_path, size - 100)
    entries = list(px.scan(store.pixels_path))
    assert [e.ok for e in entries] == [True, False]
    assert "truncated" in entries[1].error
    with pytest.raises(StoreError, match="truncated"):
        store.get_pixels("k2")
    assert np.array_equal(store.get_pixels("k1")[0], a)


def test_a_file_that_is_not_a_sidecar_is_refused(tmp_path: Path) -> None:
    (tmp_path / "x_pixels.bin").write_bytes(b"NOTASIDECAR" * 3)
    with pytest.raises(StoreError, match="not a gantry pixel sidecar"):
        SqliteStore(url_for_path(tmp_path / "x.db"))


def test_compact_keeps_live_entries_and_reports_reclaimed_space(store: SqliteStore) -> None:
    arrays = {f"k{i}": np.full((32, 32), i, dtype=np.uint16) for i in range(5)}
    for key, arr in arrays.items():
        store.put_pixels(key, arr, _meta(arr))
    for key, arr in arrays.items():  # every key rewritten: the first five entries are dead
        store.put_pixels(key, arr + 100, _meta(arr))
    store.checkpoint()
    before = store.pixels_path.stat().st_size
    report = compact(store)
    after = store.pixels_path.stat().st_size
    assert report.entries == 5 and report.bytes_before == before
    assert report.bytes_after == after and report.reclaimed > 5 * 32 * 32 * 2
    for key, arr in arrays.items():
        assert np.array_equal(store.get_pixels(key)[0], arr + 100)
    assert [e.key for e in px.scan(store.pixels_path)] == [f"k{i}" for i in range(5)]
    assert oct(store.pixels_path.stat().st_mode & 0o777) == "0o600"
    store.put_pixels("k9", arrays["k0"], _meta(arrays["k0"]))  # appends keep working
    assert np.array_equal(store.get_pixels("k9")[0], arrays["k0"])


def test_compact_refuses_while_another_session_holds_the_store(store: SqliteStore) -> None:
    other = SqliteStore(store.url)
    try:
        with pytest.raises(StoreError, match="open in another session"):
            compact(store)
    finally:
        other.close()
    compact(store)  # alone again: fine


CRASH = '''
import os, sys
import numpy as np
from gantry.protocols import PixelMeta
from gantry_sqlite import maintenance
from gantry_sqlite.store import SqliteStore

store = SqliteStore(sys.argv[1])
where = sys.argv[2]
if where == "fill":
    for i in range(4):
        a = np.full((16, 16), i, dtype=np.uint16)
        store.put_pixels(f"k{i}", a, PixelMeta("uint16", a.shape, 1, "MONOCHROME2"))
        store.put_pixels(f"k{i}", a + 50, PixelMeta("uint16", a.shape, 1, "MONOCHROME2"))
    store.close()
    sys.exit(0)
real_swap, real_write = maintenance._swap, store._write_tx
calls = []
def crash_before_swap(tmp, target):
    os._exit(9)
def crash_after_swap(tmp, target):
    real_swap(tmp, target)
    os._exit(9)
def crash_in_copy(conn, fn):
    calls.append(fn)
    if where == "copy":
        os._exit(9)
    return real_write(conn, fn)
if where == "before-swap":
    maintenance._swap = crash_before_swap
elif where == "after-swap":
    maintenance._swap = crash_after_swap
else:
    store._write_tx = crash_in_copy
maintenance.compact(store)
'''


@pytest.mark.parametrize("where", ["copy", "before-swap", "after-swap"])
def test_a_crash_during_compaction_leaves_a_consistent_store(tmp_path: Path, where: str) -> None:
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent(CRASH))
    url = url_for_path(tmp_path / "cohort.db")
    subprocess.run([sys.executable, str(script), url, "fill"], check=True, timeout=60)
    size_before = (tmp_path / "cohort_pixels.bin").stat().st_size
    done = subprocess.run([sys.executable, str(script), url, where], timeout=60)
    assert done.returncode == 9
    store = SqliteStore(url)  # recovery runs on open
    try:
        for i in range(4):
            arr, _ = store.get_pixels(f"k{i}")
            assert np.array_equal(arr, np.full((16, 16), i + 50, dtype=np.uint16))
        assert not (tmp_path / "cohort_pixels.bin.compact").exists()
        size_now = store.pixels_path.stat().st_size
        assert size_now < size_before if where == "after-swap" else size_now == size_before
        assert store.sql("SELECT COUNT(*) FROM pixel_relocations").rows.__next__() == (0,)
        report = compact(store)  # and a later compaction completes
        assert report.entries == 4
        assert np.array_equal(store.get_pixels("k3")[0], np.full((16, 16), 53, dtype=np.uint16))
    finally:
        store.close()
